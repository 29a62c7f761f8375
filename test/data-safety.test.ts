/**
 * Hostile data files (issue 14): decompression bombs, headers that claim more than their data
 * holds, paths that are not files, text fields of megabytes, and how the CLI verifies data before a
 * run. Every case must be refused fast with the file named — never decoded for seconds into
 * gigabytes. The bombs run in child processes (with a timeout), so a regression shows as a failed
 * or timed-out child instead of taking the test runner's memory.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';

import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

import { data } from 'finetune';

import { BERT_TOKENIZER_DIR, ROOT, runCli, writeTinyBertModelFolder } from './helpers/cli.js';

let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'finetune-data-safety-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ---- files made here -------------------------------------------------------------------------

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, body: Uint8Array): Buffer {
  const chunk = Buffer.alloc(12 + body.length);
  chunk.writeUInt32BE(body.length, 0);
  chunk.write(type, 4, 'latin1');
  chunk.set(body, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + body.length)), 8 + body.length);
  return chunk;
}

/** An 8-bit RGB PNG whose IHDR says width × height, over `pixelData` (filter bytes included) deflated. */
function rgbPng(width: number, height: number, pixelData: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(pixelData)),
    pngChunk('IEND', new Uint8Array()),
  ]);
}

/** A real 8×8 grey PNG. */
function goodPng(): Buffer {
  const png = new pngjs.PNG({ width: 8, height: 8 });
  png.data.fill(128);
  return pngjs.PNG.sync.write(png);
}

/** A baseline JPEG of width × height (jpeg-js), and its bytes with the frame header changed to claim `claim`² pixels. */
function jpegClaiming(claim: number): { real: Buffer; claiming: Buffer } {
  const width = 64;
  const pixels = Buffer.alloc(width * width * 4);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 251;
  const real = Buffer.from(jpeg.encode({ width, height: width, data: pixels }, 90).data);
  const claiming = Buffer.from(real);
  let at = 2;
  while (!(claiming[at + 1] >= 0xc0 && claiming[at + 1] <= 0xc2)) at += 2 + claiming.readUInt16BE(at + 2);
  claiming.writeUInt16BE(claim, at + 5);
  claiming.writeUInt16BE(claim, at + 7);
  return { real, claiming };
}

/** An IDX file's bytes: header for `shape` uint8, then `data`. */
function idx(shape: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  shape.forEach((size, d) => header.writeUInt32BE(size, 4 + 4 * d));
  return Buffer.concat([header, data]);
}

/**
 * Runs `body` (ES module code with `data` = finetune's data layer) in a child process, which prints
 * what it finds as JSON: a bomb that is not refused shows as a timeout, not as the test runner's memory.
 */
function inChild(body: string, timeoutMs = 30_000): { result: unknown; ms: number } {
  const script = `import { data } from 'finetune';\nconst started = Date.now();\nconst result = await (async () => { ${body} })();\nconsole.log(JSON.stringify({ result, ms: Date.now() - started }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  assert.equal(run.status, 0, `child: signal ${run.signal}, stderr ${run.stderr}`);
  return JSON.parse(run.stdout) as { result: unknown; ms: number };
}

/** The message `fn` throws (in the child), or 'no error'. */
const CATCH = `const message = (fn) => { try { fn(); return 'no error'; } catch (e) { return e.message; } };`;

// ---- IDX ---------------------------------------------------------------------------------------

test('IDX: a gzip bomb under a small header is refused fast, naming the file and the declared size', () => {
  // 10×28×28 bytes declared, 64 MB of zeros behind them (about 65 KB gzipped).
  const bomb = join(dir, 'bomb-images-idx3-ubyte.gz');
  writeFileSync(bomb, gzipSync(idx([10, 28, 28], new Uint8Array(64 * 1024 * 1024))));
  const huge = join(dir, 'huge-idx.gz');
  writeFileSync(huge, gzipSync(idx([1 << 20, 1 << 20, 1 << 10], new Uint8Array(16))));
  const { result, ms } = inChild(
    `${CATCH} const fs = await import('node:fs'); return [message(() => data.readIdx(${JSON.stringify(bomb)})), message(() => data.readIdx(${JSON.stringify(huge)})), message(() => data.parseIdx(fs.readFileSync(${JSON.stringify(bomb)}), 'bomb.gz', { maxBytes: 1000 })), process.memoryUsage().rss];`,
  );
  const [bombMessage, hugeMessage, limited, rss] = result as [string, string, string, number];
  assert.equal(
    bombMessage,
    `${bomb}: the gzip data inflates to more than the 7.67 KiB the IDX header declares (shape [10,28,28] of uint8): wrong dimensions in the header, or a gzip bomb`,
  );
  assert.equal(
    hugeMessage,
    `${huge}: IDX header declares shape [1048576,1048576,1024] of uint8: 1 PiB, more than the 2 GiB an IDX file may hold (raise maxBytes if the file is meant)`,
  );
  assert.equal(
    limited,
    'bomb.gz: IDX header declares shape [10,28,28] of uint8: 7.67 KiB, more than the 1,000 B an IDX file may hold (raise maxBytes if the file is meant)',
  );
  // readIdx refuses a file larger than maxBytes before reading it.
  assert.throws(() => data.readIdx(bomb, { maxBytes: 1000 }), {
    message: new RegExp(
      `^${bomb}: cannot read the IDX file: 6[34]\\.\\d KiB is more than an IDX file may have here \\(1,000 B\\)$`,
    ),
  });
  assert.ok(ms < 5000, `${ms} ms`);
  assert.ok(rss < 600e6, `${rss} bytes resident`);
});

test('IDX: a good gzip file still reads, and a path that is not a regular file is refused before reading', () => {
  const good = join(dir, 'good-idx.gz');
  writeFileSync(good, gzipSync(idx([2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6]))));
  assert.deepEqual(Array.from(data.readIdx(good).data), [1, 2, 3, 4, 5, 6]);
  const zero = join(dir, 'zero-idx');
  symlinkSync('/dev/zero', zero);
  assert.throws(() => data.readIdx(zero), {
    message: `${zero}: cannot read the IDX file: not a regular file (a device, pipe or socket)`,
  });
  assert.throws(() => data.readIdx(dir), /cannot read the IDX file: not a regular file \(a folder\)/);
});

// ---- tables and tokenizer files ----------------------------------------------------------------

test('tables: a .csv linked to /dev/zero, or a FIFO, is refused at once naming it', async () => {
  const zero = join(dir, 'zero.csv');
  symlinkSync('/dev/zero', zero);
  await assert.rejects(data.readTable(zero), {
    message: `cannot read ${zero}: not a regular file (a device, pipe or socket)`,
  });
  const fifo = join(dir, 'fifo.csv');
  if (spawnSync('mkfifo', [fifo]).status === 0) {
    // Opening a FIFO would wait for a writer: it is refused from its type, before it is opened.
    await assert.rejects(data.readTable(fifo), /fifo\.csv: not a regular file/);
  }
  const tokenizerLink = join(dir, 'tokenizer.json');
  symlinkSync('/dev/zero', tokenizerLink);
  assert.throws(() => data.Tokenizer.fromFile(tokenizerLink), {
    message: `cannot read ${tokenizerLink}: not a regular file (a device, pipe or socket)`,
  });
});

// ---- images ------------------------------------------------------------------------------------

test('images: headers claiming more pixels than their data holds are refused fast, by decodeImage and by the header check', () => {
  const files = {
    // 68 bytes claiming 20000² (above the pixel limit), and 12000² (below it): neither can be a picture.
    png20000: rgbPng(20000, 20000, new Uint8Array(10)),
    png12000: rgbPng(12000, 12000, new Uint8Array(10)),
    jpeg20000: jpegClaiming(20000).claiming.subarray(0, 645),
    jpeg12000: jpegClaiming(12000).claiming,
  };
  const paths = Object.fromEntries(
    Object.keys(files).map((name) => [name, join(dir, `${name}.${name.startsWith('png') ? 'png' : 'jpg'}`)]),
  );
  for (const [name, bytes] of Object.entries(files)) writeFileSync(paths[name], bytes);
  assert.equal(files.png20000.length, 68);
  const { result, ms } = inChild(
    `${CATCH} const paths = ${JSON.stringify(paths)}; const out = {};
     for (const [name, path] of Object.entries(paths)) out[name] = [message(() => data.loadImage(path)), message(() => data.inspectImageFile(path)), message(() => data.loadImage(path, { maxImagePixels: 5e8 }))];
     out.rss = process.memoryUsage().rss; return out;`,
  );
  const out = result as Record<string, string[]> & { rss: number };
  const tooMany = (path: string, side: number) =>
    `${path}: ${side}×${side} pixels is more than 178,956,970 (PIL's decompression-bomb limit): refused before decoding; raise the limit with maxImagePixels if the image is meant`;
  assert.equal(out.png20000[0], tooMany(paths.png20000, 20000));
  assert.equal(out.png20000[1], tooMany(paths.png20000, 20000));
  assert.equal(out.jpeg20000[0], tooMany(paths.jpeg20000, 20000));
  assert.equal(out.jpeg20000[1], tooMany(paths.jpeg20000, 20000));
  // Under the limit (or with it raised), the data size gives them away.
  assert.equal(
    out.png12000[0],
    `${paths.png12000}: too little pixel data: 12000×12000 pixels need 432,012,000 bytes, the image data holds 11 compressed bytes, which cannot inflate to that (truncated or corrupt PNG)`,
  );
  assert.equal(
    out.png12000[1],
    `${paths.png12000}: too little pixel data: 12000×12000 pixels need 432,012,000 bytes, which a 68-byte file cannot inflate to (truncated or corrupt PNG)`,
  );
  assert.match(out.png20000[2], /png20000\.png: too little pixel data: 20000×20000 pixels need 1,200,020,000 bytes/);
  const jpegSize = jpegClaiming(12000).claiming.length;
  for (const message of [out.jpeg12000[0], out.jpeg12000[1]]) {
    assert.equal(
      message,
      `${paths.jpeg12000}: too little image data: 12000×12000 pixels need at least 281,250 bytes of JPEG data, the file has ${jpegSize.toLocaleString('en-US')} (truncated or corrupt JPEG)`,
    );
  }
  assert.match(
    out.jpeg20000[2],
    /jpeg20000\.jpg: too little image data: 20000×20000 pixels need at least 781,250 bytes of JPEG data, the file has 645/,
  );
  assert.ok(ms < 3000, `${ms} ms`);
  assert.ok(out.rss < 400e6, `${out.rss} bytes resident`);
});

test('images: a PNG with too little pixel data is an error, not black pixels; whole images still decode', () => {
  const rows = 4 * (1 + 4 * 3);
  const full = new Uint8Array(rows).map((_, i) => (i % 13 === 0 ? 0 : i));
  const decoded = data.decodeImage(rgbPng(4, 4, full), 'whole.png');
  assert.deepEqual(Array.from(decoded.data.subarray(0, 6)), [1, 2, 3, 4, 5, 6]);
  assert.throws(() => data.decodeImage(rgbPng(4, 4, full.subarray(0, 30)), 'short.png'), {
    message:
      'short.png: too little pixel data: 4×4 pixels need 52 bytes, the image data holds 30 (truncated or corrupt PNG)',
  });
  assert.throws(() => data.decodeImage(rgbPng(0, 4, full), 'empty.png'), {
    message: 'empty.png: corrupt PNG: 0×4 pixels',
  });
  // More data than the rows need is ignored, as by PIL.
  const extra = Buffer.concat([full, new Uint8Array(20)]);
  assert.deepEqual(Array.from(data.decodeImage(rgbPng(4, 4, extra), 'extra.png').data), Array.from(decoded.data));
});

test('images: maxImagePixels lowers or raises the limit for decodeImage, the folder check and the decode workers', async () => {
  const png = goodPng();
  assert.throws(
    () => data.decodeImage(png, 'a.png', { maxImagePixels: 63 }),
    /a\.png: 8×8 pixels is more than 63: refused before decoding; raise the limit with maxImagePixels/,
  );
  assert.equal(data.decodeImage(png, 'a.png', { maxImagePixels: 64 }).width, 8);
  assert.throws(
    () => data.decodeImage(png, 'a.png', { maxImagePixels: 0 }),
    /maxImagePixels must be a positive integer, got 0/,
  );
  const folder = join(dir, 'limit');
  for (const name of ['cats', 'dogs']) {
    mkdirSync(join(folder, name), { recursive: true });
    writeFileSync(join(folder, name, 'a.png'), png);
  }
  assert.throws(
    () => data.ImageFolderDataset.fromFolder(folder, { maxImagePixels: 10 }),
    /2 bad files:\n {2}.*cats\/a\.png: 8×8 pixels is more than 10/,
  );
  const unchecked = data.ImageFolderDataset.fromFolder(folder, {
    verify: 'none',
    maxImagePixels: 10,
    decodeWorkers: 1,
  });
  try {
    await assert.rejects(
      unchecked.getAsync(0),
      (e: Error) => e instanceof data.BadImageError && /cats\/a\.png: 8×8 pixels is more than 10/.test(e.message),
    );
  } finally {
    await unchecked.close();
  }
  const checked: number[] = [];
  const ok = data.ImageFolderDataset.fromFolder(folder, {
    verify: 'decode',
    onVerifyProgress: (done, total) => checked.push(done, total),
  });
  assert.equal(ok.length, 2);
  assert.deepEqual(checked, [1, 2, 2, 2]);
});

// ---- text length -------------------------------------------------------------------------------

test('tokenizer: long texts are cut before tokenising, to the same input ids; a 10 MB text is fast', async () => {
  const tokenizer = data.Tokenizer.fromFile(BERT_TOKENIZER_DIR);
  const words = ['the', 'film', 'was', 'extraordinarily', 'good', 'unbelievable!', '12345', 'ok'];
  const long = Array.from({ length: 4000 }, (_, i) => words[(i * 7) % words.length]).join(' ');
  assert.ok(long.length > 16 * data.MAX_CHARS_PER_TOKEN * 10);
  const all = (await tokenizer.encode(long, { truncation: false })).inputIds;
  const body = all.slice(1, -1);
  const right = await tokenizer.encode(long, { maxLength: 16 });
  assert.deepEqual(right.inputIds, [all[0], ...body.slice(0, 14), all[all.length - 1]]);
  const left = await tokenizer.encode(long, { maxLength: 16, truncationSide: 'left' });
  assert.deepEqual(left.inputIds, [all[0], ...body.slice(-14), all[all.length - 1]]);
  // A pair, longest_first: both long, each keeps its share, as without the cut.
  const pairAll = await tokenizer.encode(long, long.slice(3), { truncation: false });
  const pair = await tokenizer.encode(long, long.slice(3), { maxLength: 20 });
  assert.equal(pair.inputIds.length, 20);
  const separator = pair.inputIds.indexOf(all[all.length - 1]);
  assert.deepEqual(pair.inputIds.slice(0, separator), pairAll.inputIds.slice(0, separator));
  const batch = await tokenizer.encodeBatch([long, 'short'], { maxLength: 16 });
  assert.deepEqual(batch[0].inputIds, right.inputIds);

  const huge = 'word '.repeat(2_000_000);
  const started = Date.now();
  const encoded = await tokenizer.encode(huge, { maxLength: 512 });
  assert.equal(encoded.inputIds.length, 512);
  assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);

  // Characters that give no tokens (or one huge word) make a cut give too few tokens: the cut grows
  // until the encoding is the whole text's, in encode and in encodeBatch alike.
  for (const sparse of [
    `${' '.repeat(5000)}hello world`,
    `${'a'.repeat(5000)} hello world`,
    `hello ${'x'.repeat(3000)}`,
  ]) {
    const whole = (await tokenizer.encode(sparse, { truncation: false })).inputIds;
    const cut = await tokenizer.encode(sparse, { maxLength: 16 });
    assert.deepEqual(cut.inputIds, whole.length <= 16 ? whole : [...whole.slice(0, 15), whole[whole.length - 1]]);
    const settled = await tokenizer.encodeBatchSettled([sparse, 'fine'], null, { maxLength: 16 });
    assert.deepEqual((settled[0] as data.Encoding).inputIds, cut.inputIds);
    assert.equal((settled[1] as data.Encoding).inputIds.length, 3);
    const left = await tokenizer.encode(sparse, { maxLength: 16, truncationSide: 'left' });
    assert.deepEqual(
      left.inputIds,
      whole.length <= 16 ? whole : [whole[0], ...whole.slice(1, -1).slice(-14), whole[whole.length - 1]],
    );
  }
});

test('causal-LM data: empty files, missing columns, non-text cells, bad conversations and prompts that fill the block are errors naming file and line', async () => {
  const tokenizer = data.Tokenizer.fromFile('test/fixtures/causal-lm/llama3-style');
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const load = (path: string, options: Partial<data.CausalLmDataOptions> = {}) =>
    data.CausalLmDataset.fromFile(path, { tokenizer, blockSize: 16, ...options });
  const emptyTxt = write('empty.txt', '');
  await assert.rejects(load(emptyTxt), (e: Error) => e.message === `${emptyTxt}:1: empty file (no text)`);
  await assert.rejects(load(write('empty.jsonl', '\n\n')), /empty\.jsonl:1: empty file/);
  await assert.rejects(
    load(write('short.txt', 'two words\n')),
    /short\.txt:1: no examples: \d+ tokens in all, fewer than one block of 16/,
  );
  const noColumn = write('no-column.jsonl', '{"text": "fine"}\n{"body": "no text here"}\n');
  await assert.rejects(load(noColumn), /no-column\.jsonl:2: missing column 'text' \(columns there: body\)/);
  await assert.rejects(load(write('no-column.csv', 'body\nfine\n')), /no-column\.csv:1: .*'text'/);
  await assert.rejects(
    load(write('pairs.jsonl', '{"question": "q", "answer": "a"}\n'), {
      promptColumn: 'prompt',
      responseColumn: 'answer',
    }),
    /pairs\.jsonl:1: missing column 'prompt'/,
  );
  await assert.rejects(
    load(write('number.jsonl', '{"text": "ok"}\n{"text": 12}\n')),
    /number\.jsonl:2: column 'text' is number, not a string/,
  );
  const chats = write(
    'chats.jsonl',
    [
      '{"messages": "hi"}',
      '{"messages": [{"role": "user"}]}',
      '{"messages": [{"role": "user", "content": "hi"}]}',
    ].join('\n'),
  );
  await assert.rejects(
    load(chats, { messagesColumn: 'messages' }),
    /chats\.jsonl:1: column 'messages' is string, not a list of messages/,
  );
  const skipped = await load(
    write(
      'chats2.jsonl',
      `${readFileSync(chats, 'utf8')}\n{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n`,
    ),
    { messagesColumn: 'messages', onBadRow: 'skip', blockSize: 64 },
  );
  assert.equal(skipped.length, 1);
  assert.deepEqual(
    skipped.skippedRows.map((row) => `${row.line}: ${row.reason}`),
    [
      "1: column 'messages' is string, not a list of messages",
      '2: column \'messages\' message 0 is not { "role": string, "content": string }',
      "3: column 'messages' has no assistant message to train on",
    ],
  );
  const longPrompt = write(
    'long-prompt.jsonl',
    `${JSON.stringify({ prompt: 'word '.repeat(40), response: ' yes' })}\n`,
  );
  await assert.rejects(
    load(longPrompt, { promptColumn: 'prompt', responseColumn: 'response', chatTemplate: false }),
    /long-prompt\.jsonl:1: the prompt takes at least 16 tokens, the whole block of 16: no response token is left to train on/,
  );
  await assert.rejects(
    load(longPrompt, { promptColumn: 'prompt', responseColumn: 'response' }),
    /long-prompt\.jsonl:1: the prompt takes at least 16 tokens/,
  );
  await assert.rejects(load(noColumn, { blockSize: 1 }), /blockSize must be an integer of at least 2/);
  await assert.rejects(
    load(write('pairs.txt', 'hello\n'), { promptColumn: 'p', responseColumn: 'r' }),
    /a text file has no columns/,
  );
  await assert.rejects(
    load(write('all-bad.jsonl', '{"text": 1}\n'), { onBadRow: 'skip' }),
    /all-bad\.jsonl:1: no examples: every row is bad \(1 skipped; the first, line 1: column 'text' is number/,
  );
});

test('causal-LM data: a 10 MB line or prompt is cut before tokenising when unpacked (fast); a long line packs whole into blocks', async () => {
  const tokenizer = data.Tokenizer.fromFile('test/fixtures/causal-lm/gpt2-style');
  const path = join(dir, 'huge-line.jsonl');
  writeFileSync(path, `${JSON.stringify({ text: 'the film '.repeat(1_200_000) })}\n{"text": "short"}\n`);
  let started = Date.now();
  const unpacked = await data.CausalLmDataset.fromFile(path, { tokenizer, blockSize: 64, packing: false });
  assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  assert.deepEqual([unpacked.length, unpacked.lengthOf(0), unpacked.truncatedExamples], [2, 64, 1]);
  const promptPath = join(dir, 'huge-prompt.jsonl');
  writeFileSync(promptPath, `${JSON.stringify({ prompt: 'word '.repeat(2_000_000), response: 'ok' })}\n`);
  started = Date.now();
  await assert.rejects(
    data.CausalLmDataset.fromFile(promptPath, {
      tokenizer,
      blockSize: 64,
      promptColumn: 'prompt',
      responseColumn: 'response',
    }),
    /huge-prompt\.jsonl:1: the prompt takes at least 64 tokens/,
  );
  assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  // Packed, every token counts: a long line is tokenised whole (at the tokenizers library's speed, as in Python).
  const longPath = join(dir, 'long-line.jsonl');
  const long = 'the film '.repeat(20_000);
  writeFileSync(longPath, `${JSON.stringify({ text: long })}\n{"text": "short"}\n`);
  const packed = await data.CausalLmDataset.fromFile(longPath, { tokenizer, blockSize: 1024 });
  const total =
    (await tokenizer.encode(long)).inputIds.length + 1 + (await tokenizer.encode('short')).inputIds.length + 1;
  assert.deepEqual([packed.length, packed.droppedTokens], [Math.floor(total / 1024), total % 1024]);
});

// ---- the CLI -----------------------------------------------------------------------------------

function finetune(cwd: string, ...args: string[]) {
  return runCli(args, { cwd });
}

test('CLI: a bad image anywhere in the folder stops train before step 1 (exit 1, named); --skip-bad-rows leaves it out and names it', () => {
  const user = join(dir, 'cli-images');
  const png = goodPng();
  for (const name of ['cats', 'dogs']) {
    mkdirSync(join(user, 'pets', name), { recursive: true });
    for (let k = 0; k < 6; k++) writeFileSync(join(user, 'pets', name, `${k}.png`), png);
  }
  // Right header and end, too little pixel data: the header check passes it, decoding does not.
  writeFileSync(join(user, 'pets', 'dogs', 'z-short.png'), rgbPng(8, 8, new Uint8Array(40)));
  const train = (...flags: string[]) =>
    finetune(
      user,
      'train',
      '--model',
      'resnet18',
      '--image-folder',
      'pets',
      '--image-size',
      '32',
      '--max-steps',
      '1',
      '--per-device-train-batch-size',
      '2',
      '--report=false',
      '--output-dir',
      'out',
      ...flags,
    );
  const bad = train();
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(
    bad.stderr,
    'finetune train: image folder pets: 1 bad file:\n  pets/dogs/z-short.png: too little pixel data: 8×8 pixels need 200 bytes, the image data holds 40 (truncated or corrupt PNG)\nPass --skip-bad-rows to leave them out.\n',
  );
  const skipped = train('--skip-bad-rows');
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(
    skipped.stderr,
    /^note: --skip-bad-rows left out 1 bad file of pets:\n {2}pets\/dogs\/z-short\.png: too little pixel data/,
  );
  assert.match(skipped.stdout, /data: train 12 images from pets \(2 classes: cats, dogs\), 1 bad file skipped/);

  const limited = train('--max-image-pixels', '63');
  assert.equal(limited.code, 1);
  assert.match(
    limited.stderr,
    /pets\/cats\/0\.png: 8×8 pixels is more than 63: refused before decoding; raise the limit with --max-image-pixels if the image is meant/,
  );
  const zero = train('--max-image-pixels', '0');
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--max-image-pixels must be a positive integer, got 0/);
  const verify = train('--verify-images', 'everything');
  assert.equal(verify.code, 2);
  assert.match(verify.stderr, /--verify-images must be one of decode, header, got 'everything'/);
});

test('CLI: a data file that is not a file, or lacks a label column, is a data error (exit 1) naming it', () => {
  const user = join(dir, 'cli-text');
  mkdirSync(user);
  const model = writeTinyBertModelFolder(join(user, 'tiny-bert'), { num_hidden_layers: 1 });
  const train = (file: string, ...flags: string[]) =>
    finetune(
      user,
      'train',
      '--model',
      model,
      '--train-file',
      file,
      '--max-steps',
      '1',
      '--max-length',
      '8',
      '--report=false',
      '--output-dir',
      'out',
      ...flags,
    );

  symlinkSync('/dev/zero', join(user, 'zero.csv'));
  const started = Date.now();
  const zero = train('zero.csv');
  assert.equal(zero.code, 1);
  assert.equal(zero.stderr, 'finetune train: cannot read zero.csv: not a regular file (a device, pipe or socket)\n');
  assert.ok(Date.now() - started < 60_000);

  writeFileSync(join(user, 'texts.csv'), 'text\na fine film\na dull film\n');
  const noLabel = train('texts.csv');
  assert.equal(noLabel.code, 1, noLabel.stderr);
  assert.equal(
    noLabel.stderr,
    'finetune train: texts.csv:1: which column is the label? give --label-column (columns: text)\n',
  );
  const named = train('texts.csv', '--label-column', 'sentiment');
  assert.equal(named.code, 1);
  assert.equal(named.stderr, "finetune train: texts.csv:1: no column 'sentiment' (--label-column; columns: text)\n");

  const lines = ['review,sentiment'];
  for (let i = 0; i < 40; i++) lines.push(`review number ${i},${i % 2 ? 'positive' : 'negative'}`);
  lines.splice(5, 0, 'a row,with,too many fields', 'another,bad,row');
  writeFileSync(join(user, 'reviews.csv'), `${lines.join('\n')}\n`);
  const skipped = train('reviews.csv', '--skip-bad-rows');
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(
    skipped.stderr,
    /^note: --skip-bad-rows left out 2 bad rows of reviews\.csv:\n {2}reviews\.csv:6: 3 fields, the header has 2\n {2}reviews\.csv:7: 3 fields, the header has 2\n/,
  );
});

test('CLI: the verification progress bar draws on a terminal for large folders only, and is erased at the end', async () => {
  const { verifyProgress } = await import('../src/cli/core/data-check.js');
  const written: string[] = [];
  const terminal = { isTTY: true, columns: 100, write: (text: string) => void written.push(text) };
  const draw = verifyProgress('the images of pets', terminal);
  draw(1, 500);
  draw(500, 500);
  assert.deepEqual(written, [`\r\x1b[Kchecking the images of pets ▕${' '.repeat(30)}▏ 1/500`, '\r\x1b[K']);
  written.length = 0;
  verifyProgress('small', terminal)(1, 10);
  verifyProgress('a log', { write: (text: string) => void written.push(text) })(1, 500);
  assert.deepEqual(written, []);
});
