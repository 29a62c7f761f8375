/**
 * Fuzz corpus: API misuse, one hand-written case per entry (the seed does not change them), with
 * every finding of issue 14 among them. A case returns when the library refused or handled the
 * misuse correctly, throws an Error naming the argument, field, file or flag when it refused, and
 * throws WrongResult when the misuse was accepted with a wrong result (stale memory, NaN weights, a
 * file written outside its folder, a CLI that died by a signal or exited with the wrong code).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, crc32, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';

import { aten, callOp, createModel, data, full, LoraConfig, loadPretrained, loadSafetensorsSync, getPeftModel, nn, noGrad, ones, optim, PeftModel, savePretrained, setNumThreads, tensor, Tensor, tidy, zeros } from 'finetune';

import { WrongResult, type Corpus, type FuzzCase } from '../fuzz.js';
import { concat } from '../fuzz-mutate.js';

const TINY_BERT = 'test/fixtures/peft/tiny-bert';
const LORA_QV = 'test/fixtures/peft/lora_qv';
const CLI = 'dist/cli/main.js';

// ---- file makers ----------------------------------------------------------------------

function pngChunk(type: string, body: Uint8Array): Uint8Array {
  const head = new DataView(new ArrayBuffer(8));
  head.setUint32(0, body.length);
  const typed = concat(Buffer.from(type, 'latin1'), body);
  const crc = new DataView(new ArrayBuffer(4));
  crc.setUint32(0, crc32(typed));
  return concat(new Uint8Array(head.buffer).subarray(0, 4), typed, new Uint8Array(crc.buffer));
}

/**
 * A zlib stream of `copies` × `block` zero bytes, made without holding them: a sync-flushed raw
 * deflate of one block refers back only to zeros, so it can be repeated, then a final empty block
 * and the Adler-32 of the zeros.
 */
function zlibOfZeros(block: number, copies: number): Uint8Array {
  const raw = deflateRawSync(new Uint8Array(block), { finishFlush: constants.Z_SYNC_FLUSH });
  const adler = new DataView(new ArrayBuffer(4));
  adler.setUint32(0, ((((block * copies) % 65521) << 16) | 1) >>> 0);
  return concat(Uint8Array.of(0x78, 0x9c), ...new Array<Uint8Array>(copies).fill(raw), deflateRawSync(new Uint8Array(0)), new Uint8Array(adler.buffer));
}

/** A PNG of any claimed size (RGB, 8 bits) whose IDAT is `pixels` deflated (or `idat` as given). */
function png(width: number, height: number, pixels: Uint8Array = Uint8Array.of(0, 0, 0, 0), idat: Uint8Array = deflateSync(pixels)): Uint8Array {
  const ihdr = new DataView(new ArrayBuffer(13));
  ihdr.setUint32(0, width);
  ihdr.setUint32(4, height);
  ihdr.setUint8(8, 8);
  ihdr.setUint8(9, 2);
  return concat(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), pngChunk('IHDR', new Uint8Array(ihdr.buffer)), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0)));
}

/** A baseline JPEG header claiming width×height, with no scan data behind it. */
function jpegClaiming(width: number, height: number): Uint8Array {
  const quant = concat(Uint8Array.of(0xff, 0xdb, 0x00, 0x43, 0x00), new Uint8Array(64).fill(1));
  const sof = Uint8Array.of(0xff, 0xc0, 0x00, 0x0b, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x01, 0x01, 0x11, 0x00);
  const counts = new Uint8Array(16);
  counts[0] = 1;
  const huffman = concat(Uint8Array.of(0xff, 0xc4, 0x00, 0x14, 0x00), counts, Uint8Array.of(0), Uint8Array.of(0xff, 0xc4, 0x00, 0x14, 0x10), counts, Uint8Array.of(0));
  const sos = Uint8Array.of(0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00);
  const body = new Uint8Array(645 - 2 - quant.length - sof.length - huffman.length - sos.length - 2);
  return concat(Uint8Array.of(0xff, 0xd8), quant, sof, huffman, sos, body, Uint8Array.of(0xff, 0xd9));
}

function jsonFile(dir: string, name: string, value: unknown, raw?: string): string {
  const path = join(dir, name);
  writeFileSync(path, raw ?? JSON.stringify(value));
  return path;
}

/** A tiny-BERT checkpoint folder whose config.json has `changes` (values as JSON text). */
function bertFolder(dir: string, changes: Record<string, string>): string {
  const config = JSON.parse(readFileSync(join(TINY_BERT, 'config.json'), 'utf8')) as Record<string, unknown>;
  for (const [key, value] of Object.entries(changes)) config[key] = JSON.parse(value);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(TINY_BERT, 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}

/** The lora_qv adapter folder with adapter_config.json fields changed. */
function adapterFolder(dir: string, changes: Record<string, unknown>): string {
  const config = { ...(JSON.parse(readFileSync(join(LORA_QV, 'adapter_config.json'), 'utf8')) as object), ...changes };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config));
  copyFileSync(join(LORA_QV, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
  return dir;
}

async function tinyBert(): Promise<nn.Module> {
  return (await loadPretrained(TINY_BERT, { warn: () => {} })).model;
}

/** The model's logits on a fixed input must be finite. */
function assertFiniteLogits(model: nn.Module): void {
  tidy(() =>
    noGrad(() => {
      model.eval();
      const output = (model as unknown as { forward(input: object): { logits: Tensor } }).forward({ inputIds: tensor([[2, 7, 9, 3]], { dtype: 'int64' }), attentionMask: tensor([[1, 1, 1, 1]], { dtype: 'int64' }) });
      if (!aten.isfinite(output.logits).all().item()) throw new WrongResult('accepted, and every logit is NaN or infinite');
    }),
  );
}

/** Loading must fail: a model built from this config is silently wrong. */
function mustRefuse(what: string, result: unknown): never {
  throw new WrongResult(`${what} was accepted: ${String(result).slice(0, 100)}`);
}

/** Runs the CLI; a signal or an abort exit is a crash, `expect` the exit code it must give. */
function cli(args: string[], expect: number, timeoutMs = 60_000): void {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, timeout: timeoutMs });
  const said = (run.stderr ?? '').trim().split('\n').slice(-2).join(' | ').slice(0, 300);
  if (run.signal) throw new WrongResult(`finetune ${args[0]} died by ${run.signal}: ${said}`);
  if (run.status !== expect) throw new WrongResult(`finetune ${args[0]} exited ${run.status}, expected ${expect}: ${said}`);
}

/** A folder of class sub-folders of 8×8 PNGs for the CLI, with `bad` added to the last class. */
function imageFolder(dir: string, bad: Uint8Array, badName: string): string {
  const root = join(dir, 'images');
  for (const label of ['a', 'b']) {
    mkdirSync(join(root, label), { recursive: true });
    // Rows of filter byte 0 then 8 RGB pixels.
    const rows = (value: number) => Uint8Array.from({ length: 8 * 25 }, (_, i) => (i % 25 === 0 ? 0 : value));
    for (let k = 0; k < 6; k++) writeFileSync(join(root, label, `${k}.png`), png(8, 8, rows(label === 'a' ? 10 * k : 255 - 10 * k)));
  }
  writeFileSync(join(root, 'b', badName), bad);
  return root;
}

function tokenizerWith(dir: string, change: (doc: Record<string, unknown>) => void): string {
  const doc = JSON.parse(readFileSync('data/bert-base-uncased/tokenizer.json', 'utf8')) as Record<string, unknown>;
  change(doc);
  return jsonFile(dir, 'tokenizer.json', doc);
}

// ---- the cases --------------------------------------------------------------------------

type Make = (dir: string) => Omit<FuzzCase, 'what'>;

const CASES: [string, Make][] = [
  // 1. A 68-byte PNG aborts the process.
  ...[2 ** 31 - 1, 2 ** 28].map((width): [string, Make] => [`#1 PNG IHDR ${width}×1 with a tiny IDAT: decodeImage`, () => ({ names: ['bomb.png'], run: () => data.decodeImage(png(width, 1), 'bomb.png') })]),
  ['#1 PNG IHDR 2^31−1×1: ImageFolderDataset verify decode, onBadFile skip', (dir) => ({
    names: ['bomb.png'],
    run: () => {
      const root = imageFolder(dir, png(2 ** 31 - 1, 1), 'bomb.png');
      const dataset = data.ImageFolderDataset.fromFolder(root, { verify: 'decode', onBadFile: 'skip' });
      if (dataset.skipped.length !== 1) throw new WrongResult(`expected the bad PNG skipped, skipped ${dataset.skipped.length}`);
    },
  })],
  ['#1 PNG IHDR 2^31−1×1: finetune train --image-folder exits 1', (dir) => ({
    names: [],
    timeoutMs: 120_000,
    run: () => cli(['train', '--model', 'resnet18', '--image-folder', imageFolder(dir, png(2 ** 31 - 1, 1), 'bomb.png'), '--output-dir', join(dir, 'out'), '--max-steps', '1', '--image-size', '8'], 1, 110_000),
  })],
  // 2. A TemplateProcessing naming an undefined special token aborts at encode time.
  ['#2 tokenizer.json template names an undefined special token: encode', (dir) => ({
    names: ['tokenizer.json'],
    run: async () => {
      const path = tokenizerWith(dir, (doc) => ((doc.post_processor as { single: unknown[] }).single.push({ SpecialToken: { id: '[NOPE]', type_id: 0 } })));
      await data.Tokenizer.fromFile(path).encode('hello');
    },
  })],
  ['#2 tokenizer.json special_tokens ids beyond the vocabulary: encode', (dir) => ({
    names: ['tokenizer.json'],
    run: async () => {
      const path = tokenizerWith(dir, (doc) => (((doc.post_processor as { special_tokens: Record<string, { ids: number[] }> }).special_tokens['[CLS]']!.ids = [10 ** 9])));
      const tokenizer = data.Tokenizer.fromFile(path);
      await tokenizer.decode((await tokenizer.encode('hello')).inputIds);
    },
  })],
  // 3. Use-after-free through Tensor.data().
  ['#3 Tensor.data() read after an out= call reallocates the storage', () => ({
    names: [],
    run: () => {
      const a = full([262144], 3);
      const view = a.data() as Float32Array;
      callOp('aten::add', 'out', [ones([1 << 24]), ones([1 << 24])], { out: a });
      if (view.length > 0 && view[0] !== 2) throw new WrongResult(`the old view reads ${view[0]} (freed memory), not 2 or a detached array`);
    },
  })],
  ['#3 Tensor.data() written after an out= call reallocates the storage', () => ({
    names: [],
    run: () => {
      const a = full([262144], 3);
      const view = a.data() as Float32Array;
      callOp('aten::add', 'out', [ones([1 << 24]), ones([1 << 24])], { out: a });
      view.fill(7);
      const after = ones([1 << 20]).sum().item();
      if (after !== 1 << 20) throw new WrongResult(`writing through the old view corrupted another tensor: ${after}`);
    },
  })],
  ['#3 Tensor.data() after resize_', () => ({
    names: [],
    run: () => {
      const a = full([1024], 3);
      const view = a.data() as Float32Array;
      callOp('aten::resize_', '', [a, [1 << 24]]);
      a.fill_(2);
      if (view.length > 0 && view[0] !== 2) throw new WrongResult(`the old view reads ${view[0]} after resize_`);
    },
  })],
  ['#3 Tensor.data() after dispose', () => ({
    names: [],
    run: () => {
      const a = full([1 << 20], 3);
      const view = a.data() as Float32Array;
      a.dispose();
      const b = full([1 << 20], 5);
      if (view.length > 0 && view[0] !== 3) throw new WrongResult(`the view of a disposed tensor reads ${view[0]}`);
      b.dispose();
    },
  })],
  // 4. Segfaults from JS calls.
  ['#4 _sparse_coo_tensor_unsafe with out-of-range indices, then to_dense', () => ({
    names: ['sparse', 'indices', 'index'],
    run: () => {
      const indices = tensor([[0, 1000000], [0, -5]], { dtype: 'int64' });
      const sparse = callOp('aten::_sparse_coo_tensor_unsafe', '', [indices, tensor([1, 2]), [2, 2]]) as Tensor;
      callOp('aten::to_dense', '', [sparse]);
    },
  })],
  ...[100000, 30000, -1, 0, 1.5, Number.NaN].map((threads): [string, Make] => [`#4 setNumThreads(${threads})`, () => ({ names: ['setNumThreads', 'threads'], run: () => setNumThreads(threads) })]),
  // 5. No bounds from config.json: must be refused fast (the 5 s timeout), naming the field.
  ...(
    [
      ['num_hidden_layers', '1e9'],
      ['num_labels', '1e9'],
      ['hidden_size', '65536'],
      ['vocab_size', '2e8'],
      ['hidden_size', '1e9'],
      ['intermediate_size', '1e12'],
      ['max_position_embeddings', '1e10'],
      ['num_attention_heads', '0'],
      ['num_hidden_layers', '-1'],
      ['hidden_size', '16.5'],
    ] as const
  ).map(([key, value]): [string, Make] => [`#5 config.json ${key}: ${value}`, (dir) => ({ names: [key], timeoutMs: 5000, run: async () => mustRefuse(`${key}: ${value}`, (await loadPretrained(bertFolder(dir, { [key]: value, ...(key === 'num_labels' ? { id2label: 'null', label2id: 'null' } : {}) }), { warn: () => {} })).model) })]),
  // 6. Decompression bombs.
  ['#6 a 1.2 MB PNG that decodes to 20000² pixels', () => ({ names: ['bomb.png'], timeoutMs: 10_000, run: () => mustRefuse('a 20000² PNG', data.decodeImage(png(20_000, 20_000, undefined, zlibOfZeros(1000 * (1 + 3 * 20_000), 20)), 'bomb.png')) })],
  ['#6 a gzipped IDX that inflates to 4 GiB', (dir) => ({
    names: ['bomb-idx3-ubyte.gz'],
    timeoutMs: 15_000,
    run: () => {
      const member = gzipSync(new Uint8Array(1 << 26));
      const header = new DataView(new ArrayBuffer(16));
      header.setUint32(0, 0x00000803);
      header.setUint32(4, (64 * (1 << 26)) / (28 * 28) >>> 0);
      header.setUint32(8, 28);
      header.setUint32(12, 28);
      const path = join(dir, 'bomb-idx3-ubyte.gz');
      writeFileSync(path, concat(gzipSync(new Uint8Array(header.buffer)), ...new Array<Uint8Array>(64).fill(member)));
      try {
        data.readIdx(path);
      } catch (error) {
        if (/corrupt or truncated/.test((error as Error).message)) throw new WrongResult(`a size limit reported as ${(error as Error).message.slice(0, 120)}`);
        throw error;
      }
    },
  })],
  ['#6 a 10 MB text field is tokenized whole', (dir) => ({
    names: ['long.csv'],
    timeoutMs: 10_000,
    run: async () => {
      const path = join(dir, 'long.csv');
      writeFileSync(path, `text,label\n${'word '.repeat(2_000_000)},a\nshort,b\nshort,a\nshort,b\n`);
      await data.TextClassificationDataset.fromFile(path, { textColumn: 'text', labelColumn: 'label', tokenizer: 'data/bert-base-uncased', maxLength: 16, allowRareLabels: true });
    },
  })],
  ['#6 a .csv symlinked to /dev/zero', (dir) => ({
    names: ['zero.csv'],
    timeoutMs: 5000,
    run: async () => {
      const path = join(dir, 'zero.csv');
      symlinkSync('/dev/zero', path);
      await data.readTable(path);
    },
  })],
  // 7. Silently wrong models.
  ['#7 adapter_config.json lora_alpha: "x"', (dir) => ({ names: ['lora_alpha'], run: async () => assertFiniteLogits(await PeftModel.fromPretrained(await tinyBert(), adapterFolder(dir, { lora_alpha: 'x' }))) })],
  ['#7 config.json hidden_act: "constructor"', (dir) => ({ names: ['hidden_act'], run: async () => mustRefuse('hidden_act "constructor"', (await loadPretrained(bertFolder(dir, { hidden_act: '"constructor"' }), { warn: () => {} })).model) })],
  ...['toString', 'constructor', '__proto__', 'hasOwnProperty'].map((preset): [string, Make] => [`#7 createModel('${preset}')`, () => ({ names: [preset], run: () => mustRefuse(`preset '${preset}'`, createModel(preset)) })]),
  ['#7 finetune train --model constructor exits 2', (dir) => ({ names: [], timeoutMs: 20_000, run: () => cli(['train', '--model', 'constructor', '--train-file', 'data/sst2/train-200.tsv', '--text-column', 'sentence', '--max-steps', '1', '--output-dir', join(dir, 'out')], 2, 10_000) })],
  ['#7 config.json architectures: ["constructor"]', (dir) => ({
    names: ['architectures', 'constructor'],
    run: async () => {
      const { model } = await loadPretrained(bertFolder(dir, { architectures: '["constructor"]' }), { warn: () => {} });
      if (!(model instanceof nn.Module)) throw new WrongResult(`loadPretrained returned a non-Module: ${String(model)}`);
      // An architecture the family does not have is skipped, as transformers does: the family's base model.
      if (model.constructor.name !== 'BertModel') throw new WrongResult(`architectures ["constructor"] built a ${model.constructor.name}`);
    },
  })],
  // 8. Adapter names escape their folder.
  ...['../../victim/escaped', '', '..', 'a/b', '/abs', 'a\\b'].map((name): [string, Make] => [`#8 addAdapter(${JSON.stringify(name)}) then savePretrained`, (dir) => ({
    names: ['adapter', JSON.stringify(name), `'${name}'`],
    run: async () => {
      const model = getPeftModel(await tinyBert(), new LoraConfig({ targetModules: ['query'], r: 2 }));
      model.addAdapter(name, new LoraConfig({ targetModules: ['value'], r: 2 }));
      const out = join(dir, 'deep', 'save');
      await model.savePretrained(out, { selectedAdapters: undefined } as never);
      const outside = readdirSync(dir).filter((entry) => entry !== 'deep');
      if (outside.length > 0 || existsSync(join(dir, 'deep', 'victim'))) throw new WrongResult(`savePretrained wrote outside ${out}: ${outside.join(', ')}`);
      if (name === '') throw new WrongResult(`an adapter named '' was accepted (it overwrites the default adapter's files)`);
    },
  })]),
  // 9. A PNG with too little pixel data decodes as zeros.
  ['#9 a PNG with too little pixel data', () => ({ names: ['short.png'], run: () => mustRefuse('a PNG missing 90% of its pixels', data.decodeImage(png(8, 8, new Uint8Array(20).fill(9)), 'short.png')) })],
  // 10. A wrong-shaped .grad.
  ['#10 w.grad = full([1], 1) then SGD step', () => ({
    names: ['grad', 'shape'],
    run: () => {
      const w = zeros([1 << 20], { requiresGrad: true });
      w.grad = full([1], 1);
      new optim.SGD([w], { lr: 0.1 }).step();
      throw new WrongResult(`a [1] grad of a [${w.shape}] parameter was accepted; w[0..2] = ${Array.from((w.data() as Float32Array).subarray(0, 2))}`);
    },
  })],
  ['#10 w.grad = full([1], 1) then clipGradNorm_', () => ({
    names: ['grad', 'shape'],
    run: () => {
      const w = zeros([1 << 16], { requiresGrad: true });
      w.grad = full([1], 1);
      const norm = optim.clipGradNorm_([w], 1);
      throw new WrongResult(`a [1] grad was accepted; clipGradNorm_ returned ${String(norm)}`);
    },
  })],
  ['#10 w.grad of another dtype', () => ({
    names: ['grad', 'dtype'],
    run: () => {
      const w = zeros([8], { requiresGrad: true });
      w.grad = zeros([8], { dtype: 'int64' });
      new optim.SGD([w], { lr: 0.1 }).step();
      throw new WrongResult('an int64 grad of a float32 parameter was accepted');
    },
  })],
  // 11. The library in a worker_thread.
  ['#11 importing finetune in a worker_thread while the main thread computes', () => ({
    names: [],
    timeoutMs: 30_000,
    // In a process of its own: a shared tensor table breaks the process's later cases.
    run: () => {
      const script = `
        import { Worker } from 'node:worker_threads';
        import { full, ones, tidy } from 'finetune';
        const worker = new Worker("import('finetune').then((f) => { for (let i = 0; i < 2000; i++) f.ones([64]).add(1).sum().item(); })", { eval: true });
        const ended = new Promise((resolve) => { worker.on('error', (e) => resolve(e.message)); worker.on('exit', () => resolve('')); });
        const kept = full([64], 2);
        for (let i = 0; i < 2000; i++) tidy(() => ones([64]).add(1).sum().item());
        const workerError = await ended;
        console.log(JSON.stringify({ workerError, sum: kept.sum().item() }));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 25_000 });
      const said = run.stderr.trim().split('\n').filter((line) => line.trim() !== '' && !/^\s+at |^Node\.js v/.test(line)).slice(-3).join(' | ').slice(0, 300);
      if (run.signal || run.status !== 0) throw new WrongResult(`the process died (${run.signal ?? `exit ${run.status}`}): ${said}`);
      const { workerError, sum } = JSON.parse(run.stdout.trim().split('\n').pop()!) as { workerError: string; sum: number };
      if (sum !== 128) throw new WrongResult(`a main-thread tensor changed while the worker ran: sum ${sum}`);
      if (workerError && !/worker/i.test(workerError)) throw new WrongResult(`the worker failed without saying why: ${workerError}`);
    },
  })],
  // 12. Catastrophic regexes.
  ['#12 adapter_config.json target_modules: "(.|.)*Z"', (dir) => ({ names: ['target_modules'], timeoutMs: 5000, run: async () => PeftModel.fromPretrained(await tinyBert(), adapterFolder(dir, { target_modules: '(.|.)*Z' })) })],
  ['#12 adapter_config.json modules_to_save: ["(a+)+$"]', (dir) => ({ names: ['modules_to_save'], timeoutMs: 5000, run: async () => PeftModel.fromPretrained(await tinyBert(), adapterFolder(dir, { modules_to_save: [`(a+)+${'a'.repeat(40)}!`] })) })],
  ['#12 LoraConfig targetModules "(.|.)*Z" through getPeftModel', () => ({ names: ['targetModules', 'target_modules'], timeoutMs: 5000, run: async () => getPeftModel(await tinyBert(), new LoraConfig({ targetModules: '(.|.)*Z' })) })],
  ['#12 tokenizer.json Split pre-tokenizer with a backtracking pattern on "aaaa…!"', (dir) => ({
    names: ['tokenizer.json', 'pre_tokenizer'],
    timeoutMs: 5000,
    run: async () => {
      const path = tokenizerWith(dir, (doc) => (doc.pre_tokenizer = { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }));
      await data.Tokenizer.fromFile(path).encode(`${'a'.repeat(5000)}!`);
    },
  })],
  ['#12 tokenizer.json Replace normalizer with an empty pattern', (dir) => ({
    names: ['tokenizer.json', 'normalizer'],
    timeoutMs: 5000,
    run: async () => {
      const path = tokenizerWith(dir, (doc) => (doc.normalizer = { type: 'Replace', pattern: { Regex: '' }, content: 'x' }));
      await data.Tokenizer.fromFile(path).encode('hello');
    },
  })],
  // 13. Planted symlinks in the output folder; header-only bombs.
  ['#13 savePretrained through a planted config.json symlink', (dir) => ({
    names: [],
    run: async () => {
      const victim = jsonFile(dir, 'victim.json', { untouched: true });
      const out = join(dir, 'out');
      mkdirSync(out);
      symlinkSync(victim, join(out, 'config.json'));
      symlinkSync(join(dir, 'victim.safetensors'), join(out, 'model.safetensors'));
      await savePretrained(await tinyBert(), out);
      if (readFileSync(victim, 'utf8') !== '{"untouched":true}' || existsSync(join(dir, 'victim.safetensors'))) throw new WrongResult('savePretrained wrote through a symlink');
    },
  })],
  ['#13 finetune train writes through planted symlinks in --output-dir', (dir) => ({
    names: [],
    timeoutMs: 120_000,
    run: () => {
      const out = join(dir, 'out');
      mkdirSync(out);
      const names = ['run_config.json', 'metrics.jsonl', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'];
      for (const name of names) {
        writeFileSync(join(dir, `victim-${name}`), 'untouched');
        symlinkSync(join(dir, `victim-${name}`), join(out, name));
      }
      cli(['train', '--model', 'bert-tiny', '--train-file', 'data/sst2/train-200.tsv', '--text-column', 'sentence', '--max-steps', '1', '--max-length', '16', '--output-dir', out], 0, 110_000);
      const overwritten = names.filter((name) => readFileSync(join(dir, `victim-${name}`), 'utf8') !== 'untouched');
      if (overwritten.length > 0) throw new WrongResult(`train wrote through symlinks: ${overwritten.join(', ')}`);
    },
  })],
  ['#13 a 69-byte PNG claiming 20000×20000 with a tiny IDAT', () => ({ names: ['huge.png'], timeoutMs: 10_000, run: () => mustRefuse('a 20000² PNG with a 4-byte IDAT', data.decodeImage(png(20_000, 20_000), 'huge.png')) })],
  ['#13 a 645-byte JPEG claiming 20000×20000', () => ({ names: ['huge.jpg'], timeoutMs: 10_000, run: () => mustRefuse('a 20000² JPEG with no scan data', data.decodeImage(jpegClaiming(20_000, 20_000), 'huge.jpg')) })],
  // 14. Unclear errors.
  ['#14 safetensors with an empty tensor of shape [0, 2^53−1, 2^53−1]', (dir) => ({
    names: ['empty.safetensors'],
    run: () => {
      const header = Buffer.from(JSON.stringify({ t: { dtype: 'F32', shape: [0, 2 ** 53 - 1, 2 ** 53 - 1], data_offsets: [0, 0] } }));
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      const path = join(dir, 'empty.safetensors');
      writeFileSync(path, Buffer.concat([length, header]));
      loadPretrainedSafetensors(path);
    },
  })],
  ['#14 safetensors with an 8 MB metadata string', (dir) => ({
    names: ['meta.safetensors'],
    run: () => {
      const header = Buffer.from(JSON.stringify({ __metadata__: { note: '['.repeat(8_000_000) }, t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      const path = join(dir, 'meta.safetensors');
      writeFileSync(path, Buffer.concat([length, header, Buffer.alloc(4)]));
      loadPretrainedSafetensors(path);
    },
  })],
  ['#14 config.json that is null', (dir) => ({ names: ['config.json'], run: async () => loadPretrained(bertFolder(dir, {}) && (writeFileSync(join(dir, 'config.json'), 'null'), dir), { warn: () => {} }) })],
  ...(['"("', '5', '[5]', '{}'] as const).map((value): [string, Make] => [`#14 adapter_config.json target_modules: ${value}`, (dir) => ({ names: ['target_modules'], timeoutMs: 5000, run: async () => PeftModel.fromPretrained(await tinyBert(), adapterFolder(dir, { target_modules: JSON.parse(value) as unknown })) })]),
  ['#14 adapter_config.json r: "8" is reported as a string', (dir) => ({
    names: ['"8"', 'string'],
    run: async () => {
      await PeftModel.fromPretrained(await tinyBert(), adapterFolder(dir, { r: '8' }));
      throw new WrongResult('r: "8" (a string) was accepted');
    },
  })],
  ['#14 finetune eval --model x.pt names the pickle, not JSON', (dir) => ({
    names: [],
    timeoutMs: 60_000,
    run: () => {
      const path = join(dir, 'x.pt');
      writeFileSync(path, Uint8Array.of(0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e));
      const run = spawnSync(process.execPath, [CLI, 'eval', '--model', path, '--eval-file', 'data/sst2/dev.tsv'], { encoding: 'utf8', timeout: 50_000 });
      if (run.signal || run.status !== 1 || /not valid JSON/.test(run.stderr)) throw new WrongResult(`eval --model x.pt: exit ${run.status ?? run.signal}: ${run.stderr.trim().slice(-200)}`);
    },
  })],
  ['#14 finetune train with a missing label column exits 1 (data), not 2 (usage)', (dir) => ({
    names: [],
    timeoutMs: 60_000,
    run: () => {
      const path = join(dir, 'nolabel.csv');
      writeFileSync(path, 'text,other\nfine,1\nbad,0\n');
      cli(['train', '--model', 'bert-tiny', '--train-file', path, '--label-column', 'label', '--max-steps', '1', '--output-dir', join(dir, 'out')], 1);
    },
  })],
  // More misuse of the tensor API: wrong types and shapes must be Errors naming the argument.
  ['tensor(): a string in the data', () => ({ names: ['tensor'], run: () => tensor(['a'] as never) })],
  ['zeros(): a negative dimension', () => ({ names: ['-1', 'shape', 'size'], run: () => zeros([-1]) })],
  ['zeros(): a NaN dimension', () => ({ names: ['NaN', 'shape', 'size'], run: () => zeros([Number.NaN]) })],
  ['zeros(): 2^53 elements', () => ({ names: ['shape', 'size', 'allocate'], run: () => zeros([2 ** 26, 2 ** 27]) })],
  ['callOp(): an unknown op', () => ({ names: ['aten::no_such_op'], run: () => callOp('aten::no_such_op', '', []) })],
  ['callOp(): a string where a tensor goes', () => ({ names: ['aten::add', 'self', 'Tensor'], run: () => callOp('aten::add', 'Tensor', ['x', 1]) })],
  ['Tensor.item() of a disposed tensor', () => ({
    names: ['dispose'],
    run: () => {
      const t = ones([1]);
      t.dispose();
      t.item();
    },
  })],
  ['Tensor.view() with an impossible shape', () => ({ names: ['view', 'shape', '[3, 5]'], run: () => ones([4, 4]).view([3, 5]) })],
  ['matmul of mismatched shapes', () => ({ names: ['matmul', 'mm', 'shape'], run: () => ones([2, 3]).matmul(ones([4, 5])) })],
  ['index_select with an out-of-range index', () => ({ names: ['index'], run: () => callOp('aten::index_select', '', [ones([4]), 0, tensor([7], { dtype: 'int64' })]) })],
  ['embedding lookup beyond the vocabulary', () => ({ names: ['index', 'range'], run: () => callOp('aten::embedding', '', [ones([4, 2]), tensor([[9]], { dtype: 'int64' })]) })],
  ['loadPretrained of a folder that does not exist', (dir) => ({ names: ['no-such-folder'], run: () => loadPretrained(join(dir, 'no-such-folder')) })],
  ['Tokenizer.encode of a non-string', () => ({ names: ['text'], run: async () => data.Tokenizer.fromFile('data/bert-base-uncased').encode(5 as never) })],
  ['LoraConfig r: -4', () => ({ names: ['r'], run: async () => getPeftModel(await tinyBert(), new LoraConfig({ targetModules: ['query'], r: -4 })) })],
  ['LoraConfig r: 1e9', () => ({ names: ['r'], timeoutMs: 5000, run: async () => getPeftModel(await tinyBert(), new LoraConfig({ targetModules: ['query'], r: 1e9 })) })],
  ['SGD with lr NaN', () => ({ names: ['lr', 'learning rate'], run: () => new optim.SGD([zeros([2], { requiresGrad: true })], { lr: Number.NaN }) })],
];

/** Reads a .safetensors file and lets its tensors go. */
function loadPretrainedSafetensors(path: string): void {
  loadSafetensorsSync(path).tensors.forEach((t) => t.dispose());
}

export const corpus: Corpus = {
  name: 'misuse',
  defaultCount: CASES.length,
  timeoutMs: 8000,
  make(_seed, index, dir) {
    const [what, make] = CASES[index % CASES.length]!;
    return { what, ...make(dir) };
  },
};
