// JavaScript calls that reached memory libtorch had freed or never checked (issue 14, items 3,
// 4, 10, 11 and kin): each case runs in a child process, so a segfault or abort fails the test
// instead of killing the runner, and the child reports what it saw as JSON.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Inside the package, so that the children's `import 'finetune'` resolves to this build.
const scratch = mkdtempSync(join(process.cwd(), 'build', 'native-safety-'));
let cases = 0;

/** Runs `code` as an ES module in a child node and returns what it printed last, parsed. */
function inChild(code: string): unknown {
  const file = join(scratch, `case-${++cases}.mjs`);
  writeFileSync(file, code);
  const child = spawnSync(process.execPath, [file], { cwd: process.cwd(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.signal, null, `the child was killed by ${child.signal}:\n${child.stderr}`);
  assert.equal(child.status, 0, `the child exited ${child.status}:\n${child.stderr}`);
  const lines = child.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Code that prints the message of the Error `body` throws (or 'no error'). */
function errorOf(setup: string, body: string): string {
  return `import * as ft from 'finetune';
const { aten, callOp, tensor, full, ones, zeros } = ft;
${setup}
try { ${body}; console.log(JSON.stringify('no error')); }
catch (e) { console.log(JSON.stringify(e instanceof Error ? e.message : 'not an Error: ' + String(e))); }`;
}

describe('Tensor.data() never outlives the memory it shares', () => {
  test('an out= call that reallocates the storage detaches the array; writes through it are dropped', () => {
    const seen = inChild(`import { callOp, full, ones } from 'finetune';
const a = full([65536], 3);
const v = a.data();
const before = [v.length, v[0]];
callOp('aten::add', 'out', [ones([1 << 20]), ones([1 << 20])], { out: a });
for (let i = 0; i < 65536; i++) v[i] = 7;
console.log(JSON.stringify({ before, after: [v.length, v[0] ?? null], a: [a.numel(), a.data()[0], a.data()[(1 << 20) - 1]] }));`);
    assert.deepEqual(seen, { before: [65536, 3], after: [0, null], a: [1 << 20, 2, 2] });
  });

  test('resize_ and set_ detach, through a view too; in-place ops and dispose keep the array live and shared', () => {
    const seen = inChild(`import { aten, full, ones } from 'finetune';
const grown = full([1024], 1); const viewOfGrown = grown.view([32, 32]).data(); const again = grown.data();
aten.resize_(grown, [1 << 20]);
const replaced = full([1024], 1); const replacedArray = replaced.data();
aten.set__source_Tensor(replaced, ones([4]));
const updated = full([1024], 1); const live = updated.data();
updated.add_(1); aten._foreach_mul__Scalar([updated], 3);
const disposed = full([1024], 5); const kept = disposed.data(); disposed.dispose();
console.log(JSON.stringify({ view: [viewOfGrown.length, again.length], replaced: replacedArray.length, live: [live.length, live[0]], kept: [kept.length, kept[1023]] }));`);
    assert.deepEqual(seen, { view: [0, 0], replaced: 0, live: [1024, 6], kept: [1024, 5] });
  });

  test('an operator that fails after growing the storage still detaches', () => {
    const seen = inChild(`import { aten, callOp, full, ones } from 'finetune';
const a = full([16], 1); const v = a.data();
let message = 'no error';
try { callOp('aten::index_select', 'out', [ones([1 << 16]), 0, aten.arange_start_step(0, 1 << 16, 1, { dtype: 'int64' }).neg().sub(1 << 17)], { out: a }); }
catch (e) { message = e.message; }
console.log(JSON.stringify({ length: v.length, a: a.numel(), threw: message !== 'no error' }));`);
    assert.equal((seen as { threw: boolean }).threw, true);
    // The storage either stayed (array live, 16 elements) or moved (array detached): never stale.
    const { length, a } = seen as { length: number; a: number };
    assert.ok(length === 0 || (length === 16 && a === 16), JSON.stringify(seen));
  });
});

describe('sparse tensors are checked where libtorch trusts their indices', () => {
  test('_sparse_coo_tensor_unsafe with an index past the size is an Error, not a write past the end', () => {
    const message = inChild(
      errorOf(
        '',
        `callOp('aten::to_dense', '', [callOp('aten::_sparse_coo_tensor_unsafe', '', [tensor([[0, 100000000]], { dtype: 'int64' }), ones([2]), [3]])])`,
      ),
    );
    assert.match(message as string, /aten::_sparse_coo_tensor_unsafe: .*size is inconsistent with indices.*100000000/);
  });

  test('the compressed _unsafe constructors are checked too', () => {
    const message = inChild(
      errorOf(
        '',
        `callOp('aten::_sparse_csr_tensor_unsafe', '', [tensor([0, 1, 2], { dtype: 'int64' }), tensor([0, 100000000], { dtype: 'int64' }), ones([2]), [2, 2]])`,
      ),
    );
    assert.match(message as string, /aten::_sparse_csr_tensor_unsafe: .*col_indices/);
  });

  test('indices corrupted in place after a checked construction are caught at the next operator', () => {
    const message = inChild(
      errorOf(
        `const s = callOp('aten::sparse_coo_tensor', 'indices_size', [tensor([[0, 1]], { dtype: 'int64' }), ones([2]), [3]]);`,
        `callOp('aten::_indices', '', [s]).fill_(100000000); callOp('aten::to_dense', '', [s])`,
      ),
    );
    assert.match(message as string, /aten::to_dense: .*size is inconsistent with indices/);
  });

  test('a valid sparse tensor still works', () => {
    const seen = inChild(`import { callOp, tensor, ones } from 'finetune';
const s = callOp('aten::_sparse_coo_tensor_unsafe', '', [tensor([[0, 2]], { dtype: 'int64' }), ones([2]), [3]]);
console.log(JSON.stringify(callOp('aten::to_dense', '', [s]).toArray()));`);
    assert.deepEqual(seen, [1, 0, 1]);
  });
});

describe('.grad is checked as PyTorch checks it', () => {
  test('a gradient of another shape is refused at assignment, naming both shapes; the optimizer never runs on it', () => {
    const message = inChild(
      errorOf(
        `const w = zeros([1 << 20], { requiresGrad: true });`,
        `w.grad = full([1], 1); new ft.optim.SGD([w], { lr: 0.1 }).step()`,
      ),
    );
    assert.match(
      message as string,
      /assigning \.grad: the gradient \(float32 of shape \[1\] on cpu\) does not match its tensor \(float32 of shape \[1048576\] on cpu\)/,
    );
  });

  test('a gradient of another dtype is refused', () => {
    const message = inChild(
      errorOf(`const w = zeros([4], { requiresGrad: true });`, `w.grad = zeros([4], { dtype: 'float64' })`),
    );
    assert.match(message as string, /float64 of shape \[4\].*float32 of shape \[4\]/);
  });

  test('a gradient resized in place after backward fails the optimizer step and clipping with an Error', () => {
    const setup = `const w = ones([1 << 16], { requiresGrad: true }); w.sum().backward(); aten.resize_(w.grad, [1]);`;
    const step = inChild(errorOf(setup, `new ft.optim.SGD([w], { lr: 0.1 }).step()`));
    assert.match(
      step as string,
      /reading \.grad: the gradient \(float32 of shape \[1\] on cpu\) does not match its tensor \(float32 of shape \[65536\]/,
    );
    const clip = inChild(errorOf(setup, `ft.optim.clipGradNorm_([w], 1)`));
    assert.match(clip as string, /reading \.grad: .*shape \[1\]/);
  });

  test('a matching gradient is accepted and used', () => {
    const seen = inChild(`import { zeros, full, optim } from 'finetune';
const w = zeros([3], { requiresGrad: true }); w.grad = full([3], 2);
new optim.SGD([w], { lr: 0.5 }).step();
console.log(JSON.stringify(w.detach().toArray()));`);
    assert.deepEqual(seen, [-1, -1, -1]);
  });
});

describe('the fused optimizer kernels, which trust their lists', () => {
  const options = '{ lr: 0.1, beta1: 0.9, beta2: 0.99, weight_decay: 0, eps: 1e-8, amsgrad: false, maximize: false }';
  test('a gradient or state of another shape is an Error naming both shapes (it segfaulted)', () => {
    const adam = inChild(
      errorOf(
        'const p = zeros([1 << 20]);',
        `aten._fused_adam_([p], [ones([1])], [zeros([1 << 20])], [zeros([1 << 20])], [], [zeros([])], ${options})`,
      ),
    );
    assert.match(
      adam as string,
      /aten::_fused_adam_: argument 'grads' \[0\] \(float32 of shape \[1\]\) does not match self\[0\] \(float32 of shape \[1048576\]\)/,
    );
    const state = inChild(
      errorOf(
        'const p = zeros([1 << 20]);',
        `aten._fused_adamw_([p], [ones([1 << 20])], [zeros([1])], [zeros([1 << 20])], [], [zeros([])], ${options})`,
      ),
    );
    assert.match(state as string, /aten::_fused_adamw_: argument 'exp_avgs' \[0\]/);
    const sgd = inChild(
      errorOf(
        'const p = zeros([1 << 20]);',
        'aten._fused_sgd_([p], [ones([1]), ones([1])], [], { weight_decay: 0, momentum: 0, lr: 0.1, dampening: 0, nesterov: false, maximize: false, is_first_step: false })',
      ),
    );
    assert.match(sgd as string, /aten::_fused_sgd_: argument 'grads' has 2 tensors but 'self' has 1/);
  });

  test('an empty step count is refused', () => {
    const message = inChild(
      errorOf(
        'const p = zeros([4]);',
        `aten._fused_adam_([p], [ones([4])], [zeros([4])], [zeros([4])], [], [zeros([0])], ${options})`,
      ),
    );
    assert.match(message as string, /argument 'state_steps' \[0\] must hold one element, got shape \[0\]/);
  });
});

describe('worker threads', () => {
  test('importing finetune in a worker thread is refused with advice, and the main thread keeps working', () => {
    const seen = inChild(`import { Worker } from 'node:worker_threads';
import { tensor } from 'finetune';
const x = tensor([1, 2, 3]);
const worker = new Worker("import('finetune').then(() => process.exit(0))", { eval: true });
const message = await new Promise((resolve) => { worker.on('error', (e) => resolve(e.message)); worker.on('exit', () => resolve('loaded')); });
console.log(JSON.stringify({ message, sum: x.add(1).sum().item() }));`);
    const { message, sum } = seen as { message: string; sum: number };
    assert.match(message, /finetune cannot be imported in a worker thread.*child processes \(child_process\.fork\)/);
    assert.equal(sum, 9);
  });

  test('the addon itself refuses a second thread that loads it directly', () => {
    const seen = inChild(`import { Worker } from 'node:worker_threads';
import { tensor } from 'finetune';
const x = tensor([1, 2, 3]);
const loadAddon = "require(" + JSON.stringify(${JSON.stringify(join(process.cwd(), 'build', 'Release', 'finetune.node'))}) + ")";
const worker = new Worker(loadAddon, { eval: true });
const message = await new Promise((resolve) => { worker.on('error', (e) => resolve(e.message)); worker.on('exit', () => resolve('loaded')); });
console.log(JSON.stringify({ message, sum: x.add(1).sum().item() }));`);
    const { message, sum } = seen as { message: string; sum: number };
    assert.match(message, /finetune's native addon is already in use by another JavaScript thread.*child processes/);
    assert.equal(sum, 9);
  });

  test('the image decode workers (which do not import the addon) still decode', () => {
    const seen = inChild(`import { Worker } from 'node:worker_threads';
import { PNG } from 'pngjs';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
const { DecodePool } = await import(${JSON.stringify(join(process.cwd(), 'dist', 'data', 'decode-pool.js'))});
const png = new PNG({ width: 2, height: 1 }); png.data.fill(200);
const file = join(mkdtempSync(join(tmpdir(), 'ft-')), 'a.png'); writeFileSync(file, PNG.sync.write(png));
const pool = new DecodePool(1);
const image = await pool.decode(file);
await pool.close();
console.log(JSON.stringify([image.width, image.height]));`);
    assert.deepEqual(seen, [2, 1]);
  });
});

describe('creation from JavaScript numbers', () => {
  test('a shape whose byte count overflows is refused instead of wrapping to a small buffer', () => {
    const message = inChild(errorOf('', `ft.fromTypedArray(new Float32Array(4), [2 ** 52, 2 ** 12, 4])`));
    assert.match(message as string, /shape \[4503599627370496, 4096\] of float32 has more bytes than memory can hold/);
  });

  test('negative, fractional and non-numeric shape entries are refused', () => {
    for (const shape of ['[-4]', '[2.5]', '[NaN]', "['4']"]) {
      const message = inChild(errorOf('', `ft.fromTypedArray(new Float32Array(4), ${shape})`));
      assert.match(message as string, /shape entry 0 must be a non-negative integer/);
    }
  });

  test('integers beyond int64 are refused before the cast to int64', () => {
    assert.match(
      inChild(errorOf('', 'zeros([1e20])')) as string,
      /aten::zeros: argument 'size' .*expects an integer within int64, got 100000000000000000000/,
    );
    assert.match(
      inChild(errorOf('', 'aten.full([2], 2n ** 70n, { dtype: "int64" })')) as string,
      /expects an integer within int64, got 1180591620717411303424n/,
    );
  });

  test('an array nested deeper than a tensor can have dimensions is refused, naming where (100,000 deep overflowed the stack)', () => {
    const message = inChild(errorOf('let deep = [1]; for (let i = 0; i < 100000; i++) deep = [deep];', 'tensor(deep)'));
    assert.match(
      message as string,
      /^tensor\(\): the array nests deeper than 64 levels at data(\[0\]){64} \(a tensor has at most 64 dimensions\)$/,
    );
  });
});
