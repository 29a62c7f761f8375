// safetensors: round trips of every dtype, the reference implementation's byte layout, interop
// with Python (fixture written by tools/gen_safetensors_fixtures.py), malformed files, sharding.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  Tensor,
  aten,
  fromTypedArray,
  memory,
  rand,
  randint,
  randn,
  tensor,
  tidy,
  tidyAsync,
  assertNotPickle,
  deserializeSafetensors,
  loadSafetensors,
  loadSafetensorsSync,
  loadShardedSafetensors,
  parseByteSize,
  readSafetensorsHeader,
  readSafetensorsHeaderSync,
  readSafetensorsIndex,
  saveSafetensors,
  saveSafetensorsSync,
  saveShardedSafetensors,
  serializeSafetensors,
  type NestedArray,
} from 'finetune';

const dir = mkdtempSync(join(tmpdir(), 'finetune-safetensors-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => join(dir, name);

/** The header JSON and the data of a safetensors file's bytes. */
function layout(bytes: Uint8Array): { n: number; headerText: string; header: Record<string, any>; data: Buffer } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(buffer.readBigUInt64LE(0));
  const headerText = buffer.subarray(8, 8 + n).toString('utf8');
  return { n, headerText, header: JSON.parse(headerText), data: buffer.subarray(8 + n) };
}

/** Raw little-endian bytes of one tensor, as safetensors stores them. */
function bytesOf(t: Tensor): Buffer {
  return layout(serializeSafetensors({ t })).data;
}

/** Tensors of every dtype finetune saves, including 0-d, empty, non-contiguous and special values. */
function allDtypes(): Map<string, Tensor> {
  const special = [0, -0, 1, -1.5, Infinity, -Infinity, NaN, 1 / 3];
  return new Map<string, Tensor>([
    ['f32', tensor([special, special.map((v) => v * 2)], { dtype: 'float32' })],
    ['f64', tensor([...special, 1e300, 5e-324], { dtype: 'float64' })],
    ['f16', tensor(special.concat([65504, 6e-8]), { dtype: 'float16' })],
    ['bf16', tensor([special, special], { dtype: 'bfloat16' })],
    ['i64', fromTypedArray(new BigInt64Array([0n, -1n, 2n ** 62n + 12345n, -(2n ** 63n), 2n ** 63n - 1n]))],
    [
      'i32',
      tensor(
        [
          [0, -1, 2 ** 31 - 1],
          [-(2 ** 31), 7, 8],
        ],
        { dtype: 'int32' },
      ),
    ],
    ['i16', tensor([0, -1, 32767, -32768], { dtype: 'int16' })],
    ['i8', tensor([0, -1, 127, -128], { dtype: 'int8' })],
    ['u8', tensor([0, 1, 128, 255], { dtype: 'uint8' })],
    [
      'bool',
      tensor([
        [true, false],
        [false, true],
      ]),
    ],
    [
      'c64',
      aten.view_as_complex(
        tensor([
          [1, 2],
          [-0.5, 0],
          [0, -3.25],
        ]),
      ),
    ],
    ['scalar.f32', tensor(2.5)],
    ['scalar.i64', tensor(-7, { dtype: 'int64' })],
    ['scalar.bool', tensor(true)],
    ['scalar.bf16', tensor(0.75, { dtype: 'bfloat16' })],
    ['empty.f32', tensor([], { dtype: 'float32' })],
    ['empty.bf16.2x0', aten.zeros([2, 0], { dtype: 'bfloat16' })],
    ['empty.i8.0x3', aten.zeros([0, 3], { dtype: 'int8' })],
    ['empty.bool', aten.zeros([0], { dtype: 'bool' })],
    [
      'transposed',
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]).T,
    ],
  ]);
}

function assertSameTensors(actual: Map<string, Tensor>, expected: Map<string, Tensor>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, want] of expected) {
    const got = actual.get(name)!;
    assert.equal(got.dtype, want.dtype, `${name} dtype`);
    assert.deepEqual(got.shape, want.shape, `${name} shape`);
    assert.ok(bytesOf(got).equals(bytesOf(want)), `${name} bytes`);
    if (want.dtype === 'int64') assert.deepEqual(got.data(), want.data(), `${name} values`);
    else if (want.dtype === 'complex64')
      assert.deepEqual(aten.view_as_real(got).toArray(), aten.view_as_real(want).toArray());
    else assert.deepEqual(got.toArray(), want.toArray(), `${name} values`); // deepEqual: NaN equals NaN, -0 differs from 0
  }
}

test('every dtype round-trips (async and sync), with 0-d, empty and non-contiguous tensors', async () => {
  const before = memory().numTensors;
  await tidyAsync(async () => {
    const tensors = allDtypes();
    await saveSafetensors(file('all.safetensors'), tensors);
    const loaded = await loadSafetensors(file('all.safetensors'));
    assertSameTensors(loaded.tensors, tensors);
    assert.deepEqual(loaded.metadata, {});
    assert.deepEqual(loaded.tensors.get('transposed')!.toArray(), [
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    assert.deepEqual(
      loaded.tensors.get('i64')!.data(),
      new BigInt64Array([0n, -1n, 2n ** 62n + 12345n, -(2n ** 63n), 2n ** 63n - 1n]),
    );
    assert.deepEqual(loaded.tensors.get('f16')!.toArray(), [
      0,
      -0,
      1,
      -1.5,
      Infinity,
      -Infinity,
      NaN,
      0.333251953125,
      65504,
      5.960464477539063e-8,
    ]);
    assert.equal(loaded.tensors.get('scalar.bool')!.item(), true);
    assert.deepEqual(loaded.tensors.get('empty.bf16.2x0')!.shape, [2, 0]);

    saveSafetensorsSync(file('all-sync.safetensors'), tensors);
    assert.ok(
      readFileSync(file('all-sync.safetensors')).equals(readFileSync(file('all.safetensors'))),
      'sync and async writers agree',
    );
    const loadedSync = loadSafetensorsSync(file('all-sync.safetensors'));
    assertSameTensors(loadedSync.tensors, tensors);
  });
  assert.equal(memory().numTensors, before);
});

test('large tensors (read straight into tensor memory) round-trip for every storage kind', async () => {
  const before = memory().numTensors;
  await tidyAsync(async () => {
    const tensors = new Map<string, Tensor>([
      ['f32', randn([600, 600])],
      ['bf16', randn([1024, 600]).to('bfloat16')],
      ['f16', randn([700, 1000]).to('float16')],
      ['bool', rand([1_100_000]).gt(0.5)],
      ['i64', randint(-1e9, 1e9, [150_000])],
      ['c64', aten.view_as_complex(randn([70_000, 2]))],
      ['small.between', tensor([1, 2, 3])],
      ['u8', randint(0, 256, [2_000_000], { dtype: 'uint8' })],
    ]);
    await saveSafetensors(file('large.safetensors'), tensors);
    const { tensors: loaded } = await loadSafetensors(file('large.safetensors'));
    for (const [name, want] of tensors) {
      const got = loaded.get(name)!;
      assert.equal(got.dtype, want.dtype);
      assert.deepEqual(got.shape, want.shape);
      assert.ok(
        name === 'c64' ? aten.view_as_real(got).equal(aten.view_as_real(want)) : got.equal(want),
        `${name} values`,
      );
    }
    const sync = loadSafetensorsSync(file('large.safetensors')).tensors;
    assert.ok(sync.get('bf16')!.equal(tensors.get('bf16')!));
  });
  assert.equal(memory().numTensors, before);
});

test('metadata round-trips, including unicode, escapes, empty strings and "__proto__"', async () => {
  const metadata: Record<string, string> = { format: 'pt', note: 'ünïcode "quoted" \\ back\nslash\t→ 名前', empty: '' };
  Object.defineProperty(metadata, '__proto__', { value: 'plain data', enumerable: true });
  await tidyAsync(async () => {
    await saveSafetensors(file('meta.safetensors'), { w: tensor([1]) }, metadata);
    const loaded = await loadSafetensors(file('meta.safetensors'));
    assert.deepEqual(Object.entries(loaded.metadata), Object.entries(metadata));
    assert.equal(Object.getPrototypeOf(loaded.metadata), Object.prototype);
    const header = await readSafetensorsHeader(file('meta.safetensors'));
    assert.deepEqual(Object.entries(header.metadata), Object.entries(metadata));
  });
  // An empty metadata object is written as such; no metadata writes no "__metadata__".
  tidy(() => {
    assert.equal(
      layout(serializeSafetensors({ w: tensor([1]) }, {})).headerText.trimEnd(),
      '{"__metadata__":{},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    );
    assert.equal(
      layout(serializeSafetensors({ w: tensor([1]) })).headerText.trimEnd(),
      '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    );
  });
});

test('the writer matches the reference implementation byte for byte (its own test vectors)', () => {
  tidy(() => {
    // safetensors/src/tensor.rs test_serialization: "attn.0", F32 [1, 2, 3], 0 … 5.
    const attn = tensor([
      [
        [0, 1, 2],
        [3, 4, 5],
      ],
    ]);
    const out = serializeSafetensors({ 'attn.0': attn });
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    assert.equal(json.length, 64);
    const data = Buffer.from(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
    const expected = Buffer.concat([Buffer.from([64, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(json), data]);
    assert.ok(out.equals(expected));
    // test_serialization_forced_alignement: a 65-byte header is padded with 7 spaces to 72.
    const aligned = serializeSafetensors({ attn0: attn.reshape(1, 1, 2, 3) });
    const json2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    assert.ok(
      aligned.equals(Buffer.concat([Buffer.from([72, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(json2 + ' '.repeat(7)), data])),
    );
  });
  // test_empty: no tensors; and with {"framework": "pt"} metadata.
  assert.ok(serializeSafetensors({}).equals(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])));
  const withMeta = serializeSafetensors({}, { framework: 'pt' });
  assert.ok(
    withMeta.equals(
      Buffer.concat([Buffer.from([40, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"__metadata__":{"framework":"pt"}}     ')]),
    ),
  );
  const empty = deserializeSafetensors(withMeta);
  assert.equal(empty.tensors.size, 0);
  assert.deepEqual(empty.metadata, { framework: 'pt' });
});

test('tensors are ordered by descending dtype alignment, then by name bytewise; offsets tile the data', () => {
  tidy(() => {
    const out = serializeSafetensors(allDtypes(), { format: 'pt' });
    const { n, headerText, header, data } = layout(out);
    assert.equal(n % 8, 0);
    assert.match(headerText, /^\{"__metadata__":\{"format":"pt"\},"i64":/);
    assert.match(headerText.slice(headerText.lastIndexOf('}') + 1), /^ {0,7}$/);
    const order = Object.keys(header).filter((k) => k !== '__metadata__');
    assert.deepEqual(order, [
      'i64',
      'scalar.i64',
      'f64',
      'c64',
      'empty.f32',
      'f32',
      'scalar.f32',
      'transposed',
      'i32',
      'bf16',
      'empty.bf16.2x0',
      'scalar.bf16',
      'f16',
      'i16',
      'empty.i8.0x3',
      'i8',
      'u8',
      'bool',
      'empty.bool',
      'scalar.bool',
    ]);
    let offset = 0;
    for (const name of order) {
      assert.equal(header[name].data_offsets[0], offset, name);
      offset = header[name].data_offsets[1];
    }
    assert.equal(offset, data.length);
    // Names compare as UTF-8 bytes, as Rust compares strings: "B" < "a" < "é".
    const names = Object.keys(layout(serializeSafetensors({ é: tensor([1]), a: tensor([1]), B: tensor([1]) })).header);
    assert.deepEqual(names, ['B', 'a', 'é']);
  });
});

interface FixtureTensor {
  dtype: string;
  shape: number[];
  values: unknown;
  hex: string;
  sha256: string;
}
interface Fixture {
  metadata: Record<string, string>;
  header_size: number;
  order: string[];
  tensors: Record<string, FixtureTensor>;
}
const TO_DTYPE: Record<string, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
  C64: 'complex64',
};

function decodeValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValues);
  if (value === 'nan') return NaN;
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  return value;
}

test('reads the file Python safetensors wrote: every dtype, values, bytes, metadata, order', async () => {
  const path = join('test', 'fixtures', 'safetensors', 'python-all-dtypes.safetensors');
  const fixture = JSON.parse(
    readFileSync(join('test', 'fixtures', 'safetensors', 'python-all-dtypes.json'), 'utf8'),
  ) as Fixture;
  const before = memory().numTensors;
  await tidyAsync(async () => {
    const header = await readSafetensorsHeader(path);
    assert.equal(header.headerSize, fixture.header_size);
    assert.deepEqual([...header.tensors.keys()], fixture.order);
    assert.deepEqual(header.metadata, fixture.metadata);

    const { tensors, metadata } = await loadSafetensors(path);
    assert.deepEqual(metadata, fixture.metadata);
    assert.deepEqual([...tensors.keys()].sort(), Object.keys(fixture.tensors).sort());
    assert.equal(Object.keys(fixture.tensors).length, 23);
    for (const [name, want] of Object.entries(fixture.tensors)) {
      const t = tensors.get(name)!;
      assert.equal(t.dtype, TO_DTYPE[want.dtype], `${name} dtype`);
      assert.deepEqual(t.shape, want.shape, `${name} shape`);
      assert.equal(bytesOf(t).toString('hex'), want.hex, `${name} bytes`);
      let values: NestedArray;
      if (t.dtype === 'int64') {
        const flat = [...(t.data() as BigInt64Array)].map(String);
        assert.deepEqual(flat, [want.values].flat(Infinity), `${name} values`);
        continue;
      }
      if (t.dtype === 'complex64') values = aten.view_as_real(t).toArray();
      else values = t.toArray();
      assert.deepEqual(values, decodeValues(want.values), `${name} values`);
    }
    // finetune writes the same file: same tensor order, offsets and data, header of the same size.
    const again = layout(serializeSafetensors(tensors, metadata));
    const original = layout(readFileSync(path));
    assert.deepEqual(
      Object.keys(again.header).filter((k) => k !== '__metadata__'),
      fixture.order,
    );
    assert.deepEqual(again.header, original.header);
    assert.equal(again.n, original.n);
    assert.ok(again.data.equals(original.data));
  });
  assert.equal(memory().numTensors, before);
});

test('writes a file for Python to check (tools/gen_safetensors_fixtures.py --check) with the reference layout', async () => {
  const out = join('build', 'safetensors-interop');
  mkdirSync(out, { recursive: true });
  const path = join(out, 'finetune-all-dtypes.safetensors');
  await tidyAsync(async () => {
    const tensors = allDtypes();
    tensors.set('large.bf16', randn([800, 700]).to('bfloat16'));
    tensors.set('model.layers.0.mlp.up_proj.weight', randn([16, 8]));
    tensors.set(
      'unicode.naïve→名前',
      tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { dtype: 'int32' },
      ),
    );
    const metadata = { format: 'pt' };
    await saveSafetensors(path, tensors, metadata);
    const expected = {
      metadata,
      tensors: Object.fromEntries(
        [...tensors].map(([name, t]) => {
          const bytes = bytesOf(t);
          return [
            name,
            {
              dtype: layout(serializeSafetensors({ t })).header.t.dtype,
              shape: t.shape,
              sha256: createHash('sha256').update(bytes).digest('hex'),
            },
          ];
        }),
      ),
    };
    writeFileSync(join(out, 'finetune-all-dtypes.json'), JSON.stringify(expected, null, 1) + '\n');

    const bytes = readFileSync(path);
    const { n, header, data } = layout(bytes);
    assert.equal(n % 8, 0, 'header padded to 8 bytes');
    assert.equal((8 + n) % 8, 0, 'data starts 8-byte aligned');
    let offset = 0;
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      assert.equal(info.data_offsets[0], offset);
      // Every tensor starts aligned to its element size (the reference's reason for the order).
      const size = { F64: 8, I64: 8, C64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2 }[info.dtype as string] ?? 1;
      assert.equal((8 + n + offset) % size, 0, `${name} aligned`);
      offset = info.data_offsets[1];
    }
    assert.equal(offset, data.length);
    assert.equal(bytes.length, 8 + n + offset);
    const back = await loadSafetensors(path);
    assertSameTensors(back.tensors, tensors);
  });
});

test('saving replaces a file atomically, and a failed save leaves the old file and no temporary file', async () => {
  const path = file('atomic.safetensors');
  await tidyAsync(async () => {
    await saveSafetensors(path, { a: tensor([1, 2]) });
    await saveSafetensors(path, { b: tensor([3, 4, 5]) });
    const second = await loadSafetensors(path);
    assert.deepEqual([...second.tensors.keys()], ['b']);
    assert.deepEqual(second.tensors.get('b')!.toArray(), [3, 4, 5]);
    const good = readFileSync(path);

    // Fails after the temporary file is open: the second tensor is gone by the time it is written.
    const doomed = tensor([9, 9]);
    const saving = saveSafetensors(path, { a: randn([1000]), z: doomed });
    doomed.dispose();
    await assert.rejects(
      saving,
      new RegExp(`${escape(path)}: tensor "z": the tensor was disposed while it was being saved`),
    );
    assert.ok(readFileSync(path).equals(good), 'the old file is intact');

    // Fails before writing: bad metadata, a disposed tensor, a dtype safetensors lacks.
    await assert.rejects(
      saveSafetensors(path, { a: tensor([1]) }, { n: 1 as unknown as string }),
      /metadata "n" must be a string/,
    );
    await assert.rejects(saveSafetensors(path, { a: doomed }), /tensor "a": the tensor has been disposed/);
    assert.throws(
      () => saveSafetensorsSync(path, { c: tensor([1]).to('complex128') }),
      /tensor "c": dtype complex128 has no safetensors equivalent/,
    );
    assert.throws(() => saveSafetensorsSync(path, { __metadata__: tensor([1]) }), /reserved/);
    assert.ok(readFileSync(path).equals(good));
    await assert.rejects(saveSafetensors(join(dir, 'no-such-dir', 'x.safetensors'), { a: tensor([1]) }), /ENOENT/);
  });
  assert.deepEqual(
    readdirSync(dir).filter((name) => name.includes('.tmp-')),
    [],
    'no temporary files left',
  );
});

test('options: dtype casts floating-point tensors only, filter selects tensors, device cpu', async () => {
  const before = memory().numTensors;
  await tidyAsync(async () => {
    await saveSafetensors(file('opts.safetensors'), {
      w: tensor([1.5, 2.25]),
      b: tensor([1, 2], { dtype: 'int64' }),
      m: tensor([true]),
      big: randn([300, 1000]),
    });
    const half = await loadSafetensors(file('opts.safetensors'), { dtype: 'bfloat16', device: 'cpu' });
    assert.equal(half.tensors.get('w')!.dtype, 'bfloat16');
    assert.equal(half.tensors.get('big')!.dtype, 'bfloat16');
    assert.deepEqual(half.tensors.get('w')!.toArray(), [1.5, 2.25]);
    assert.equal(half.tensors.get('b')!.dtype, 'int64');
    assert.equal(half.tensors.get('m')!.dtype, 'bool');
    const some = loadSafetensorsSync(file('opts.safetensors'), { filter: (name) => name !== 'big' });
    assert.deepEqual([...some.tensors.keys()].sort(), ['b', 'm', 'w']);
    assert.throws(
      () => loadSafetensorsSync(file('opts.safetensors'), { dtype: 'int8' }),
      /must be a floating-point dtype/,
    );
  });
  assert.equal(memory().numTensors, before);
});

// ---- malformed files --------------------------------------------------------------

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A file from a header (object or raw text) and data; `length` overrides the header length field. */
function rawFile(header: string | object, data: Uint8Array | number = 0, length?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(length ?? BigInt(json.length));
  return Buffer.concat([prefix, json, typeof data === 'number' ? Buffer.alloc(data) : data]);
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

/** Every reader refuses the file with an Error naming the file and matching `problem`; nothing leaks. */
async function refuses(name: string, bytes: Buffer, problem: RegExp, { headerOk = false } = {}): Promise<void> {
  const path = file(`${name}.safetensors`);
  writeFileSync(path, bytes);
  const pattern = new RegExp(`${escape(path)}: .*${problem.source}`, 's');
  const before = memory().numTensors;
  await assert.rejects(loadSafetensors(path), (error: unknown) => {
    assert.ok(error instanceof Error, 'an Error');
    assert.match(error.message, pattern);
    return true;
  });
  assert.throws(() => loadSafetensorsSync(path), pattern);
  assert.throws(() => deserializeSafetensors(bytes, {}, path), pattern);
  if (!headerOk) {
    await assert.rejects(readSafetensorsHeader(path), pattern);
    assert.throws(() => readSafetensorsHeaderSync(path), pattern);
  }
  assert.equal(memory().numTensors, before, 'no tensor leaked');
}

const valid = rawFile({ a: f32([2], 0, 8), b: f32([1], 8, 12) }, Buffer.from(new Float32Array([1, 2, 3]).buffer));

test('malformed: truncated files and bad header lengths', async () => {
  await tidyAsync(async () => {
    writeFileSync(file('valid.safetensors'), valid);
    const ok = await loadSafetensors(file('valid.safetensors'));
    assert.deepEqual(ok.tensors.get('a')!.toArray(), [1, 2]);
  });
  await refuses(
    'truncated-data',
    valid.subarray(0, valid.length - 2),
    /tensor "b": .*run past the end of the data \(10 bytes after the header/,
  );
  await refuses(
    'truncated-header',
    valid.subarray(0, 20),
    /header length \d+ runs past the end of the file \(20 bytes; truncated\?\)/,
  );
  await refuses('tiny', Buffer.from([1, 2, 3]), /the file is 3 bytes, shorter than the 8-byte header length/);
  await refuses('empty-file', Buffer.alloc(0), /the file is 0 bytes/);
  await refuses(
    'length-past-end',
    rawFile({ a: f32([1], 0, 4) }, 4, 5000n),
    /header length 5000 runs past the end of the file/,
  );
  await refuses(
    'huge-length',
    rawFile('{}', 0, 2n ** 63n + 5n),
    /header too large: its length field says 9223372036854775813 bytes, over the 100000000-byte limit/,
  );
  await refuses('too-large', rawFile('{}', 0, 100_000_001n), /header too large/);
});

test('malformed: header text and JSON', async () => {
  await refuses(
    'not-brace',
    rawFile(' {"a":1}'),
    /the header does not start with '\{' \(it starts with " \{\\"a\\":1\}"\)/,
  );
  await refuses(
    'bad-json',
    rawFile('{"a": {"dtype": "F32",}}'),
    /the header is not valid JSON: unexpected "\}" at character 22/,
  );
  await refuses('cut-json', rawFile('{"a": {'), /not valid JSON: unexpected end of JSON/);
  await refuses('two-values', rawFile('{} {}'), /not valid JSON: unexpected "\{" after the JSON value/);
  await refuses(
    'bad-utf8',
    Buffer.concat([
      rawFile('{"\u00e9":1}').subarray(0, 10),
      Buffer.from([0xff, 0xfe]),
      rawFile('{"\u00e9":1}').subarray(12),
    ]),
    /the header is not valid UTF-8/,
  );
  await refuses(
    'duplicate-key',
    rawFile(
      '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
      8,
    ),
    /not valid JSON: duplicate key "a" at character \d+/,
  );
  await refuses('deep', rawFile('{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}'), /nesting deeper than 64 levels/);
});

test('malformed: entries, dtypes, shapes and sizes', async () => {
  await refuses(
    'unknown-dtype',
    rawFile({ w: { dtype: 'F99', shape: [1], data_offsets: [0, 4] } }, 4),
    /tensor "w": invalid safetensors file: unknown dtype "F99"/,
  );
  await refuses(
    'dtype-missing',
    rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, 4),
    /tensor "w": .*"dtype" is missing/,
  );
  await refuses('entry-not-object', rawFile({ w: [1, 2] }), /tensor "w": .*the entry must be an object, not an array/);
  await refuses(
    'size-mismatch',
    rawFile({ w: f32([2, 3], 0, 20) }, 20),
    /tensor "w": .*size mismatch: shape \[2, 3\] of F32 needs 24 bytes but "data_offsets" \[0, 20\] hold 20/,
  );
  await refuses(
    'negative-shape',
    rawFile({ w: f32([-1], 0, 0) }),
    /tensor "w": .*"shape" must be an array of non-negative integers, not \[-1\]/,
  );
  await refuses(
    'fraction-shape',
    rawFile({ w: f32([1.5], 0, 6) }, 6),
    /tensor "w": .*"shape" must be an array of non-negative integers/,
  );
  await refuses(
    'bad-offsets',
    rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4),
    /tensor "w": .*"data_offsets" must be \[begin, end\]/,
  );
  await refuses(
    'reversed-offsets',
    rawFile({ w: f32([0], 4, 0) }, 4),
    /tensor "w": .*"data_offsets" \[4, 0\] end before they begin/,
  );
  await refuses(
    'overflow',
    rawFile({ w: f32([2 ** 40, 2 ** 40], 0, 16) }, 16),
    /tensor "w": .*size mismatch: shape \[1099511627776, 1099511627776\] of F32 needs 4835703278458516698824704 bytes/,
  );
  await refuses(
    'bool-byte',
    rawFile(
      { a: f32([1], 0, 4), m: { dtype: 'BOOL', shape: [3], data_offsets: [4, 7] } },
      Buffer.from([0, 0, 128, 63, 1, 0, 2]),
    ),
    /tensor "m": .*BOOL element 2 is byte 2, not 0 or 1/,
    { headerOk: true },
  );
  // U32 and friends are valid safetensors: the header reads, loading explains what to do.
  const u32 = rawFile({ u: { dtype: 'U32', shape: [2], data_offsets: [0, 8] } }, 8);
  await refuses(
    'u32',
    u32,
    /tensor "u": dtype U32 cannot be loaded: finetune's tensors hold F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, C64\. Convert the tensor in Python first, e\.g\. to torch\.int64$/,
    { headerOk: true },
  );
  assert.equal((await readSafetensorsHeader(file('u32.safetensors'))).tensors.get('u')!.dtype, 'U32');
  await refuses(
    'f8',
    rawFile({ q: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4),
    /tensor "q": dtype F8_E4M3 cannot be loaded: .*e\.g\. dequantized to torch\.bfloat16 or torch\.float16$/,
    { headerOk: true },
  );
});

test('malformed: offsets must tile the data exactly', async () => {
  await refuses(
    'overlap',
    rawFile({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12),
    /tensor "b": .*"data_offsets" \[4, 12\] overlap tensor "a" \(which ends at 8\)/,
  );
  await refuses(
    'hole',
    rawFile({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12),
    /tensor "b": .*leave a hole of 4 bytes after tensor "a"/,
  );
  await refuses(
    'hole-at-start',
    rawFile({ a: f32([1], 4, 8) }, 8),
    /tensor "a": .*leave a hole of 4 bytes at the start of the data/,
  );
  await refuses(
    'out-of-range',
    rawFile({ a: f32([1], 0, 4), b: f32([250], 4, 1004) }, 12),
    /tensor "b": .*"data_offsets" \[4, 1004\] run past the end of the data \(12 bytes after the header/,
  );
  await refuses(
    'trailing',
    rawFile({ a: f32([1], 0, 4) }, 8),
    /4 trailing bytes after the last tensor \(the tensors cover 4 of 8 data bytes\)/,
  );
  await refuses('no-tensors-trailing', rawFile({}, 3), /3 trailing bytes/);
});

test('malformed: metadata must map strings to strings', async () => {
  await refuses(
    'meta-number',
    rawFile({ __metadata__: { format: 'pt', version: 2 } }),
    /"__metadata__" must map strings to strings, but "version" is number 2/,
  );
  await refuses(
    'meta-nested',
    rawFile({ __metadata__: { a: { b: 'c' } } }),
    /"__metadata__" must map strings to strings, but "a" is an object/,
  );
  await refuses(
    'meta-array',
    rawFile({ __metadata__: ['pt'] }),
    /"__metadata__" must be an object of strings, not an array/,
  );
  // null metadata is accepted as absent, as the reference does
  const contents = deserializeSafetensors(rawFile({ __metadata__: null }));
  assert.deepEqual(contents.metadata, {});
});

test('pickle checkpoints are refused with the command that converts them', async () => {
  for (const name of ['pytorch_model.bin', 'model.pt', 'weights.PTH', 'last.ckpt', 'state.pkl']) {
    const path = file(name);
    writeFileSync(path, Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00]));
    assert.throws(
      () => assertNotPickle(path),
      new RegExp(
        `${escape(path)}: .* PyTorch pickle checkpoints.*arbitrary code.*import save_file.*torch\\.load\\('${escape(path)}'.*save_file\\(`,
        's',
      ),
    );
    await assert.rejects(loadSafetensors(path), /does not load pickle checkpoints/);
    assert.throws(() => loadSafetensorsSync(path), /python -c "import torch; from safetensors.torch import save_file/);
  }
  assert.doesNotThrow(() => assertNotPickle('model.safetensors'));
  // Content sniffing: a torch.save zip renamed to .safetensors.
  await refuses(
    'zip-renamed',
    Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(200, 7)]),
    /this is a PyTorch pickle checkpoint, not safetensors.*save_file/,
  );
});

// ---- sharded checkpoints ----------------------------------------------------------

test('sharded: written like transformers (names, index, oversize tensors) and read back', async () => {
  const shardDir = file('sharded');
  const before = memory().numTensors;
  await tidyAsync(async () => {
    const tensors = new Map<string, Tensor>([
      ['a', randn([100])],
      ['b', randn([100])],
      ['big', randn([1000])],
      ['c', randn([100]).to('bfloat16')],
      ['d', tensor([1, 2, 3], { dtype: 'int64' })],
    ]);
    const result = await saveShardedSafetensors(shardDir, tensors, { maxShardSize: 1000 });
    // huggingface_hub's split: [big] (over the limit, its own shard), [a, b, c] (exactly 1000 bytes), [d].
    const names = [
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ];
    assert.deepEqual(
      result.files,
      names.map((n) => join(shardDir, n)),
    );
    assert.equal(result.totalSize, 400 + 400 + 4000 + 200 + 24);
    assert.equal(result.indexFile, join(shardDir, 'model.safetensors.index.json'));
    const indexText = readFileSync(result.indexFile!, 'utf8');
    assert.equal(
      indexText,
      '{\n  "metadata": {\n    "total_size": 5024\n  },\n  "weight_map": {\n' +
        '    "a": "model-00002-of-00003.safetensors",\n    "b": "model-00002-of-00003.safetensors",\n' +
        '    "big": "model-00001-of-00003.safetensors",\n    "c": "model-00002-of-00003.safetensors",\n' +
        '    "d": "model-00003-of-00003.safetensors"\n  }\n}\n',
    );
    assert.deepEqual([...(await readSafetensorsHeader(join(shardDir, names[1]))).tensors.keys()], ['a', 'b', 'c']);
    assert.deepEqual((await readSafetensorsHeader(join(shardDir, names[1]))).metadata, { format: 'pt' });

    const index = await readSafetensorsIndex(shardDir);
    assert.deepEqual(index.shards, [names[1], names[0], names[2]]); // in order of first appearance in the sorted weight_map
    assert.deepEqual(index.metadata, { total_size: 5024 });

    const loaded = await loadShardedSafetensors(shardDir);
    assert.deepEqual([...loaded.tensors.keys()].sort(), ['a', 'b', 'big', 'c', 'd']);
    for (const [name, t] of tensors) assert.ok(loaded.tensors.get(name)!.equal(t), name);
    assert.deepEqual(loaded.metadata, { total_size: 5024 });

    const viaIndexPath = await loadShardedSafetensors(result.indexFile!, {
      dtype: 'float16',
      filter: (name) => name !== 'big',
    });
    assert.deepEqual([...viaIndexPath.tensors.keys()].sort(), ['a', 'b', 'c', 'd']);
    assert.equal(viaIndexPath.tensors.get('a')!.dtype, 'float16');
    assert.equal(viaIndexPath.tensors.get('d')!.dtype, 'int64');

    // Saving again as one shard writes model.safetensors and removes the stale shards and index.
    const single = await saveShardedSafetensors(shardDir, tensors);
    assert.deepEqual(single.files, [join(shardDir, 'model.safetensors')]);
    assert.equal(single.indexFile, null);
    assert.deepEqual(readdirSync(shardDir), ['model.safetensors']);
    const whole = await loadSafetensors(join(shardDir, 'model.safetensors'));
    assert.ok(whole.tensors.get('big')!.equal(tensors.get('big')!));
  });
  assert.equal(memory().numTensors, before);
});

test('sharded: missing shards, keys the shard lacks and bad indexes are refused before loading', async () => {
  const shardDir = file('sharded-bad');
  const before = memory().numTensors;
  await tidyAsync(async () => {
    await saveShardedSafetensors(shardDir, { a: randn([10]), b: randn([10]), c: randn([10]) }, { maxShardSize: '80B' });
    assert.equal(readdirSync(shardDir).length, 3); // two shards and the index
    await assert.rejects(
      saveShardedSafetensors(file('sharded-c128'), { z: tensor([1]).to('complex128') }),
      /tensor "z": dtype complex128 has no safetensors equivalent/,
    );
  });
  const indexPath = join(shardDir, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));

  writeFileSync(
    indexPath,
    JSON.stringify({ ...index, weight_map: { ...index.weight_map, ghost: 'model-00001-of-00002.safetensors' } }),
  );
  await assert.rejects(
    loadShardedSafetensors(shardDir),
    new RegExp(
      `${escape(indexPath)}: the index maps tensor "ghost" to shard "model-00001-of-00002.safetensors", which has no such tensor`,
    ),
  );

  writeFileSync(
    indexPath,
    JSON.stringify({ ...index, weight_map: { ...index.weight_map, a: '../elsewhere.safetensors' } }),
  );
  await assert.rejects(
    loadShardedSafetensors(shardDir),
    /shard "\.\.\/elsewhere\.safetensors" \(for "a"\) lies outside the checkpoint folder/,
  );

  writeFileSync(
    indexPath,
    JSON.stringify({ ...index, weight_map: { ...index.weight_map, a: 'pytorch_model-00001-of-00002.bin' } }),
  );
  await assert.rejects(
    loadShardedSafetensors(shardDir),
    /pytorch_model-00001-of-00002\.bin: \.bin files are PyTorch pickle checkpoints/,
  );

  writeFileSync(indexPath, '{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}');
  await assert.rejects(loadShardedSafetensors(shardDir), /invalid checkpoint index: not valid JSON: duplicate key "a"/);

  writeFileSync(indexPath, JSON.stringify({ metadata: {}, weight_map: { a: 3 } }));
  await assert.rejects(loadShardedSafetensors(shardDir), /"weight_map" entry "a" must name a shard file/);

  writeFileSync(indexPath, JSON.stringify(index));
  unlinkSync(join(shardDir, 'model-00002-of-00002.safetensors'));
  await assert.rejects(
    loadShardedSafetensors(shardDir),
    new RegExp(
      `${escape(indexPath)}: shard "model-00002-of-00002\\.safetensors" listed in the index is missing \\(expected at ${escape(join(shardDir, 'model-00002-of-00002.safetensors'))}\\)`,
    ),
  );
  await assert.rejects(loadShardedSafetensors(file('nowhere')), /nowhere: no sharded checkpoint index here/);
  assert.equal(memory().numTensors, before);
  assert.ok(existsSync(join(shardDir, 'model-00001-of-00002.safetensors')));
});

test('parseByteSize reads transformers-style sizes', () => {
  assert.equal(parseByteSize('5GB'), 5e9);
  assert.equal(parseByteSize('2GiB'), 2 * 2 ** 30);
  assert.equal(parseByteSize('500MB'), 5e8);
  assert.equal(parseByteSize('1.5 kb'), 1500);
  assert.equal(parseByteSize('80B'), 80);
  assert.equal(parseByteSize(1234), 1234);
  assert.throws(() => parseByteSize('lots'), /cannot read "lots" as a size/);
  assert.throws(() => parseByteSize(0), /positive integer/);
});

test("a save cleans the temporaries a process killed while saving left beside the file; a live writer's stay (issue 14)", async () => {
  const folder = file('killed-save');
  mkdirSync(folder);
  // A process id that no longer runs: a child that has exited
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const stale = [`model.safetensors.tmp-${dead}-1`, `model.safetensors.tmp-${dead}-7`];
  const live = `model.safetensors.tmp-${process.pid}-999`;
  const other = `config.json.tmp-${dead}-1`;
  for (const name of [...stale, live, other]) writeFileSync(join(folder, name), 'half-written');
  await saveSafetensors(join(folder, 'model.safetensors'), { x: tensor([1, 2, 3]) });
  assert.deepEqual(readdirSync(folder).sort(), [other, 'model.safetensors', live].sort());
  saveSafetensorsSync(join(folder, 'config.json'), { y: tensor([4]) });
  assert.deepEqual(readdirSync(folder).sort(), ['config.json', 'model.safetensors', live].sort());
});
