// Multi-task loss weighting (optim/multi-task.ts) and label smoothing (optim/losses.ts): each
// strategy's weights after known loss sequences against hand-computed values; GradNorm against a
// PyTorch reference that uses autograd.grad(create_graph=True) (test/fixtures/multi-task/gradnorm.json,
// tools/gen_multi_task_fixtures.py); PCGrad on hand-made conflicting gradients; a two-task toy run
// where uncertainty weighting lowers the noisy task's weight and GradNorm raises the slower task's;
// label-smoothed cross entropy against torch.nn.functional.cross_entropy(label_smoothing=ε).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  functional as F,
  manualSeed,
  nn,
  noGrad,
  optim,
  randn,
  setNumThreads,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

// Tiny tensors: one thread spares the toy runs the thread pool's overhead.
setNumThreads(1);

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../test/fixtures/multi-task/${name}`, import.meta.url), 'utf8'));

interface Flat {
  shape: number[];
  values: number[];
}
const fromFlat = (t: Flat, dtype: 'float64' | 'int64' = 'float64'): Tensor =>
  tensor(t.values, { dtype }).reshape(t.shape);
const values = (t: Tensor): number[] => [...t.detach().to({ dtype: 'float64' }).reshape([-1]).data()] as number[];
const scalar = (x: number) => tensor(x, { dtype: 'float64' });

function close(actual: number, expected: number, tol = 1e-12, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what} ${actual} ≠ ${expected}`);
}
function closeAll(
  actual: number[] | Record<string, number>,
  expected: number[] | Record<string, number>,
  tol = 1e-12,
  what = '',
): void {
  const a = Array.isArray(actual) ? actual : Object.values(actual);
  const e = Array.isArray(expected) ? expected : Object.values(expected);
  if (!Array.isArray(actual) && !Array.isArray(expected)) assert.deepEqual(Object.keys(actual), Object.keys(expected));
  assert.equal(a.length, e.length, what);
  a.forEach((v, i) => close(v, e[i], tol, `${what}[${i}]`));
}

/** Plain SGD written inline: p ← p − lr·grad, then grads cleared. */
function sgd(params: Tensor[], lr: number): void {
  noGrad(() =>
    tidy(() => {
      for (const p of params) {
        const g = p.grad;
        if (g) p.sub_(g.mul(lr));
        p.grad = null;
      }
    }),
  );
}

// ---- fixed and scheduled ----------------------------------------------------------------------------

test('fixed weights: L = Σ w_i·L_i', () => {
  const mtl = new optim.MultiTaskLoss(['a', 'b', 'c'], { kind: 'fixed', weights: { a: 2, c: 0.5 } });
  assert.deepEqual(mtl.weights(), { a: 2, b: 1, c: 0.5 });
  assert.equal(mtl.forward({ a: scalar(1.5), b: scalar(3), c: scalar(4) }).item(), 2 * 1.5 + 3 + 0.5 * 4);
  assert.deepEqual(mtl.parameters(), []);
  assert.throws(() => mtl.forward({ a: scalar(1), b: scalar(1) }), /missing c/);
  assert.throws(() => mtl.forward({ a: scalar(1), b: scalar(1), c: scalar(1), d: scalar(1) }), /unknown d/);
  assert.throws(() => mtl.forward({ a: tensor([1, 2]), b: scalar(1), c: scalar(1) }), /task 'a' must be a scalar/);
  assert.throws(() => new optim.MultiTaskLoss(['a'], { kind: 'fixed', weights: { z: 1 } }), /unknown task 'z'/);
});

test('scheduled α(t): linear, cosine and step from α0 to α1 over T steps, two tasks', () => {
  const run = (shape: optim.AlphaScheduleShape) => {
    const mtl = new optim.MultiTaskLoss(['main', 'aux'], { kind: 'scheduled', from: 1, to: 0, steps: 4, shape });
    const alphas: number[] = [];
    for (let t = 0; t <= 5; t++, mtl.step()) alphas.push(mtl.weights().main);
    return { alphas, mtl };
  };
  assert.deepEqual(run('linear').alphas, [1, 0.75, 0.5, 0.25, 0, 0]);
  closeAll(run('cosine').alphas, [1, 0.8535533905932737, 0.5, 0.14644660940672627, 0, 0]);
  assert.deepEqual(run('step').alphas, [1, 1, 1, 1, 0, 0]);
  const mtl = new optim.MultiTaskLoss(['main', 'aux'], { kind: 'scheduled', from: 0.2, to: 0.6, steps: 2 });
  mtl.step();
  assert.deepEqual(mtl.weights(), { main: 0.4, aux: 0.6 });
  close(mtl.forward({ main: scalar(10), aux: scalar(1) }).item(), 0.4 * 10 + 0.6 * 1);
  assert.equal(mtl.state.alpha, 0.4);
  assert.throws(
    () => new optim.MultiTaskLoss(['a', 'b', 'c'], { kind: 'scheduled', from: 1, to: 0, steps: 3 }),
    /exactly two tasks/,
  );
});

// ---- uncertainty ------------------------------------------------------------------------------------

test('uncertainty weighting: Σ L_i/(2e^{s_i}) + s_i/2, gradients and weights after SGD steps on s', () => {
  const mtl = new optim.MultiTaskLoss(['a', 'b'], { kind: 'uncertainty' });
  const [s] = mtl.parameters();
  assert.deepEqual(mtl.weights(), { a: 0.5, b: 0.5 });
  const losses = () => ({ a: scalar(3), b: scalar(0.5) });
  close(mtl.forward(losses()).item(), 3 / 2 + 0.5 / 2, 1e-7);
  // ∂/∂s_i = −L_i·e^{−s_i}/2 + 1/2: (−1, 0.25) at s = 0; lr 0.5 → s = (0.5, −0.125)
  mtl.backward(losses());
  closeAll(values(s.grad!), [-1, 0.25], 1e-7);
  sgd([s], 0.5);
  closeAll(mtl.weights(), { a: 0.3032653298563167, b: 0.5665742265334132 }, 1e-7);
  mtl.backward(losses());
  sgd([s], 0.5);
  closeAll(mtl.state.logVariances!, { a: 0.7048979947844751, b: -0.2333564433666467 }, 1e-6);
  closeAll(mtl.weights(), { a: 0.24707948923922723, b: 0.6314157635176202 }, 1e-6);
  closeAll(mtl.state.sigmas!, { a: Math.exp(0.7048979947844751 / 2), b: Math.exp(-0.2333564433666467 / 2) }, 1e-6);
  // the fixed point: e^{s_i} = L_i, i.e. weight 1/(2·L_i)
  for (let i = 0; i < 300; i++) {
    mtl.backward(losses());
    sgd([s], 0.5);
  }
  closeAll(mtl.weights(), { a: 1 / 6, b: 1 }, 1e-5);
  mtl.dispose();
});

// ---- DWA -------------------------------------------------------------------------------------------

test('DWA: weights 1 for two epochs, then K·softmax(r/T) of epoch-average loss ratios', () => {
  const mtl = new optim.MultiTaskLoss(['a', 'b'], { kind: 'dwa' });
  assert.deepEqual(mtl.weights(), { a: 1, b: 1 });
  mtl.onEpochEnd({ a: 1, b: 1 });
  assert.deepEqual(mtl.weights(), { a: 1, b: 1 });
  mtl.onEpochEnd({ a: 0.5, b: 0.9 });
  // r = (0.5, 0.9), T = 2: 2·e^{0.25}/(e^{0.25} + e^{0.45})
  closeAll(mtl.weights(), { a: 0.900332005375044, b: 1.099667994624956 });
  close(mtl.forward({ a: scalar(2), b: scalar(1) }).item(), 0.900332005375044 * 2 + 1.099667994624956);
  closeAll(mtl.state.lossRatios!, { a: 0.5, b: 0.9 });
  mtl.onEpochEnd({ a: 0.4, b: 0.45 });
  // r = (0.8, 0.5)
  closeAll(mtl.weights(), { a: 1.0748596906874992, b: 0.9251403093125008 });
  assert.equal(mtl.state.epoch, 3);

  // epoch averages of what forward() saw, when onEpochEnd gets none
  const auto = new optim.MultiTaskLoss(['a', 'b'], { kind: 'dwa', temperature: 1 });
  for (const [a, b] of [
    [1, 2],
    [3, 2],
  ])
    auto.forward({ a: scalar(a), b: scalar(b) }); // averages 2, 2
  auto.onEpochEnd();
  for (const [a, b] of [
    [1, 1],
    [1, 3],
  ])
    auto.forward({ a: scalar(a), b: scalar(b) }); // averages 1, 2
  auto.onEpochEnd();
  // r = (0.5, 1), T = 1
  closeAll(auto.weights(), {
    a: (2 * Math.exp(0.5)) / (Math.exp(0.5) + Math.exp(1)),
    b: (2 * Math.exp(1)) / (Math.exp(0.5) + Math.exp(1)),
  });
  assert.deepEqual(auto.state.epochLosses, [
    { a: 2, b: 2 },
    { a: 1, b: 2 },
  ]);
});

// ---- GradNorm --------------------------------------------------------------------------------------

test('GradNorm by hand: G_i, targets, the weights’ gradient, the model’s gradient and renormalisation', () => {
  const W = nn.parameter(tensor([1, 2], { dtype: 'float64' }));
  const mtl = new optim.MultiTaskLoss(['lin', 'sq'], { kind: 'gradnorm', sharedParameters: W });
  // L_lin = 3·W0 (∇ = [3, 0]), L_sq = W1² (∇ = [0, 4]); first step: L(0) = (3, 4), r = (1, 1)
  const total = mtl.backward({ lin: W.select(0, 0).mul(3), sq: W.select(0, 1).square() });
  close(total.item(), 7, 1e-7);
  assert.deepEqual(values(W.grad!), [3, 4], 'the model gets ∇ Σ w_i·L_i');
  const state = mtl.state;
  closeAll(state.gradNorms!, { lin: 3, sq: 4 });
  closeAll(state.targets!, { lin: 3.5, sq: 3.5 });
  closeAll(state.inverseTrainingRates!, { lin: 1, sq: 1 });
  close(state.gradNormLoss!, 1);
  const [w] = mtl.parameters();
  // ∂/∂w_i |w_i·‖g_i‖ − target_i| = sign(G_i − target_i)·‖g_i‖
  closeAll(values(w.grad!), [-3, 4], 1e-7);
  sgd([w], 0.01); // w = (1.03, 0.96)
  mtl.step(); // → sum 2
  closeAll(mtl.weights(), { lin: 1.035175879396985, sq: 0.9648241206030149 }, 1e-7);
  mtl.dispose();
});

test('GradNorm matches the PyTorch reference (autograd.grad with create_graph) for three steps', () => {
  const ref = fixture('gradnorm.json');
  const shared = new nn.Linear(3, 4).to('float64');
  const heads = [new nn.Linear(4, 1).to('float64'), new nn.Linear(4, 1).to('float64')];
  const params: Record<string, Tensor> = {
    'shared.weight': shared.weight,
    'shared.bias': shared.bias!,
    'head0.weight': heads[0].weight,
    'head0.bias': heads[0].bias!,
    'head1.weight': heads[1].weight,
    'head1.bias': heads[1].bias!,
  };
  noGrad(() => {
    for (const [name, p] of Object.entries(params)) p.copy_(fromFlat(ref.params[name]));
  });
  const x = fromFlat(ref.x);
  const y = (ref.y as Flat[]).map((t) => fromFlat(t));
  const mtl = new optim.MultiTaskLoss(
    ['t0', 't1'],
    { kind: 'gradnorm', sharedParameters: shared.weight, alpha: ref.alpha },
    { dtype: 'float64' },
  );
  for (const step of ref.steps) {
    tidy(() => {
      const feats = shared.forward(x).tanh();
      const losses = { t0: F.mseLoss(heads[0].forward(feats), y[0]), t1: F.mseLoss(heads[1].forward(feats), y[1]) };
      closeAll([losses.t0.item(), losses.t1.item()], step.losses, 1e-12, 'losses');
      mtl.backward(losses);
    });
    const state = mtl.state;
    closeAll(state.gradNorms!, step.gradNorms, 1e-12, 'G_i');
    closeAll(state.targets!, step.targets, 1e-12, 'targets');
    close(state.gradNormLoss!, step.gradNormLoss, 1e-12, 'L_grad');
    closeAll(values(mtl.parameters()[0].grad!), step.wGrad, 1e-12, 'w.grad');
    for (const [name, p] of Object.entries(params))
      closeAll(values(p.grad!), step.grads[name].values, 1e-12, `${name}.grad`);
    sgd(Object.values(params), ref.lr);
    sgd(mtl.parameters(), ref.lrWeights);
    mtl.step();
    closeAll(mtl.weights(), step.weightsAfter, 1e-12, 'weights after');
  }
});

// ---- PCGrad ----------------------------------------------------------------------------------------

test('PCGrad: conflicting gradients projected onto each other’s normal plane, then summed', () => {
  const theta = nn.parameter(tensor([0.3, -0.2], { dtype: 'float64' }));
  const head = nn.parameter(tensor([2], { dtype: 'float64' }));
  const g1 = tensor([1, 1], { dtype: 'float64' });
  const g2 = tensor([-1, 0], { dtype: 'float64' });
  // L1 = θ·g1 + 5·h (h task-specific), L2 = θ·g2: g1·g2 = −1 < 0
  const result = optim.pcgradBackward([theta.mul(g1).sum().add(head.mul(5).sum()), theta.mul(g2).sum()], [theta]);
  // g1' = g1 − (g1·g2)/‖g2‖²·g2 = (0, 1); g2' = g2 − (g2·g1)/‖g1‖²·g1 = (−0.5, 0.5); sum (−0.5, 1.5)
  closeAll(values(theta.grad!), [-0.5, 1.5]);
  assert.deepEqual(values(head.grad!), [5], 'task-specific parameters get their plain gradient');
  assert.equal(result.conflicts, 2);
  close(result.cosines[0][1], -1 / Math.SQRT2);
  theta.grad = null;

  // no conflict: the plain sum; 'mean' halves it; existing gradients accumulate
  theta.grad = tensor([10, 10], { dtype: 'float64' });
  const none = optim.pcgradBackward(
    {
      a: theta.mul(tensor([1, 2], { dtype: 'float64' })).sum(),
      b: theta.mul(tensor([3, 0], { dtype: 'float64' })).sum(),
    },
    [theta],
    { reduction: 'mean' },
  );
  assert.equal(none.conflicts, 0);
  closeAll(values(theta.grad!), [12, 11]);
  theta.grad = null;

  // three tasks: the order of projection matters; a seeded order gives the hand-computed result
  const gs = [
    [1, 0],
    [-1, 1],
    [-1, -2],
  ].map((g) => tensor(g, { dtype: 'float64' }));
  const reference = (orders: number[][]) => {
    const raw = [
      [1, 0],
      [-1, 1],
      [-1, -2],
    ];
    const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1];
    return raw
      .map((gi, i) =>
        orders[i].reduce((pc, j) => {
          const d = dot(pc, raw[j]);
          return d < 0 ? pc.map((v, k) => v - (d / dot(raw[j], raw[j])) * raw[j][k]) : pc;
        }, gi),
      )
      .reduce((a, b) => [a[0] + b[0], a[1] + b[1]]);
  };
  // random() = 0.99 keeps Fisher–Yates' order: task i visits the others in increasing order
  optim.pcgradBackward(
    gs.map((g) => theta.mul(g).sum()),
    [theta],
    { random: () => 0.99 },
  );
  closeAll(
    values(theta.grad!),
    reference([
      [1, 2],
      [0, 2],
      [0, 1],
    ]),
  );
  theta.grad = null;
  // random() = 0 swaps them
  optim.pcgradBackward(
    gs.map((g) => theta.mul(g).sum()),
    [theta],
    { random: () => 0 },
  );
  closeAll(
    values(theta.grad!),
    reference([
      [2, 1],
      [2, 0],
      [1, 0],
    ]),
  );
  assert.notDeepEqual(
    reference([
      [1, 2],
      [0, 2],
      [0, 1],
    ]),
    reference([
      [2, 1],
      [2, 0],
      [1, 0],
    ]),
  );
});

// ---- a two-task toy run ---------------------------------------------------------------------------

/** Two regression heads on one shared Linear backbone; synthetic data; returns the model and its losses. */
function toyProblem(seed: number, targets: (x: Tensor) => [Tensor, Tensor]) {
  manualSeed(seed);
  const backbone = new nn.Linear(8, 16);
  const heads = [new nn.Linear(16, 1), new nn.Linear(16, 1)];
  const x = randn([128, 8]);
  const [ya, yb] = targets(x);
  const params = [...backbone.parameters(), ...heads[0].parameters(), ...heads[1].parameters()];
  const losses = () => {
    const h = backbone.forward(x).tanh();
    return { a: F.mseLoss(heads[0].forward(h), ya), b: F.mseLoss(heads[1].forward(h), yb) };
  };
  return { backbone, params, losses };
}

test('toy run: uncertainty weighting raises the noisy task’s σ and lowers its weight', () => {
  const { params, losses } = toyProblem(0, (x) => {
    const u = randn([8, 1]).mul(0.5);
    const clean = x.matmul(u);
    return [
      clean,
      x
        .matmul(u)
        .neg()
        .add(randn([128, 1]).mul(1.5)),
    ]; // same signal, noise σ = 1.5 on b
  });
  const mtl = new optim.MultiTaskLoss(['a', 'b'], { kind: 'uncertainty' });
  for (let step = 0; step < 300; step++) {
    tidy(() => mtl.backward(losses()));
    sgd(params, 0.05);
    sgd(mtl.parameters(), 0.05);
  }
  const { sigmas, weights } = mtl.state;
  assert.ok(sigmas!.b > 1.2 && sigmas!.a < 0.5, `σ: ${JSON.stringify(sigmas)}`);
  assert.ok(weights.b < weights.a / 4, `weights: ${JSON.stringify(weights)}`);
  // s_i tends to log L_i
  const final = tidy(() => Object.fromEntries(Object.entries(losses()).map(([k, l]) => [k, l.item()])));
  close(mtl.state.logVariances!.b, Math.log(final.b), 0.1);
});

test('toy run: GradNorm gives the task that trains slower more weight', () => {
  // a: a linear target, learned fast; b: a sign pattern of two inputs, learned slowly
  const { backbone, params, losses } = toyProblem(1, (x) => {
    const ya = x.matmul(randn([8, 1]));
    const yb = x
      .narrow(1, 0, 1)
      .mul(x.narrow(1, 1, 1))
      .sign();
    return [ya, yb];
  });
  const mtl = new optim.MultiTaskLoss(['a', 'b'], { kind: 'gradnorm', sharedParameters: backbone.weight });
  const trace: number[] = [];
  for (let step = 0; step < 150; step++) {
    tidy(() => mtl.backward(losses()));
    sgd(params, 0.05);
    sgd(mtl.parameters(), 0.01);
    mtl.step();
    if (step % 50 === 49) trace.push(mtl.weights().b);
  }
  const { weights, inverseTrainingRates } = mtl.state;
  assert.ok(inverseTrainingRates!.b > 1 && inverseTrainingRates!.a < 1, `r: ${JSON.stringify(inverseTrainingRates)}`);
  assert.ok(weights.b > 1.2 && weights.a > 0 && weights.a < 0.8, `weights: ${JSON.stringify(weights)}`);
  assert.ok(trace[0] > 1 && trace[0] < trace[1] && trace[1] < trace[2], `b's weight rises: ${trace}`);
  close(weights.a + weights.b, 2, 1e-6);
});

// ---- label smoothing -------------------------------------------------------------------------------

test('labelSmoothedCrossEntropy matches torch cross_entropy(label_smoothing=ε): values and gradients', () => {
  const { cases } = fixture('label_smoothing.json');
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    tidy(() => {
      const logits = fromFlat(c.logits).requiresGrad_();
      const target = fromFlat(c.target, c.targetDtype === 'int64' ? 'int64' : 'float64');
      const { label_smoothing: eps, reduction, ignore_index: ignoreIndex, weight } = c.options;
      const out = nn.labelSmoothedCrossEntropy(logits, target, eps, {
        reduction,
        ignoreIndex,
        weight: weight ? fromFlat(weight) : undefined,
      });
      assert.deepEqual(out.shape, c.output.shape, c.name);
      closeAll(values(out), c.output.values, 1e-12, c.name);
      out.mul(fromFlat(c.projection)).sum().backward();
      closeAll(values(logits.grad!), c.grad.values, 1e-12, `${c.name} grad`);
    });
  }
  assert.throws(
    () => nn.labelSmoothedCrossEntropy(randn([2, 3]), tensor([0, 1], { dtype: 'int64' }), 1.5),
    /epsilon must be in \[0, 1\]/,
  );
});
