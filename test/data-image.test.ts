// Image data: IDX files (synthetic and Debian's Fashion-MNIST), PNG/JPEG decoding against PIL,
// the image folder (class order, bad files) and transforms against torchvision.
// test/fixtures/images/ comes from tools/gen_image_fixtures.py (PIL 12 / torchvision 0.28).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

import { data, dispose, fromTypedArray, memory, tidy, type Tensor } from 'finetune';

const { transforms: T } = data;

const FIXTURES = new URL('../../../test/fixtures/images/', import.meta.url);
const fixturePath = (name: string): string => new URL(name, FIXTURES).pathname;
const dir = mkdtempSync(join(tmpdir(), 'finetune-data-image-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ---- IDX -------------------------------------------------------------------------------------

/** An IDX file's bytes: header + big-endian data. */
function idxBytes(typeCode: number, shape: number[], values: number[], bytesPer = 1): Uint8Array {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = typeCode;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const body = Buffer.alloc(values.length * bytesPer);
  values.forEach((v, i) => {
    if (typeCode === 0x08) body.writeUInt8(v, i);
    else if (typeCode === 0x09) body.writeInt8(v, i);
    else if (typeCode === 0x0b) body.writeInt16BE(v, 2 * i);
    else if (typeCode === 0x0c) body.writeInt32BE(v, 4 * i);
    else if (typeCode === 0x0d) body.writeFloatBE(v, 4 * i);
    else body.writeDoubleBE(v, 8 * i);
  });
  return Buffer.concat([header, body]);
}

function writeFile(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

test('readIdx: uint8, int8, int16, int32, float32, float64; raw and gzip', () => {
  const images = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 11) % 256);
  const raw = writeFile('idx/images-idx3-ubyte', idxBytes(0x08, [2, 3, 4], images));
  const gz = writeFile('idx/images-idx3-ubyte.gz', gzipSync(idxBytes(0x08, [2, 3, 4], images)));
  for (const path of [raw, gz]) {
    const idx = data.readIdx(path);
    assert.equal(idx.dtype, 'uint8');
    assert.deepEqual(idx.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(idx.data), images);
  }
  const cases: [number, number, number[], string][] = [
    [0x09, 1, [-128, -1, 0, 127], 'int8'],
    [0x0b, 2, [-32768, -2, 300, 32767], 'int16'],
    [0x0c, 4, [-2147483648, -5, 70000, 2147483647], 'int32'],
    [0x0d, 4, [-1.5, 0.25, 3, 1e20], 'float32'],
    [0x0e, 8, [-1.5, 0.1, Math.PI, 1e300], 'float64'],
  ];
  for (const [code, bytes, values, dtype] of cases) {
    const idx = data.parseIdx(idxBytes(code, [2, 2], values, bytes), dtype);
    assert.equal(idx.dtype, dtype);
    assert.deepEqual(idx.shape, [2, 2]);
    assert.deepEqual(Array.from(idx.data), dtype === 'float32' ? values.map(Math.fround) : values);
  }
});

test('readIdx: corrupt files fail with the file name and what is wrong', () => {
  const good = idxBytes(0x08, [2, 3], [1, 2, 3, 4, 5, 6]);
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x50;
  badMagic[1] = 0x4b;
  const badType = Buffer.from(good);
  badType[2] = 0x07;
  const cases: [string, Uint8Array, RegExp][] = [
    ['bad-magic', badMagic, /bad-magic: bad magic number 0x504b0802.*not an IDX file/],
    ['bad-type', badType, /bad-type: unknown IDX data type code 0x07/],
    ['short', good.subarray(0, 3), /short: too short for an IDX header: 3 bytes/],
    [
      'truncated-header',
      good.subarray(0, 9),
      /truncated-header: truncated IDX header: 2 dimensions need 12 bytes, the file has 9/,
    ],
    [
      'truncated-data',
      good.subarray(0, good.length - 2),
      /truncated-data: truncated IDX file: shape \[2,3\] of uint8 needs 6 data bytes, the file has 4/,
    ],
    [
      'wrong-dims',
      idxBytes(0x08, [2, 2], [1, 2, 3, 4, 5, 6]),
      /wrong-dims: IDX file has 2 bytes beyond the data of shape \[2,2\]/,
    ],
    ['zero-dims', Buffer.from([0, 0, 8, 0]), /zero-dims: IDX header declares 0 dimensions/],
    ['bad.gz', gzipSync(good).subarray(0, 12), /bad\.gz: corrupt or truncated gzip data/],
    [
      'truncated-in-gzip.gz',
      gzipSync(good.subarray(0, good.length - 1)),
      /truncated-in-gzip\.gz: truncated IDX file.*\(after gunzip\)/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    const path = writeFile(`corrupt/${name}`, bytes);
    assert.throws(
      () => data.readIdx(path),
      (e: Error) => message.test(e.message) && e.message.includes(path),
      name,
    );
  }
  assert.throws(() => data.readIdx(join(dir, 'missing-idx')), /missing-idx: cannot read the IDX file: ENOENT/);
});

test('IdxImageDataset: examples, class names, transform and mismatched files', () => {
  const n = 5;
  const pixels = Array.from({ length: n * 4 * 3 }, (_, i) => (i * 7) % 256);
  const images = writeFile('ds/images', idxBytes(0x08, [n, 4, 3], pixels));
  const labels = writeFile('ds/labels.gz', gzipSync(idxBytes(0x08, [n], [3, 0, 2, 3, 1])));
  const before = memory().numTensors;
  const ds = data.IdxImageDataset.fromFiles(images, labels);
  assert.equal(ds.length, n);
  assert.deepEqual(ds.classNames, ['0', '1', '2', '3']);
  assert.deepEqual(Array.from(ds.targets), [3, 0, 2, 3, 1]);
  const { image, label } = ds.get(2);
  assert.equal(label, 2);
  assert.deepEqual(image.shape, [4, 3, 1]);
  assert.equal(image.dtype, 'uint8');
  assert.deepEqual(Array.from(image.data() as Uint8Array), pixels.slice(24, 36));
  image.dispose();

  const named = data.IdxImageDataset.fromFiles(images, labels, {
    classNames: ['a', 'b', 'c', 'd'],
    transform: T.compose([T.toTensor(), T.normalize([0.5], [0.5])]),
  });
  const example = named.get(0);
  assert.deepEqual(example.image.shape, [1, 4, 3]);
  assert.equal(example.image.dtype, 'float32');
  assert.ok(Math.abs((example.image.data()[1] as number) - (7 / 255 - 0.5) / 0.5) < 1e-6);
  assert.equal(named.classNames[example.label], 'd');
  example.image.dispose();
  assert.equal(memory().numTensors, before, 'the transform frees its intermediates');

  assert.throws(
    () => data.IdxImageDataset.fromFiles(images, labels, { classNames: ['a', 'b'] }),
    /labels\.gz: label 3 but only 2 class names were given/,
  );
  const fewLabels = writeFile('ds/few-labels', idxBytes(0x08, [4], [0, 1, 2, 3]));
  assert.throws(
    () => data.IdxImageDataset.fromFiles(images, fewLabels),
    (e: Error) => e.message === `${images} has 5 images but ${fewLabels} has 4 labels`,
  );
  const flatImages = writeFile('ds/flat', idxBytes(0x08, [n, 12], pixels));
  assert.throws(
    () => data.IdxImageDataset.fromFiles(flatImages, labels),
    /flat: images must have 3 dimensions \(count, height, width\) or 4 .*shape \[5,12\]/,
  );
  const matrixLabels = writeFile('ds/matrix-labels', idxBytes(0x08, [n, 1], [0, 1, 2, 3, 4]));
  assert.throws(
    () => data.IdxImageDataset.fromFiles(images, matrixLabels),
    /matrix-labels: labels must have 1 dimension, this file has shape \[5,1\]/,
  );
  assert.throws(() => ds.get(5), /index 5 is out of range \[0, 5\)/);
});

test('fashionMnist(): a clear error when the files are missing', () => {
  assert.throws(
    () => data.fashionMnist({ root: join(dir, 'nowhere') }),
    /Fashion-MNIST not found: no .*nowhere\/train-images-idx3-ubyte\.gz .*install the Debian package dataset-fashion-mnist/,
  );
  assert.throws(() => data.fashionMnist({ split: 'validation' as 'train' }), /split must be 'train' or 'test'/);
});

const debianFashion = existsSync(join(data.FASHION_MNIST_DEBIAN_DIR, 't10k-images-idx3-ubyte.gz'));
test(
  'fashionMnist(): reads the Debian package (dataset-fashion-mnist)',
  {
    skip: debianFashion
      ? false
      : `Debian's dataset-fashion-mnist is not installed (${data.FASHION_MNIST_DEBIAN_DIR}); npm run setup installs it`,
  },
  () => {
    const testSet = data.fashionMnist({ split: 'test', root: data.FASHION_MNIST_DEBIAN_DIR });
    assert.equal(testSet.length, 10000);
    assert.deepEqual([testSet.height, testSet.width, testSet.channels], [28, 28, 1]);
    assert.deepEqual(testSet.classNames, [
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ]);
    // The first test images are an ankle boot, a pullover and a trouser; 1,000 images per class.
    assert.deepEqual(Array.from(testSet.targets.subarray(0, 3)), [9, 2, 1]);
    const counts = new Array(10).fill(0);
    for (const label of testSet.targets) counts[label]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    const { image } = testSet.get(0);
    assert.deepEqual(image.shape, [28, 28, 1]);
    const pixels = image.data() as Uint8Array;
    assert.ok(pixels.some((v) => v > 200) && pixels[0] === 0, 'a dark background with a bright object');
    image.dispose();
    const train = data.fashionMnist({ split: 'train' });
    assert.equal(train.length, 60000);
    assert.equal(train.targets[0], 9);
  },
);

// ---- decoding --------------------------------------------------------------------------------

interface DecodeRef {
  mode: string;
  height: number;
  width: number;
  rgb: number[];
}
const decodeRefs = JSON.parse(readFileSync(fixturePath('decode.json'), 'utf8')).images as Record<string, DecodeRef>;

test('PNG decoding matches PIL convert("RGB") exactly (L, LA, P+tRNS, RGB, colour key, RGBA, interlaced)', () => {
  for (const [name, ref] of Object.entries(decodeRefs)) {
    if (!name.endsWith('.png') || name === 'gray16.png') continue;
    const image = data.loadImage(fixturePath(`decode/${name}`));
    assert.deepEqual([image.height, image.width, image.channels], [ref.height, ref.width, 3], name);
    assert.deepEqual(Array.from(image.data), ref.rgb, name);
  }
  // 16-bit: PIL clips I;16 to 0..255 in convert('RGB'); we scale to 8 bits (documented).
  const gray16 = data.loadImage(fixturePath('decode/gray16.png'));
  assert.deepEqual([gray16.height, gray16.width], [9, 13]);
});

test('JPEG decoding (libjpeg-turbo in WebAssembly) matches PIL exactly; CMYK (jpeg-js) closely', () => {
  for (const [name, ref] of Object.entries(decodeRefs)) {
    if (!name.endsWith('.jpg')) continue;
    const image = data.loadImage(fixturePath(`decode/${name}`));
    assert.deepEqual([image.height, image.width, image.channels], [ref.height, ref.width, 3], name);
    let maxDiff = 0;
    let sumDiff = 0;
    image.data.forEach((v, i) => {
      const d = Math.abs(v - ref.rgb[i]);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
    });
    const meanDiff = sumDiff / image.data.length;
    if (process.env.SHOW_DIFFS) console.log(name, maxDiff, meanDiff);
    if (name === 'jpeg-cmyk.jpg')
      assert.ok(maxDiff <= 2 && meanDiff < 0.5, `${name}: max ${maxDiff}, mean ${meanDiff.toFixed(3)}`);
    else assert.equal(maxDiff, 0, `${name}: max ${maxDiff}, mean ${meanDiff.toFixed(3)}`);
  }
});

test('decodeImage: not an image, truncated and corrupt data name the file', () => {
  const png = readFileSync(fixturePath('decode/rgb.png'));
  const jpg = readFileSync(fixturePath('decode/jpeg-420.jpg'));
  assert.throws(
    () => data.decodeImage(Buffer.from('hello'), 'a.png'),
    (e: Error) => e instanceof data.BadImageError && /^a\.png: not a PNG or JPEG image/.test(e.message),
  );
  assert.throws(() => data.decodeImage(png.subarray(0, png.length - 40), 'cut.png'), {
    message: 'cut.png: truncated PNG (the file does not end with an IEND chunk)',
  });
  assert.throws(() => data.decodeImage(jpg.subarray(0, 300), 'cut.jpg'), /cut\.jpg: cannot decode JPEG/);
  assert.throws(() => data.decodeImage(jpg.subarray(0, jpg.length - 200), 'cut2.jpg'), /cut2\.jpg: cannot decode JPEG/);
  // The decoder is usable after an error.
  assert.equal(data.decodeImage(jpg, 'ok.jpg').width, 32);
});

// ---- the image folder --------------------------------------------------------------------------

function pngBytes(width: number, height: number, seed: number, colorType: 0 | 2 | 6 = 2): Uint8Array {
  const png = new pngjs.PNG({ width, height, colorType, inputColorType: 6 } as pngjs.PNGOptions);
  for (let i = 0; i < width * height * 4; i++) png.data[i] = (i * 31 + seed * 17) % 256;
  return pngjs.PNG.sync.write(png, { colorType, inputColorType: 6 } as pngjs.PNGOptions);
}

function jpegBytes(width: number, height: number, seed: number): Uint8Array {
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (Math.floor(i / 4) * 3 + seed * 40 + (i % 4) * 60) % 256;
  return jpeg.encode({ data: rgba, width, height }, 90).data;
}

function makeFolder(name: string, files: Record<string, Uint8Array | string>): string {
  const root = join(dir, name);
  for (const [path, bytes] of Object.entries(files)) writeFile(join(name, path), bytes);
  return root;
}

test('ImageFolderDataset: classes sorted by code point, files in sorted(os.walk()) order, hidden ignored', () => {
  const root = makeFolder('folder-order', {
    'b/2.png': pngBytes(5, 4, 1),
    'b/10.jpg': jpegBytes(6, 3, 2),
    'b/sub/x.PNG': pngBytes(2, 2, 3, 0),
    'b/sub b/y.png': pngBytes(2, 2, 4, 6),
    'a/z.jpeg': jpegBytes(4, 4, 5),
    'Zebra/q.png': pngBytes(3, 3, 6),
    '.ipynb_checkpoints/c.png': pngBytes(3, 3, 7),
    'a/.hidden.png': 'not read',
  });
  writeFile('folder-order/README.txt', 'files at the root are not classes');
  const ds = data.ImageFolderDataset.fromFolder(root);
  assert.deepEqual(ds.classNames, ['Zebra', 'a', 'b']);
  assert.deepEqual(
    ds.samples.map((s) => [s.path.slice(root.length + 1), s.label]),
    // sorted(os.walk()) sorts by folder path: 'b/sub' before 'b/sub b'.
    [
      ['Zebra/q.png', 0],
      ['a/z.jpeg', 1],
      ['b/10.jpg', 2],
      ['b/2.png', 2],
      ['b/sub/x.PNG', 2],
      ['b/sub b/y.png', 2],
    ],
  );
  assert.equal(ds.classToIndex.get('b'), 2);
  assert.deepEqual(Array.from(ds.targets), [0, 1, 2, 2, 2, 2]);
  assert.equal(ds.skippedCount, 0);
  const before = memory().numTensors;
  const { image, label } = ds.get(2);
  assert.equal(label, 2);
  assert.deepEqual(image.shape, [3, 6, 3]);
  assert.equal(image.dtype, 'uint8');
  image.dispose();
  const gray = ds.get(4).image; // a grayscale PNG becomes RGB
  const g = gray.data() as Uint8Array;
  assert.ok(g[0] === g[1] && g[1] === g[2]);
  gray.dispose();
  assert.equal(memory().numTensors, before);
});

test('ImageFolderDataset: transform, getAsync and setEpoch-seeded augmentation', async () => {
  const root = makeFolder('folder-transform', { 'cat/1.png': pngBytes(8, 6, 1), 'dog/1.jpg': jpegBytes(9, 7, 2) });
  const ds = data.ImageFolderDataset.fromFolder(root, {
    transform: T.compose([
      T.toTensor(),
      T.randomResizedCrop(4, { seed: 3 }),
      T.normalize(data.IMAGENET_MEAN, data.IMAGENET_STD),
    ]),
  });
  const before = memory().numTensors;
  const a = ds.get(1);
  const b = await ds.getAsync(1);
  assert.deepEqual(a.image.shape, [3, 4, 4]);
  assert.deepEqual(a.image.toArray(), b.image.toArray(), 'the same (epoch, index) → the same crop');
  ds.setEpoch(1);
  const c = ds.get(1);
  assert.notDeepEqual(a.image.toArray(), c.image.toArray(), 'another epoch → another crop');
  ds.setEpoch(0);
  const d = ds.get(1);
  assert.deepEqual(a.image.toArray(), d.image.toArray(), 'epoch 0 replays');
  for (const e of [a, b, c, d]) e.image.dispose();
  assert.equal(memory().numTensors, before);
});

test('ImageFolderDataset: bad files are errors naming each file, or skipped and counted', () => {
  const png = pngBytes(6, 5, 1);
  const jpg = jpegBytes(16, 16, 2);
  const root = makeFolder('folder-bad', {
    'cat/good.png': png,
    'cat/notes.txt': 'not an image',
    'cat/truncated.png': png.subarray(0, png.length - 20),
    'dog/good.jpg': jpg,
    'dog/truncated.jpg': jpg.subarray(0, Math.floor(jpg.length / 2)),
    'dog/text.jpg': 'hello, not a JPEG',
    'dog/empty.png': '',
    'dog/jpeg-named.png': jpg, // decoded by content, as PIL does
  });
  symlinkSync(join(root, 'cat', 'does-not-exist.png'), join(root, 'cat', 'dangling.png'));
  let message = '';
  assert.throws(
    () => data.ImageFolderDataset.fromFolder(root),
    (e: Error) => ((message = e.message), true),
  );
  for (const [file, reason] of [
    ['cat/notes.txt', "not an image file: extension '.txt'"],
    ['cat/truncated.png', 'truncated PNG'],
    ['cat/dangling.png', 'cannot read: ENOENT'],
    ['dog/truncated.jpg', 'truncated JPEG'],
    ['dog/text.jpg', 'not a PNG or JPEG image'],
    ['dog/empty.png', 'empty file'],
  ]) {
    assert.ok(message.includes(`${join(root, file)}: ${reason}`), `${file} (${reason}) in:\n${message}`);
  }
  assert.match(message, /6 bad files/);
  assert.match(message, /onBadFile: 'skip'/);

  const ds = data.ImageFolderDataset.fromFolder(root, { onBadFile: 'skip' });
  assert.equal(ds.length, 3);
  assert.equal(ds.skippedCount, 6);
  assert.deepEqual(
    ds.samples.map((s) => s.path.slice(root.length + 1)),
    ['cat/good.png', 'dog/good.jpg', 'dog/jpeg-named.png'],
  );
  assert.deepEqual(ds.get(2).image.shape, [16, 16, 3]);

  // verify: 'none' lists only; the bad file fails when it is read, naming it.
  const lazy = data.ImageFolderDataset.fromFolder(root, { verify: 'none', onBadFile: 'skip' });
  assert.equal(lazy.length, 8);
  const truncatedJpeg = lazy.samples.findIndex((s) => s.path.endsWith('truncated.jpg'));
  assert.throws(
    () => lazy.get(truncatedJpeg),
    (e: Error) => e instanceof data.BadImageError && e.message.startsWith(join(root, 'dog/truncated.jpg')),
  );

  // verify: 'decode' also catches corrupt image data with an intact frame.
  const corrupt = Buffer.from(jpg);
  const scan = corrupt.indexOf(Buffer.from([0xff, 0xda]));
  for (let i = scan + 20; i < corrupt.length - 2; i++) corrupt[i] = 0xff;
  const root2 = makeFolder('folder-corrupt', { 'a/ok.png': png, 'a/corrupt.jpg': corrupt });
  assert.equal(
    data.ImageFolderDataset.fromFolder(root2, { onBadFile: 'skip' }).length,
    2,
    'the header check passes it',
  );
  const decoded = data.ImageFolderDataset.fromFolder(root2, { verify: 'decode', onBadFile: 'skip' });
  assert.equal(decoded.length, 1);
  assert.match(decoded.skipped[0].reason, /cannot decode JPEG/);
});

test('ImageFolderDataset: decodeWorkers decode in worker threads, with the same pixels and errors', async () => {
  const root = makeFolder('folder-workers', {
    'a/1.png': pngBytes(7, 5, 1),
    'a/2.jpg': jpegBytes(12, 9, 2),
    'b/3.png': pngBytes(4, 4, 3, 0),
    'b/4.jpg': jpegBytes(8, 8, 4),
    'b/5.png': 'broken',
  });
  const ds = data.ImageFolderDataset.fromFolder(root, { decodeWorkers: 2, verify: 'none', transform: T.toTensor() });
  try {
    const results = await Promise.all([0, 1, 2, 3].map((i) => ds.getAsync(i)));
    results.forEach((r, i) => {
      const direct = ds.get(i);
      assert.equal(r.label, direct.label);
      assert.deepEqual(
        Array.from(r.image.data() as Float32Array),
        Array.from(direct.image.data() as Float32Array),
        `image ${i}`,
      );
      dispose([r, direct]);
    });
    await assert.rejects(
      ds.getAsync(4),
      (e: Error) =>
        e instanceof data.BadImageError &&
        e.message.startsWith(join(root, 'b/5.png')) &&
        /not a PNG or JPEG/.test(e.message),
    );
    const loader = new data.DataLoader(new data.Subset(ds, [0, 2]), { batchSize: 1 });
    const labels: number[] = [];
    for await (const batch of loader) labels.push(Number(batch.label.item()));
    assert.deepEqual(labels, [0, 1]);
  } finally {
    await ds.close();
  }
});

test('ImageFolderDataset: folders without classes or valid images', () => {
  const empty = makeFolder('folder-empty', { 'loose.png': pngBytes(2, 2, 1) });
  assert.throws(() => data.ImageFolderDataset.fromFolder(empty), /no class sub-folders/);
  const noImages = makeFolder('folder-no-images', { 'a/1.png': pngBytes(2, 2, 1), 'b/readme.txt': 'x' });
  assert.throws(
    () => data.ImageFolderDataset.fromFolder(noImages, { onBadFile: 'skip' }),
    /no valid image in the class folder 'b'/,
  );
  assert.throws(() => data.ImageFolderDataset.fromFolder(join(dir, 'absent')), /cannot read it: ENOENT/);
});

// ---- transforms vs torchvision ---------------------------------------------------------------

interface Case {
  op: string;
  args: Record<string, any>;
  shape: number[];
  values: number[];
}
const ref = JSON.parse(readFileSync(fixturePath('transforms.json'), 'utf8')) as {
  input: { shape: number[]; values: number[] };
  cases: Case[];
};

function maxAbsDiff(t: Tensor, values: number[]): number {
  const got = t.data() as Float32Array;
  assert.equal(got.length, values.length);
  let max = 0;
  got.forEach((v, i) => (max = Math.max(max, Math.abs(v - Math.fround(values[i])))));
  return max;
}

test('transforms match torchvision.transforms.v2 on float tensors', () => {
  const before = memory().numTensors;
  tidy(() => {
    const x = fromTypedArray(Float32Array.from(ref.input.values), ref.input.shape);
    for (const c of ref.cases) {
      const a = c.args;
      let out: Tensor;
      switch (c.op) {
        case 'resize':
          out = T.resize(a.size, { antialias: a.antialias, maxSize: a.maxSize })(x);
          break;
        case 'centerCrop':
          out = T.centerCrop(a.size)(x);
          break;
        case 'resizedCrop':
          out = T.resizedCropImage(x, a.top, a.left, a.height, a.width, a.size, { antialias: a.antialias });
          break;
        case 'hflip':
          out = T.hflipImage(x);
          break;
        case 'normalize':
          out = T.normalize(a.mean, a.std)(x);
          break;
        case 'pipeline': {
          const pipeline = T.compose<Tensor, Tensor>([
            T.toTensor(),
            T.resize(a.resize),
            T.centerCrop(a.crop),
            T.normalize(a.mean, a.std),
          ]);
          out = pipeline(data.imageTensor(data.loadImage(fixturePath(a.file))));
          break;
        }
        default:
          throw new Error(c.op);
      }
      assert.deepEqual(out.shape, c.shape, `${c.op} ${JSON.stringify(a)}`);
      const diff = maxAbsDiff(out, c.values);
      // The same libtorch kernels: resize and crops are bit-identical; normalisation differs by
      // float32 rounding (measured 1.2e-7 alone, 7.5e-7 after the whole pipeline).
      if (process.env.SHOW_DIFFS) console.log(c.op, JSON.stringify(a), diff);
      const tolerance = c.op === 'normalize' || c.op === 'pipeline' ? 2e-6 : 0;
      assert.ok(diff <= tolerance, `${c.op} ${JSON.stringify(a)}: max |Δ| ${diff}`);
    }
  });
  assert.equal(memory().numTensors, before);
});

test('resize: torchvision output sizes; uint8 images round back to uint8; transforms never return their input', () => {
  assert.deepEqual(T.resizeOutputSize(480, 640, 256), [256, 341]);
  assert.deepEqual(T.resizeOutputSize(640, 480, 256), [341, 256]);
  assert.deepEqual(T.resizeOutputSize(333, 333, 224), [224, 224]);
  assert.deepEqual(T.resizeOutputSize(100, 1000, 50, 300), [30, 300]);
  assert.deepEqual(T.resizeOutputSize(10, 20, [3, 4]), [3, 4]);
  assert.throws(() => T.resize(0), /resize size must be a positive integer/);
  tidy(() => {
    const x = fromTypedArray(
      Uint8Array.from({ length: 2 * 8 * 6 }, (_, i) => (i * 5) % 256),
      [2, 8, 6],
      { dtype: 'uint8' },
    );
    const y = T.resizeImage(x, [4, 3]);
    assert.equal(y.dtype, 'uint8');
    const expected = T.resizeImage(x.float(), [4, 3]).round().clamp(0, 255);
    assert.deepEqual(Array.from(y.data() as Uint8Array), Array.from(expected.data() as Float32Array));
    const same = T.resize([8, 6])(x);
    assert.notEqual(same, x);
    x.dispose();
    assert.equal(same.shape[1], 8, 'the view survives its source');
    const hwc = fromTypedArray(Uint8Array.from([0, 255, 51, 102]), [2, 2, 1], { dtype: 'uint8' });
    assert.deepEqual(Array.from(T.toTensor()(hwc).data() as Float32Array), [0, 1, 0.2, 0.4].map(Math.fround));
    assert.deepEqual(T.toRgb()(T.toTensor()(hwc)).shape, [3, 2, 2]);
    // Grayscale: PIL's luma (0.299 R + 0.587 G + 0.114 B); alpha dropped; one channel unchanged
    const rgba = fromTypedArray(Float32Array.from([1, 0, 0.5, 0, 1, 0.5, 0, 0, 0.5, 9, 9, 9]), [4, 1, 3]);
    assert.deepEqual(
      Array.from(T.toGrayscale()(rgba).data() as Float32Array),
      [0.299 + 0.114 * 0, 0.587, 0.5 * (0.299 + 0.587 + 0.114)].map(Math.fround),
    );
    assert.deepEqual(T.toGrayscale()(T.toTensor()(hwc)).shape, [1, 2, 2]);
    assert.throws(
      () => T.toGrayscale()(fromTypedArray(new Float32Array(8), [2, 2, 2])),
      /cannot make grayscale from 2 channels/,
    );
    assert.throws(() => T.toTensor()(hwc.float()), /toTensor: expected a uint8/);
    assert.throws(() => T.normalize([0.5], [0])(hwc.float()), /std evaluated to zero/);
  });
});

test('randomResizedCrop and randomHorizontalFlip: seeded, within torchvision bounds', () => {
  const rng = data.mulberry32(1);
  for (let k = 0; k < 200; k++) {
    const [top, left, h, w] = T.randomResizedCropParams(300, 400, [0.08, 1], [3 / 4, 4 / 3], rng);
    assert.ok(h > 0 && w > 0 && top >= 0 && left >= 0 && top + h <= 300 && left + w <= 400);
    assert.ok((h * w) / 120000 >= 0.079 && w / h >= 0.74 && w / h <= 1.34, `${h}×${w}`);
  }
  // Impossible ratios fall back to a central crop at the nearest allowed ratio.
  assert.deepEqual(T.randomResizedCropParams(10, 100, [0.9, 1], [1, 1], data.mulberry32(2)), [0, 45, 10, 10]);
  tidy(() => {
    const x = fromTypedArray(
      Float32Array.from({ length: 3 * 12 * 16 }, (_, i) => i),
      [3, 12, 16],
    );
    const a = T.randomResizedCrop(5, { seed: 7 });
    const b = T.randomResizedCrop(5, { seed: 7 });
    assert.deepEqual(a(x).toArray(), b(x).toArray(), 'same seed, same stream');
    assert.deepEqual(
      a(x, { epoch: 2, index: 5 }).toArray(),
      b(x, { epoch: 2, index: 5 }).toArray(),
      'same (seed, epoch, index)',
    );
    const flip = T.randomHorizontalFlip(0.5, { seed: 1 });
    let flipped = 0;
    for (let i = 0; i < 400; i++)
      if (flip(x, { epoch: 0, index: i }).select(2, 0).sum().item() !== x.select(2, 0).sum().item()) flipped++;
    assert.ok(flipped > 150 && flipped < 250, `${flipped} of 400 flipped`);
    assert.deepEqual(T.randomHorizontalFlip(1, { seed: 1 })(x).toArray(), x.flip(-1).toArray());
    assert.deepEqual(T.randomHorizontalFlip(0, { seed: 1 })(x).toArray(), x.toArray());
  });
});

/** A 68-byte PNG whose header claims width × height pixels (8-bit RGB) over a tiny IDAT: a decompression bomb by its header. */
function bombPng(width: number, height: number): Uint8Array {
  const chunk = (type: string, body: Uint8Array) => {
    const out = Buffer.alloc(12 + body.length);
    out.writeUInt32BE(body.length, 0);
    out.write(type, 4, 'latin1');
    Buffer.from(body).copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', new Uint8Array([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('an image whose header claims more pixels than PIL allows is refused before decoding (a 68-byte PNG aborted the process; issue 14)', () => {
  for (const [width, height] of [
    [2 ** 31 - 1, 1],
    [2 ** 28, 1],
    [20_000, 20_000],
  ]) {
    const bytes = bombPng(width, height);
    assert.throws(
      () => data.decodeImage(bytes, 'bomb.png'),
      (error: Error) =>
        error instanceof data.BadImageError &&
        new RegExp(
          `bomb\\.png: ${width}×${height} pixels is more than 178,956,970 \\(PIL's decompression-bomb limit\\)`,
        ).test(error.message),
    );
  }
  assert.equal(data.MAX_IMAGE_PIXELS, 2 * 89_478_485);
  // In a folder: the header check names it (verify 'header' and 'decode'), and skip mode leaves it out
  const root = join(dir, 'bombs');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'bomb.png'), bombPng(2 ** 31 - 1, 1));
  writeFileSync(join(root, 'a', 'ok.png'), pngBytes(4, 4, 1));
  writeFileSync(join(root, 'b', 'ok.png'), pngBytes(4, 4, 2));
  for (const verify of ['header', 'decode'] as const) {
    assert.throws(
      () => data.ImageFolderDataset.fromFolder(root, { verify }),
      /bomb\.png: 2147483647×1 pixels is more than/,
    );
    assert.equal(data.ImageFolderDataset.fromFolder(root, { verify, onBadFile: 'skip' }).length, 2);
  }
});
