/**
 * Fuzz corpus: mutated PNG and JPEG files (from the decoder's test fixtures) through decodeImage,
 * loadImage, inspectImageFile and ImageFolderDataset (verify 'decode', then get()), and mutated
 * IDX files (raw and gzipped) through readIdx and IdxImageDataset.fromFiles. Header mutations
 * rewrite the PNG chunk CRC so the dimensions reach the decoder; a header that claims 20000² or
 * 2^31−1 pixels over a tiny IDAT is a decompression bomb that must be refused, not decoded.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';

import { data, dispose } from 'finetune';

import type { Corpus } from '../fuzz.js';
import { concat, HOSTILE_NUMBERS, mutateBytes, Rng } from '../fuzz-mutate.js';

const FIXTURES = 'test/fixtures/images/decode';
const IMAGES = readdirSync(FIXTURES)
  .sort()
  .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(FIXTURES, name))) }));
const PNGS = IMAGES.filter((image) => image.name.endsWith('.png'));
const JPEGS = IMAGES.filter((image) => image.name.endsWith('.jpg'));

const DIMENSIONS = [0, 1, 20_000, 2 ** 28, 2 ** 31 - 1, 2 ** 32 - 1, 65_535, 65_536];

/** A PNG's IHDR with another width/height (and bit depth / colour type), its CRC recomputed. */
function pngWithHeader(rng: Rng, png: Uint8Array): { bytes: Uint8Array; what: string } {
  const copy = Uint8Array.from(png);
  const view = new DataView(copy.buffer);
  // Signature (8), length (4), "IHDR" (4), then width, height, depth, colour type, …; CRC after the 13 data bytes.
  const width = rng.pick(DIMENSIONS);
  const height = rng.pick(DIMENSIONS);
  view.setUint32(16, width);
  view.setUint32(20, height);
  let what = `PNG IHDR ${width}×${height}`;
  if (rng.chance(0.3)) {
    copy[24] = rng.pick([0, 1, 3, 7, 16, 255]);
    copy[25] = rng.pick([0, 1, 5, 7, 255]);
    what += ` depth ${copy[24]} colour type ${copy[25]}`;
  }
  view.setUint32(29, crc32(copy.subarray(12, 29)));
  return { bytes: copy, what };
}

/** A JPEG's first SOF marker with another height/width. */
function jpegWithHeader(rng: Rng, jpeg: Uint8Array): { bytes: Uint8Array; what: string } {
  const copy = Uint8Array.from(jpeg);
  for (let i = 2; i + 9 < copy.length; i++) {
    if (copy[i] === 0xff && (copy[i + 1] === 0xc0 || copy[i + 1] === 0xc1 || copy[i + 1] === 0xc2)) {
      const view = new DataView(copy.buffer);
      const height = rng.pick([0, 1, 20_000, 65_535]);
      const width = rng.pick([0, 1, 20_000, 65_535]);
      view.setUint16(i + 5, height);
      view.setUint16(i + 7, width);
      return { bytes: copy, what: `JPEG SOF ${width}×${height}` };
    }
  }
  return { bytes: copy, what: 'JPEG without SOF (unchanged)' };
}

function idxFile(dtypeCode: number, shape: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * shape.length));
  header.setUint8(2, dtypeCode);
  header.setUint8(3, shape.length);
  shape.forEach((n, d) => header.setUint32(4 + 4 * d, n));
  return concat(new Uint8Array(header.buffer), data);
}

/** A valid 4-image 5×5 IDX pair (uint8), one of them mutated. */
function idxPair(rng: Rng): { images: Uint8Array; labels: Uint8Array; what: string; mutated: 'images' | 'labels' } {
  const images = idxFile(0x08, [4, 5, 5], Uint8Array.from({ length: 100 }, (_, i) => i));
  const labels = idxFile(0x08, [4], Uint8Array.of(0, 1, 2, 1));
  const mutated = rng.chance(0.7) ? 'images' : 'labels';
  const target = mutated === 'images' ? images : labels;
  let bytes: Uint8Array;
  let what: string;
  if (rng.chance(0.5)) {
    ({ bytes, what } = mutateBytes(rng, target, 0, 16));
  } else {
    bytes = Uint8Array.from(target);
    const view = new DataView(bytes.buffer);
    const at = 4 + 4 * rng.int(mutated === 'images' ? 3 : 1);
    const value = rng.pick([...DIMENSIONS, ...HOSTILE_NUMBERS.filter((n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32)]);
    view.setUint32(at, value);
    what = `dimension at byte ${at} = ${value}`;
    if (rng.chance(0.3)) {
      bytes[2] = rng.pick([0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0xff]);
      what += `, type code 0x${bytes[2]!.toString(16)}`;
    }
  }
  if (rng.chance(0.3)) {
    bytes = gzipSync(bytes);
    what += ', gzipped';
  }
  return mutated === 'images' ? { images: bytes, labels, what: `images ${what}`, mutated } : { images, labels: bytes, what: `labels ${what}`, mutated };
}

export const corpus: Corpus = {
  name: 'image',
  defaultCount: 200,
  timeoutMs: 8000,
  make(seed, index, dir) {
    const rng = new Rng(seed, index);
    if (index % 4 === 3) {
      const { images, labels, what, mutated } = idxPair(rng);
      const imagesPath = join(dir, 'fuzz-images-idx3-ubyte');
      const labelsPath = join(dir, 'fuzz-labels-idx1-ubyte');
      writeFileSync(imagesPath, images);
      writeFileSync(labelsPath, labels);
      return {
        what: `IDX ${what}`,
        names: [mutated === 'images' ? 'fuzz-images-idx3-ubyte' : 'fuzz-labels-idx1-ubyte'],
        run: () => {
          const dataset = data.IdxImageDataset.fromFiles(imagesPath, labelsPath);
          for (let i = 0; i < dataset.length; i++) dispose(dataset.get(i));
        },
      };
    }
    // Mostly PNGs: a corrupt JPEG costs the decoders up to ~0.8 s, a corrupt PNG milliseconds.
    const base = rng.pick(rng.chance(0.75) ? PNGS : JPEGS);
    const isPng = base.name.endsWith('.png');
    const choice = rng.int(3);
    const { bytes, what } = choice === 0 ? (isPng ? pngWithHeader(rng, base.bytes) : jpegWithHeader(rng, base.bytes)) : mutateBytes(rng, base.bytes, 0, choice === 1 ? Math.min(base.bytes.length, 64) : base.bytes.length);
    const file = `fuzz-${index}${isPng ? '.png' : '.jpg'}`;
    const reader = rng.pick(['decodeImage', 'loadImage', 'inspectImageFile', 'ImageFolderDataset'] as const);
    const classDir = join(dir, 'root', 'cat');
    mkdirSync(classDir, { recursive: true });
    const path = join(classDir, file);
    writeFileSync(path, bytes);
    return {
      what: `${reader} ${base.name}: ${what}`,
      names: [file],
      run: () => {
        if (reader === 'decodeImage') data.decodeImage(bytes, file);
        else if (reader === 'loadImage') data.loadImage(path);
        else if (reader === 'inspectImageFile') data.inspectImageFile(path);
        else {
          const dataset = data.ImageFolderDataset.fromFolder(join(dir, 'root'), { verify: 'decode' });
          dispose(dataset.get(0));
        }
      },
    };
  },
};
