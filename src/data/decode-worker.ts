/**
 * A decode worker (see decode-pool.ts): reads and decodes image files off the main thread and
 * hands the pixels back without copying (the buffer is transferred). Loads no tensor code.
 */
import { parentPort } from 'node:worker_threads';

import { BadImageError, loadImage, type ImageLimits } from './decode.js';

export interface DecodeTask {
  id: number;
  path: string;
  limits: ImageLimits;
}

const port = parentPort;
if (!port) throw new Error('decode-worker.js runs as a worker thread (see DecodePool)');

port.on('message', (task: DecodeTask) => {
  try {
    const image = loadImage(task.path, task.limits);
    let data = image.data;
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
    port.postMessage({ id: task.id, image: { ...image, data } }, [data.buffer as ArrayBuffer]);
  } catch (error) {
    const bad = error instanceof BadImageError ? error : undefined;
    port.postMessage({ id: task.id, error: { message: (error as Error).message, path: bad?.path, reason: bad?.reason } });
  }
});
