/**
 * Worker threads that read and decode image files, so that decoding — JavaScript and WebAssembly
 * work of several milliseconds per photo — runs beside the main thread instead of between training
 * steps. Only the pixels come back (transferred, not copied); tensors are made on the main thread.
 * Idle workers do not keep the process alive; close() ends them.
 */
import { Worker } from 'node:worker_threads';

import { BadImageError, type DecodedImage, type ImageLimits } from './decode.js';

interface Pending {
  resolve(image: DecodedImage): void;
  reject(error: Error): void;
  slot: Slot;
}

interface Slot {
  worker: Worker;
  pending: number;
}

type Reply = { id: number; image: DecodedImage; error?: undefined } | { id: number; error: { message: string; path?: string; reason?: string } };

export class DecodePool {
  private slots: Slot[] = [];
  private readonly tasks = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(
    readonly size: number,
    /** The limits each worker decodes under. */
    readonly limits: ImageLimits = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`DecodePool: size must be a positive integer, got ${size}`);
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./decode-worker.js', import.meta.url));
    const slot: Slot = { worker, pending: 0 };
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const task = this.tasks.get(reply.id);
      if (!task) return;
      this.tasks.delete(reply.id);
      if (--slot.pending === 0) worker.unref();
      if (reply.error) {
        const { message, path, reason } = reply.error;
        task.reject(path !== undefined && reason !== undefined ? new BadImageError(path, reason) : new Error(message));
      } else {
        task.resolve(reply.image);
      }
    });
    const fail = (error: Error): void => {
      this.slots = this.slots.filter((s) => s !== slot);
      for (const [id, task] of this.tasks) {
        if (task.slot !== slot) continue;
        this.tasks.delete(id);
        task.reject(new Error(`image decode worker stopped: ${error.message}`));
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  /** Reads and decodes `path` in a worker; rejects with a BadImageError naming the file. */
  decode(path: string): Promise<DecodedImage> {
    if (this.closed) return Promise.reject(new Error('DecodePool: closed'));
    let slot = this.slots.reduce<Slot | undefined>((best, s) => (best === undefined || s.pending < best.pending ? s : best), undefined);
    if (slot === undefined || (slot.pending > 0 && this.slots.length < this.size)) slot = this.spawn();
    const id = this.nextId++;
    if (slot.pending++ === 0) slot.worker.ref();
    const chosen = slot;
    return new Promise<DecodedImage>((resolve, reject) => {
      this.tasks.set(id, { resolve, reject, slot: chosen });
      chosen.worker.postMessage({ id, path, limits: this.limits });
    });
  }

  /** Ends the workers; pending decodes fail. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
