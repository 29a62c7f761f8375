// Optimizers (AdamW, Adam, SGD), clipping and gradient accumulation against PyTorch 2.13
// (test/fixtures/optim, from tools/gen_optim_fixtures.py): 100 steps on the same parameters and
// gradients for each configuration.
//   - `fused: false` (the _foreach_ path) must equal PyTorch's default (single-tensor) trajectory
//     bit for bit, parameters and state;
//   - the default fused path must be within 1e-6 of it on the parameters — absolute, relative
//     where |p| > 1 (|p| reaches 4 here, where a float32 ulp is 4.8e-7) — and within 1e-6 absolute
//     + 1e-5 relative on the state (exp_avg_sq spans 1e-9 … 40); and bit-equal to PyTorch's
//     fused=True where PyTorch's runs.
// The last bits depend on the CPU kernels libtorch picks (AVX2, AVX512, …): on a machine whose
// capability differs from the fixtures' (cases.json cpuCapability), bit-for-bit checks become
// the tolerance checks.
// Then state dicts (layout, resume bit for bit), addParamGroup, skipped parameters, zeroGrad, no
// tensor leak, errors, clipping and gradient accumulation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  loadSafetensorsSync,
  memory,
  noGrad,
  optim,
  randn,
  runtimeInfo,
  tensor,
  tidy,
  zeros,
  type Tensor,
} from 'finetune';

const dir = fileURLToPath(new URL('../../../test/fixtures/optim/', import.meta.url));
const inputs = loadSafetensorsSync(dir + 'inputs.safetensors').tensors;
const reference = loadSafetensorsSync(dir + 'reference.safetensors').tensors;

interface Case {
  name: string;
  optimizer: 'AdamW' | 'Adam' | 'SGD';
  options: Record<string, unknown>;
  groups: ({ params: number[] } & Record<string, unknown>)[];
  skip?: { param: number; every: number };
  torchFusedError: string | null;
  torchParamGroups: Record<string, unknown>[];
  stateKeys: Record<string, string[]>;
}
const fixture = JSON.parse(readFileSync(dir + 'cases.json', 'utf8')) as {
  torch: string;
  cpuCapability: string;
  steps: number;
  checkpoints: number[];
  cases: Case[];
  clipNorm: { name: string; maxNorm: number; normType: number | 'inf' }[];
  clipValue: number;
};

const PARAM_TOLERANCE = 1e-6; // absolute for |p| ≤ 1, relative above
const STATE_ATOL = 1e-6;
const STATE_RTOL = 1e-5;
/** Whether this libtorch picks the fixtures' CPU kernels: then results must match bit for bit. */
const SAME_KERNELS = runtimeInfo().config.includes(`CPU capability usage: ${fixture.cpuCapability}`);

const ref = (key: string): Tensor => {
  const t = reference.get(key);
  if (!t) throw new Error(`no ${key} in reference.safetensors`);
  return t;
};
const initial = [0, 1, 2].map((i) => inputs.get(`p${i}`)!);
const gradSeries = [0, 1, 2].map((i) => inputs.get(`grad${i}`)!);

function freshParams(): Tensor[] {
  return initial.map((p) => p.clone().requiresGrad_());
}

function build(c: Case, params: Tensor[], fused: boolean): optim.Optimizer {
  const groups = c.groups.map(({ params: indices, ...options }) => ({
    ...options,
    params: indices.map((i) => params[i]),
  }));
  const options = { ...c.options, fused } as optim.AdamOptions & optim.SGDOptions;
  if (c.optimizer === 'AdamW') return new optim.AdamW(groups, options);
  if (c.optimizer === 'Adam') return new optim.Adam(groups, options);
  return new optim.SGD(groups, options);
}

/** Sets step t's gradients (null where the case skips one), as the fixture's loop does. */
function setGrads(params: Tensor[], t: number, skip?: Case['skip']): void {
  tidy(() => {
    params.forEach((p, i) => {
      p.grad = skip && skip.param === i && t % skip.every === 0 ? null : gradSeries[i].select(0, t).clone();
    });
  });
}

function run(
  c: Case,
  fused: boolean,
  onCheckpoint: (step: number, params: Tensor[], opt: optim.Optimizer) => void,
): void {
  const params = freshParams();
  const opt = build(c, params, fused);
  for (let t = 0; t < fixture.steps; t++) {
    setGrads(params, t, c.skip);
    opt.step();
    if (fixture.checkpoints.includes(t + 1)) onCheckpoint(t + 1, params, opt);
  }
  opt.dispose();
}

const maxAbsDiff = (a: Tensor, b: Tensor): number => tidy(() => a.sub(b).abs().max().item());
/** max over elements of |a − b| − rtol·|b| (≤ atol means within tolerance). */
const excess = (a: Tensor, b: Tensor, rtol: number): number =>
  tidy(() => a.sub(b).abs().sub(b.abs().mul(rtol)).max().item());
/** max over elements of |a − b| / max(1, |b|): the parameter tolerance's measure. */
const paramError = (a: Tensor, b: Tensor): number => tidy(() => a.sub(b).abs().div(b.abs().clamp(1)).max().item());

/** Bit for bit where the kernels are the fixtures', else within the fused path's tolerances. */
function assertSame(actual: Tensor, expected: Tensor, what: string, isParam: boolean): void {
  if (SAME_KERNELS) assert.ok(actual.detach().equal(expected), `${what}: max |Δ| ${maxAbsDiff(actual, expected)}`);
  else if (isParam)
    assert.ok(paramError(actual, expected) <= PARAM_TOLERANCE, `${what}: max |Δ| ${maxAbsDiff(actual, expected)}`);
  else
    assert.ok(excess(actual, expected, STATE_RTOL) <= STATE_ATOL, `${what}: max |Δ| ${maxAbsDiff(actual, expected)}`);
}

const achieved = { params: 0, paramsAbs: 0, stateAbs: 0, stateExcess: -Infinity };

for (const c of fixture.cases) {
  test(`${c.name}: fused: false equals PyTorch's default bit for bit (params at ${fixture.checkpoints.join(', ')}; state)`, () => {
    run(c, false, (step, params, opt) => {
      params.forEach((p, i) => assertSame(p, ref(`${c.name}.step${step}.p${i}`), `step ${step} p${i}`, true));
      if (step !== fixture.steps) return;
      params.forEach((p, i) => {
        const state = opt.state.get(p) ?? {};
        assert.deepEqual(Object.keys(state), c.stateKeys[i] ?? [], `p${i} state keys`);
        for (const [key, value] of Object.entries(state))
          assertSame(value, ref(`${c.name}.state.p${i}.${key}`), `state p${i}.${key}`, false);
      });
    });
  });

  test(`${c.name}: fused (default) within ${PARAM_TOLERANCE} of PyTorch's default${c.torchFusedError ? '' : ", equal to PyTorch's fused=True"}`, () => {
    run(c, true, (step, params, opt) => {
      params.forEach((p, i) => {
        const expected = ref(`${c.name}.step${step}.p${i}`);
        const error = paramError(p, expected);
        achieved.params = Math.max(achieved.params, error);
        achieved.paramsAbs = Math.max(achieved.paramsAbs, maxAbsDiff(p, expected));
        assert.ok(error <= PARAM_TOLERANCE, `step ${step} p${i}: max |Δ|/max(1, |p|) ${error}`);
      });
      if (step !== fixture.steps) return;
      params.forEach((p, i) => {
        if (!c.torchFusedError) assertSame(p, ref(`${c.name}.fused.p${i}`), `p${i} vs torch fused`, true);
        const state = opt.state.get(p) ?? {};
        assert.deepEqual(Object.keys(state), c.stateKeys[i] ?? [], `p${i} state keys`);
        for (const [key, value] of Object.entries(state)) {
          const expected = ref(`${c.name}.state.p${i}.${key}`);
          const over = excess(value, expected, STATE_RTOL);
          achieved.stateAbs = Math.max(achieved.stateAbs, maxAbsDiff(value, expected));
          achieved.stateExcess = Math.max(achieved.stateExcess, over);
          assert.ok(over <= STATE_ATOL, `state p${i}.${key}: |Δ| − rtol·|ref| up to ${over}`);
        }
      });
    });
  });

  test(`${c.name}: stateDict has PyTorch's layout`, () => {
    const params = freshParams();
    const opt = build(c, params, true);
    setGrads(params, 0);
    opt.step();
    const sd = opt.stateDict();
    assert.equal(sd.param_groups.length, c.torchParamGroups.length);
    sd.param_groups.forEach((group, g) => {
      const torchGroup = c.torchParamGroups[g];
      for (const [key, value] of Object.entries(torchGroup)) {
        if (['foreach', 'fused', 'capturable', 'differentiable', 'decoupled_weight_decay'].includes(key)) continue;
        assert.deepEqual(group[key], value, `group ${g} ${key}`);
      }
      assert.equal(group.initial_lr, torchGroup.lr);
      const extra = Object.keys(group).filter((k) => !(k in torchGroup) && k !== 'initial_lr');
      assert.deepEqual(extra, []);
    });
    // After one step with every gradient present, every parameter has PyTorch's state keys.
    for (const [index, keys] of Object.entries(c.stateKeys))
      assert.deepEqual(Object.keys(sd.state[Number(index)] ?? {}), keys);
    assert.doesNotThrow(() => JSON.stringify(sd.param_groups));
    opt.dispose();
  });
}

test('achieved tolerances (fused vs PyTorch default)', () => {
  console.log(
    `fused vs PyTorch default over ${fixture.steps} steps: params max |Δ| ${achieved.paramsAbs.toExponential(2)}, ` +
      `max |Δ|/max(1, |p|) ${achieved.params.toExponential(2)}; state max |Δ| ${achieved.stateAbs.toExponential(2)}, ` +
      `max |Δ| − 1e-5·|ref| ${achieved.stateExcess.toExponential(2)}; bit-for-bit checks ${SAME_KERNELS ? 'on' : `off (CPU kernels differ from the fixtures' ${fixture.cpuCapability})`}`,
  );
  assert.ok(achieved.params <= PARAM_TOLERANCE);
});

// ---- state dicts and resuming -----------------------------------------------------------

/** Copies a state dict the way a trainer saves it: tensors cloned (as if written to safetensors), groups through JSON. */
function saved(sd: optim.OptimizerStateDict): optim.OptimizerStateDict {
  const state: optim.OptimizerStateDict['state'] = {};
  for (const [index, entry] of Object.entries(sd.state)) {
    state[Number(index)] = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, (v as Tensor).clone()]));
  }
  return { state, param_groups: JSON.parse(JSON.stringify(sd.param_groups)) as optim.StateDictGroup[] };
}

for (const name of ['adamw_two_groups', 'adam_amsgrad_betas', 'sgd_two_groups', 'sgd_momentum_missing_grads']) {
  for (const fused of [true, false]) {
    test(`${name} (fused: ${fused}): stateDict → new optimizer → loadStateDict resumes bit for bit`, () => {
      const c = fixture.cases.find((x) => x.name === name)!;
      const straight = freshParams();
      const straightOpt = build(c, straight, fused);
      const first = freshParams();
      const firstOpt = build(c, first, fused);
      for (let t = 0; t < 40; t++) {
        setGrads(straight, t, c.skip);
        straightOpt.step();
        setGrads(first, t, c.skip);
        firstOpt.step();
      }
      // A schedule changed the lr: the state dict carries it.
      firstOpt.paramGroups[0].lr *= 0.5;
      straightOpt.paramGroups[0].lr *= 0.5;
      const checkpoint = tidy(() => saved(firstOpt.stateDict()));
      const resumed = first.map((p) => p.detach().clone().requiresGrad_());
      firstOpt.dispose();
      const resumedOpt = build(c, resumed, fused);
      resumedOpt.loadStateDict(checkpoint);
      for (const entry of Object.values(checkpoint.state))
        for (const t of Object.values(entry)) (t as Tensor).dispose();
      assert.equal(resumedOpt.paramGroups[0].lr, straightOpt.paramGroups[0].lr);
      for (let t = 40; t < 70; t++) {
        setGrads(straight, t, c.skip);
        straightOpt.step();
        setGrads(resumed, t, c.skip);
        resumedOpt.step();
      }
      straight.forEach((p, i) => assert.ok(p.detach().equal(resumed[i].detach()), `p${i} differs after resuming`));
      straightOpt.dispose();
      resumedOpt.dispose();
    });
  }
}

test('loadStateDict accepts its own state, casts to the parameter dtype, and rejects mismatches', () => {
  const params = freshParams();
  const opt = new optim.AdamW(params);
  setGrads(params, 0);
  opt.step();
  const before = tidy(() => opt.state.get(params[0])!.exp_avg.clone());
  opt.loadStateDict(opt.stateDict()); // the given tensors alias the state being replaced
  assert.ok(opt.state.get(params[0])!.exp_avg.equal(before));
  assert.equal(opt.state.get(params[0])!.step.item(), 1);

  // float64 state for float32 parameters is cast; step stays float32; a numeric step (old files) is accepted.
  const sd = opt.stateDict();
  sd.state[0] = {
    step: 7,
    exp_avg: (sd.state[0].exp_avg as Tensor).to('float64'),
    exp_avg_sq: sd.state[0].exp_avg_sq as Tensor,
  };
  opt.loadStateDict(sd);
  assert.equal(opt.state.get(params[0])!.exp_avg.dtype, 'float32');
  assert.equal(opt.state.get(params[0])!.step.dtype, 'float32');
  assert.equal(opt.state.get(params[0])!.step.item(), 7);

  const other = new optim.AdamW([{ params: [params[0]] }, { params: [params[1], params[2]] }]);
  assert.throws(
    () => other.loadStateDict(opt.stateDict()),
    /loaded state dict has a different number of parameter groups/,
  );
  const two = new optim.AdamW([{ params: [params[0], params[1]] }, { params: [params[2]] }]);
  const sd2 = other.stateDict();
  assert.throws(
    () => two.loadStateDict(sd2),
    /loaded state dict contains a parameter group that doesn't match the size of optimizer's group/,
  );
  const bad = opt.stateDict();
  bad.state[0] = { ...bad.state[0], exp_avg: zeros([2]) };
  assert.throws(() => opt.loadStateDict(bad), /state 0\.exp_avg has shape \[2\], its parameter \[7, 5\]/);
  assert.equal(opt.state.get(params[0])!.step.item(), 7, 'a failed load changes nothing');
  before.dispose();
  opt.dispose();
});

// ---- groups, skipped parameters, zeroGrad, memory -----------------------------------------

test('addParamGroup: defaults filled, initialLr set, the new parameters step from fresh state', () => {
  const params = freshParams();
  const opt = new optim.AdamW([params[0]], { lr: 1e-2 });
  const alone = params[1].detach().clone().requiresGrad_();
  const aloneOpt = new optim.AdamW([alone], { lr: 5e-3, weightDecay: 0 });
  for (let t = 0; t < 5; t++) {
    setGrads(params, t);
    opt.step();
  }
  assert.ok(params[1].detach().equal(initial[1]), 'p1 is not in the optimizer yet');
  const group = opt.addParamGroup({ params: [params[1]], lr: 5e-3, weightDecay: 0, name: 'unfrozen' });
  assert.equal(opt.paramGroups.length, 2);
  assert.equal(group.initialLr, 5e-3);
  assert.deepEqual(group.betas, [0.9, 0.999]);
  assert.equal(group.eps, 1e-8);
  assert.equal(group.amsgrad, false);
  assert.equal(group.maximize, false);
  assert.equal(group.name, 'unfrozen');
  assert.equal(opt.paramGroups[0].initialLr, 1e-2);
  for (let t = 5; t < 15; t++) {
    setGrads(params, t);
    opt.step();
    tidy(() => {
      alone.grad = gradSeries[1].select(0, t).clone();
    });
    aloneOpt.step();
  }
  assert.ok(params[1].detach().equal(alone.detach()), 'the added group steps as a fresh optimizer would');
  assert.equal(opt.state.get(params[0])!.step.item(), 15);
  assert.equal(opt.state.get(params[1])!.step.item(), 10);
  assert.throws(
    () => opt.addParamGroup({ params: [params[1]] }),
    /some parameters appear in more than one parameter group/,
  );
  const sd = opt.stateDict();
  assert.deepEqual(
    sd.param_groups.map((g) => g.params),
    [[0], [1]],
  );
  assert.equal(sd.param_groups[1].name, 'unfrozen');
  opt.dispose();
  aloneOpt.dispose();
});

test('parameters without a grad, and frozen parameters (even with a stale grad), are untouched and get no state', () => {
  for (const make of [
    (ps: Tensor[]) => new optim.AdamW(ps),
    (ps: Tensor[]) => new optim.SGD(ps, { momentum: 0.9, weightDecay: 0.1 }),
    (ps: Tensor[]) => new optim.Adam(ps, { fused: false, weightDecay: 0.1 }),
  ]) {
    const params = freshParams();
    const opt = make(params);
    for (let t = 0; t < 3; t++) {
      setGrads(params, t);
      params[1].grad = null;
      params[2].requiresGrad_(false); // keeps its stale grad
      opt.step();
    }
    assert.ok(params[1].detach().equal(initial[1]));
    assert.ok(params[2].detach().equal(initial[2]));
    assert.ok(!params[0].detach().equal(initial[0]));
    assert.equal(opt.state.get(params[1]), undefined);
    assert.equal(opt.state.get(params[2]), undefined);
    opt.dispose();
  }
});

test('mixed dtypes in one group: each (device, dtype) bucket steps as it would alone', () => {
  for (const fused of [true, false]) {
    const a = initial[0].clone().requiresGrad_();
    const b = initial[1].to('float64').requiresGrad_();
    const soloB = initial[1].to('float64').requiresGrad_();
    const opt = new optim.AdamW([a, b], { lr: 1e-2, fused });
    const solo = new optim.AdamW([soloB], { lr: 1e-2, fused });
    for (let t = 0; t < 5; t++) {
      tidy(() => {
        a.grad = gradSeries[0].select(0, t).clone();
        b.grad = gradSeries[1].select(0, t).to('float64');
        soloB.grad = gradSeries[1].select(0, t).to('float64');
      });
      opt.step();
      solo.step();
    }
    assert.equal(opt.state.get(b)!.exp_avg.dtype, 'float64');
    assert.ok(b.detach().equal(soloB.detach()));
    opt.dispose();
    solo.dispose();
  }
});

test('zeroGrad: null by default, zeros in place with setToNone false', () => {
  const params = freshParams();
  const opt = new optim.SGD(params, { lr: 0.1 });
  setGrads(params, 0);
  opt.zeroGrad(false);
  for (const p of params) {
    const g = p.grad!;
    assert.deepEqual(g.shape, p.shape);
    assert.equal(
      tidy(() => g.abs().sum().item()),
      0,
    );
    g.dispose();
  }
  opt.zeroGrad();
  for (const p of params) assert.equal(p.grad, null);
  opt.step(); // nothing to do
  assert.ok(params[0].detach().equal(initial[0]));
});

test('no tensor leaks: memory().numTensors unchanged over 10 steps (every optimizer, both paths, clipping)', () => {
  const makers: [string, (ps: Tensor[]) => optim.Optimizer][] = [
    ['AdamW fused', (ps) => new optim.AdamW(ps, { amsgrad: true })],
    ['AdamW foreach', (ps) => new optim.AdamW(ps, { amsgrad: true, fused: false })],
    ['Adam foreach wd maximize', (ps) => new optim.Adam(ps, { weightDecay: 0.1, maximize: true, fused: false })],
    ['SGD fused', (ps) => new optim.SGD(ps, { momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
    ['SGD foreach', (ps) => new optim.SGD(ps, { momentum: 0.9, nesterov: true, weightDecay: 1e-4, fused: false })],
  ];
  for (const [label, make] of makers) {
    const params = freshParams();
    const opt = make(params);
    setGrads(params, 0);
    opt.step(); // creates the state
    const before = memory().numTensors;
    for (let t = 1; t <= 10; t++) {
      setGrads(params, t);
      optim.clipGradNorm_(params, 1.0).dispose();
      opt.step();
      opt.zeroGrad(t % 2 === 0);
    }
    opt.zeroGrad();
    setGrads(params, 0);
    opt.zeroGrad();
    assert.equal(memory().numTensors, before, label);
    opt.dispose();
  }
});

// ---- errors -------------------------------------------------------------------------------

test("bad hyperparameters throw PyTorch's messages", () => {
  const p = [randn([2], { requiresGrad: true })];
  assert.throws(() => new optim.AdamW(p, { lr: -1 }), { name: 'RangeError', message: 'Invalid learning rate: -1' });
  assert.throws(() => new optim.Adam(p, { lr: NaN }), /Invalid learning rate: NaN/);
  assert.throws(() => new optim.Adam(p, { eps: -1e-8 }), /Invalid epsilon value: -1e-8/);
  assert.throws(() => new optim.Adam(p, { betas: [1, 0.999] }), /Invalid beta parameter at index 0: 1/);
  assert.throws(() => new optim.AdamW(p, { betas: [0.9, -0.1] }), /Invalid beta parameter at index 1: -0.1/);
  assert.throws(() => new optim.AdamW(p, { weightDecay: -0.01 }), /Invalid weight_decay value: -0.01/);
  assert.throws(() => new optim.SGD(p, { lr: -0.1 }), /Invalid learning rate: -0.1/);
  assert.throws(() => new optim.SGD(p, { momentum: -0.9 }), /Invalid momentum value: -0.9/);
  assert.throws(() => new optim.SGD(p, { weightDecay: -1 }), /Invalid weight_decay value: -1/);
  assert.throws(() => new optim.SGD(p, { nesterov: true }), /Nesterov momentum requires a momentum and zero dampening/);
  assert.throws(
    () => new optim.SGD(p, { nesterov: true, momentum: 0.9, dampening: 0.1 }),
    /Nesterov momentum requires a momentum and zero dampening/,
  );
  // group overrides are checked too
  assert.throws(() => new optim.AdamW([{ params: p, lr: -1 }]), /Invalid learning rate: -1/);
  assert.throws(() => new optim.AdamW([]), /optimizer got an empty parameter list/);
  const nonLeaf = tidy(() => p[0].mul(2));
  assert.throws(() => new optim.SGD([nonLeaf]), /can't optimize a non-leaf Tensor/);
  assert.throws(
    () => new optim.SGD([{ params: p }, { params: p }]),
    /some parameters appear in more than one parameter group/,
  );
  assert.throws(
    () => new optim.SGD([1 as unknown as Tensor]),
    /optimizer can only optimize Tensors, but one of the params is number/,
  );
  // defaults, as PyTorch's
  const adamw = new optim.AdamW(p);
  assert.deepEqual(
    { ...adamw.defaults },
    { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false },
  );
  assert.equal(new optim.Adam(p).defaults.weightDecay, 0);
  assert.deepEqual(
    { ...new optim.SGD(p).defaults },
    { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false },
  );
  // named parameters, as module.namedParameters() gives them
  const named = new optim.SGD([['w', p[0]]]);
  assert.deepEqual(named.paramGroups[0].paramNames, ['w']);
  assert.deepEqual(named.stateDict().param_groups[0].param_names, ['w']);
});

// ---- clipping -----------------------------------------------------------------------------

test("clipGradNorm_ matches a hand-computed norm and PyTorch's clip_grad_norm_ (2, 1, inf)", () => {
  for (const { name, maxNorm, normType } of fixture.clipNorm) {
    const params = freshParams();
    setGrads(params, 0);
    // by hand, in double precision
    const values = params.flatMap((p) => tidy(() => Array.from(p.grad!.data() as Float32Array)));
    const byHand =
      normType === 'inf'
        ? Math.max(...values.map(Math.abs))
        : values.reduce((s, v) => s + Math.abs(v) ** normType, 0) ** (1 / normType);
    const total = optim.clipGradNorm_(params, maxNorm, normType);
    assert.ok(Math.abs(total.item() - byHand) <= 1e-6 * byHand, `${name}: ${total.item()} vs ${byHand}`);
    tidy(() => assertSame(total, ref(`${name}.total`).reshape([]), `${name}: total vs PyTorch's`, false));
    params.forEach((p, i) =>
      tidy(() => assertSame(p.grad!, ref(`${name}.g${i}`), `${name}: g${i} vs PyTorch's`, false)),
    );
    if (maxNorm < byHand) {
      const after = tidy(() =>
        optim
          .getTotalNorm(
            params.map((p) => p.grad!),
            normType,
          )
          .item(),
      );
      assert.ok(Math.abs(after - maxNorm) <= 1e-5 * maxNorm, `${name}: norm after clipping ${after}`);
    }
    total.dispose();
  }
  // nothing to clip: a zero norm
  const lonely = [randn([3], { requiresGrad: true })];
  const none = optim.clipGradNorm_(lonely, 1);
  assert.equal(none.item(), 0);
  none.dispose();
  const infinite = [tensor([1, Infinity]).requiresGrad_()];
  infinite[0].grad = tensor([1, Infinity]);
  assert.throws(
    () => optim.clipGradNorm_(infinite, 1, 2, { errorIfNonfinite: true }),
    /The total norm of order 2 for gradients from `parameters` is non-finite/,
  );
});

test("clipGradValue_ matches PyTorch's clip_grad_value_", () => {
  const params = freshParams();
  setGrads(params, 0);
  optim.clipGradValue_(params, fixture.clipValue);
  params.forEach((p, i) => tidy(() => assert.ok(p.grad!.equal(ref(`clip_value.${fixture.clipValue}.g${i}`))))); // clamping is exact
});

// ---- gradient accumulation ----------------------------------------------------------------

test('GradientAccumulation: 4 micro-batches of 2 give the gradient of the batch of 8', () => {
  const w = randn([3, 2], { requiresGrad: true });
  const x = randn([8, 3]);
  const y = randn([8, 2]);
  const lossOf = (xs: Tensor, ys: Tensor) => xs.matmul(w).sub(ys).square().mean();
  tidy(() => lossOf(x, y).backward());
  const full = tidy(() => w.grad!.clone());
  w.grad = null;
  const accumulation = new optim.GradientAccumulation(4);
  const ready: boolean[] = [];
  for (let k = 0; k < 4; k++)
    ready.push(tidy(() => accumulation.backward(lossOf(x.narrow(0, 2 * k, 2), y.narrow(0, 2 * k, 2)))));
  assert.deepEqual(ready, [false, false, false, true]);
  assert.equal(accumulation.pending, 4);
  tidy(() => assert.ok(w.grad!.allclose(full, 1e-5, 1e-7)));
  accumulation.reset();
  assert.equal(accumulation.ready, false);
  assert.throws(() => new optim.GradientAccumulation(0), /positive integer/);
  noGrad(() => full.dispose());
});
