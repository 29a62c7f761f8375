// Learning-rate schedules against their references: every Hugging Face schedule against
// transformers.get_scheduler, OneCycleLR and ReduceLROnPlateau against torch's (fixtures from
// tools/gen_schedule_fixtures.py), fastai's one-cycle and ULMFiT's slanted triangular against
// hand-computed values; LRScheduler resume; lrFind on a real model; `finetune schedule`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { functional as F, manualSeed, memory, nn, noGrad, optim, randn, tensor, tidy, type Tensor } from 'finetune';

const FIXTURES = new URL('../../../test/fixtures/schedules/', import.meta.url);
const fixture = <T>(name: string) => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;

/** Equal up to float64 rounding of the same formula (libm's and V8's cos may differ in the last bit). */
function close(actual: number, expected: number, what: string, rel = 1e-12): void {
  const ok = Math.abs(actual - expected) <= 1e-18 + rel * Math.abs(expected);
  assert.ok(ok, `${what}: ${actual} vs ${expected}`);
}

type Group = optim.ParamGroup;
/** A stand-in optimizer: param groups only (all schedules need), plus defaults.lr as torch's optimizers have. */
function fakeOptimizer(
  lrs: number[],
  extra: (Partial<Group> | undefined)[] = [],
): optim.HasParamGroups & { defaults: { lr: number } } {
  return {
    defaults: { lr: lrs[0] },
    paramGroups: lrs.map(
      (lr, i) => ({ params: [], lr, initialLr: lr, weightDecay: 0, maximize: false, ...extra[i] }) as Group,
    ),
  };
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

interface HfCase {
  label: string;
  name: string;
  num_training_steps: number;
  num_warmup_steps: number | null;
  warmup_ratio: number | null;
  kwargs: Record<string, unknown>;
  optimizer_lrs: number[];
  rows: { step: number; lrs: number[]; last_lr: number[]; multiplier: number }[];
}

test('every Hugging Face schedule matches transformers.get_scheduler at its checkpoints (warmup edges, phase ends, last steps)', () => {
  const { cases } = fixture<{ cases: HfCase[] }>('hf.json');
  const names = new Set(cases.map((c) => c.name));
  for (const name of optim.SCHEDULE_NAMES) {
    if (!['reduce_lr_on_plateau', 'one_cycle', 'slanted_triangular'].includes(name))
      assert.ok(names.has(name), `fixture for ${name}`);
  }
  for (const c of cases) {
    const specific = Object.fromEntries(Object.entries(c.kwargs).map(([k, v]) => [camel(k), v]));
    const common = {
      numTrainingSteps: c.num_training_steps,
      ...(c.warmup_ratio !== null
        ? { warmupRatio: c.warmup_ratio }
        : c.num_warmup_steps !== null
          ? { numWarmupSteps: c.num_warmup_steps }
          : {}),
    };
    assert.equal(optim.resolveWarmupSteps(common), c.num_warmup_steps ?? 0, `${c.label}: warmup steps`);
    const opt = fakeOptimizer(c.optimizer_lrs);
    const scheduler = optim.getScheduler(c.name, opt, { ...common, ...specific });
    const pure = optim.getSchedule(c.name, { ...common, ...specific, lrInit: c.optimizer_lrs[0] });
    assert.ok(c.rows.length >= 10);
    let step = 0;
    for (const row of c.rows) {
      while (step < row.step) {
        scheduler.step();
        step++;
      }
      assert.equal(scheduler.lastStep, row.step);
      const what = `${c.label} @ step ${row.step}`;
      row.lrs.forEach((lr, g) => close(opt.paramGroups[g].lr, lr, `${what} group ${g}`));
      row.last_lr.forEach((lr, g) => close(scheduler.getLastLr()[g], lr, `${what} last lr ${g}`));
      close(pure(row.step), row.multiplier, `${what} multiplier`);
    }
  }
});

test('getScheduler validates names and options as transformers does, and warmupRatio is ceil(steps × ratio)', () => {
  const opt = fakeOptimizer([1e-3]);
  assert.throws(
    () => optim.getScheduler('cosine_annealing', opt, { numTrainingSteps: 10 }),
    /unknown schedule 'cosine_annealing'/,
  );
  assert.throws(
    () => optim.getScheduler('linear', opt, { numTrainingSteps: 10, numCycles: 2 }),
    /does not take numCycles/,
  );
  assert.throws(() => optim.getScheduler('linear', opt, {}), /requires numTrainingSteps/);
  assert.throws(
    () => optim.getScheduler('cosine_with_min_lr', opt, { numTrainingSteps: 10 }),
    /one of minLr or minLrRate/,
  );
  assert.throws(
    () => optim.getScheduler('polynomial', opt, { numTrainingSteps: 10, lrEnd: 1e-2 }),
    /must be smaller than initial lr/,
  );
  assert.throws(
    () => optim.getScheduler('linear', opt, { numTrainingSteps: 10, numWarmupSteps: 2, warmupRatio: 0.1 }),
    /not both/,
  );
  assert.equal(optim.resolveWarmupSteps({ warmupRatio: 0.1, numTrainingSteps: 1000 }), 100);
  assert.equal(optim.resolveWarmupSteps({ warmupRatio: 0.03, numTrainingSteps: 333 }), 10); // ceil(9.99)
  // the pure function is what the scheduler applies
  const f = optim.getSchedule('cosine', { warmupRatio: 0.1, numTrainingSteps: 1000 });
  assert.equal(f(0), 0);
  assert.equal(f(50), 0.5);
  assert.equal(f(100), 1);
  assert.ok(optim.getScheduler('reduce_lr_on_plateau', opt, { patience: 3 }) instanceof optim.ReduceLROnPlateau);
  assert.ok(
    optim.getScheduler('one_cycle', fakeOptimizer([1e-3], [{ momentum: 0 }]), { numTrainingSteps: 10 }) instanceof
      optim.OneCycleLR,
  );
});

interface OneCycleCase {
  label: string;
  total_steps: number;
  adam: boolean;
  optimizer_lrs: number[];
  kwargs: Record<string, unknown>;
  rows: { step: number; lrs: number[]; momentum: number[] }[];
}

test("one-cycle with style 'torch' matches torch's OneCycleLR (lr and momentum / beta1, every step)", () => {
  const { one_cycle } = fixture<{ one_cycle: OneCycleCase[] }>('torch.json');
  for (const c of one_cycle) {
    const extra = c.optimizer_lrs.map(() => (c.adam ? { betas: [0.9, 0.99] as [number, number] } : { momentum: 0.9 }));
    const opt = fakeOptimizer(c.optimizer_lrs, extra);
    const k = Object.fromEntries(Object.entries(c.kwargs).map(([key, v]) => [camel(key), v]));
    const scheduler = new optim.OneCycleLR(opt, { style: 'torch', totalSteps: c.total_steps, ...k });
    for (const row of c.rows) {
      if (row.step > 0) scheduler.step();
      row.lrs.forEach((lr, g) => close(opt.paramGroups[g].lr, lr, `${c.label} @ ${row.step} lr ${g}`));
      row.momentum.forEach((m, g) => {
        const got = c.adam ? opt.paramGroups[g].betas![0] : opt.paramGroups[g].momentum!;
        close(got, m, `${c.label} @ ${row.step} momentum ${g}`);
      });
      if (c.adam) assert.equal(opt.paramGroups[0].betas![1], 0.99);
    }
    assert.throws(() => scheduler.step(), /tried to step/);
  }
});

test("one-cycle defaults to fastai's fit_one_cycle: pct 0.25, div 25, div_final 1e5, moms (0.95, 0.85, 0.95), combined_cos at pos = step/T", () => {
  // Hand-computed from fastai's definitions, T = 100, lr_max = 1e-3:
  // SchedCos(a, b)(p) = a + (1 + cos(π(1 − p)))·(b − a)/2; phase 1 on pos ∈ [0, 0.25), phase 2 after.
  const expected: [number, number, number][] = [
    [0, 4e-5, 0.95], // pos 0: lr_max/25, moms[0]
    [
      10,
      4e-5 + ((1 + Math.cos(Math.PI * 0.6)) * (1e-3 - 4e-5)) / 2,
      0.95 + ((1 + Math.cos(Math.PI * 0.6)) * (0.85 - 0.95)) / 2,
    ], // p = 0.4
    [25, 1e-3, 0.85], // the peak
    [50, 0.0007500025, 0.875], // p = 1/3: 1e-3 + (1 + cos(2π/3))·(1e-8 − 1e-3)/2
    [99, 4.4858056472119566e-7, 0.9499561415049429], // p = 0.74/0.75: just short of lr_max/1e5
  ];
  close(expected[1][1], 0.0003716718427000253, 'hand value', 1e-15);
  const sgd = fakeOptimizer([1e-3], [{ momentum: 0.9 }]);
  const adam = fakeOptimizer([1e-3], [{ betas: [0.9, 0.999] }]);
  const s1 = optim.getScheduler('one_cycle', sgd, { numTrainingSteps: 100 });
  const s2 = new optim.OneCycleLR(adam, { totalSteps: 100 });
  let step = 0;
  for (const [at, lr, mom] of expected) {
    while (step < at) {
      s1.step();
      s2.step();
      step++;
    }
    close(sgd.paramGroups[0].lr, lr, `fastai lr @ ${at}`, 1e-12);
    close(sgd.paramGroups[0].momentum!, mom, `fastai momentum @ ${at}`, 1e-12);
    close(adam.paramGroups[0].lr, lr, `fastai lr (Adam) @ ${at}`, 1e-12);
    assert.deepEqual(
      adam.paramGroups[0].betas!.map((b, i) => (i === 0 ? Number(b.toFixed(12)) : b)),
      [Number(mom.toFixed(12)), 0.999],
    );
  }
  assert.equal(sgd.paramGroups[0].initialLr, 1e-3, 'initialLr is left alone');
  // a group without betas or momentum cannot have its momentum cycled
  assert.throws(() => new optim.OneCycleLR(fakeOptimizer([1e-3]), { totalSteps: 10 }), /neither betas nor momentum/);
  new optim.OneCycleLR(fakeOptimizer([1e-3]), { totalSteps: 10, cycleMomentum: false });
});

test("slanted triangular matches ULMFiT's formula (cut_frac 0.1, ratio 32) by hand", () => {
  // T = 1000, cut = 100: p = t/100 below the cut, then 1 − (t − 100)/(100·9); lr = 0.01·(1 + 31p)/32
  const expected: [number, number][] = [
    [0, 0.01 / 32],
    [50, 0.00515625], // p = 0.5
    [99, 0.009903125], // p = 0.99
    [100, 0.01], // the peak
    [550, 0.00515625], // p = 0.5 on the way down
    [999, (0.01 * (1 + 31 / 900)) / 32], // p = 1/900
  ];
  const opt = fakeOptimizer([0.01]);
  const scheduler = optim.getScheduler('slanted_triangular', opt, { numTrainingSteps: 1000 });
  const f = optim.slantedTriangularSchedule({ numTrainingSteps: 1000 });
  let step = 0;
  for (const [at, lr] of expected) {
    while (step < at) {
      scheduler.step();
      step++;
    }
    close(opt.paramGroups[0].lr, lr, `stlr @ ${at}`);
    close(0.01 * f(at), lr, `stlr pure @ ${at}`);
  }
});

interface PlateauCase {
  label: string;
  optimizer_lrs: number[];
  kwargs: Record<string, unknown>;
  rows: { metric: number; lrs: number[]; best: number; num_bad_epochs: number; cooldown_counter: number }[];
}

test("ReduceLROnPlateau matches torch's (modes, thresholds, cooldown, per-group min_lr, eps) and resumes from its state dict", () => {
  const { reduce_on_plateau } = fixture<{ reduce_on_plateau: PlateauCase[] }>('torch.json');
  for (const c of reduce_on_plateau) {
    const k = Object.fromEntries(
      Object.entries(c.kwargs).map(([key, v]) => [camel(key), v]),
    ) as optim.ReduceLROnPlateauOptions;
    const opt = fakeOptimizer(c.optimizer_lrs);
    const scheduler = new optim.ReduceLROnPlateau(opt, k);
    let resumed: optim.ReduceLROnPlateau | undefined;
    let resumedOpt: ReturnType<typeof fakeOptimizer> | undefined;
    c.rows.forEach((row, i) => {
      scheduler.step(row.metric);
      resumed?.step(row.metric);
      const what = `${c.label} #${i}`;
      assert.deepEqual(
        opt.paramGroups.map((g) => g.lr),
        row.lrs,
        what,
      );
      assert.deepEqual(scheduler.getLastLr(), row.lrs, what);
      assert.equal(scheduler.best, row.best, what);
      assert.equal(scheduler.numBadSteps, row.num_bad_epochs, what);
      assert.equal(scheduler.cooldownCounter, row.cooldown_counter, what);
      if (resumed)
        assert.deepEqual(
          resumedOpt!.paramGroups.map((g) => g.lr),
          row.lrs,
          `${what} (resumed)`,
        );
      if (i === 6) {
        resumedOpt = fakeOptimizer(c.optimizer_lrs);
        resumed = new optim.ReduceLROnPlateau(resumedOpt, k);
        resumed.loadStateDict(JSON.parse(JSON.stringify(scheduler.stateDict())));
      }
    });
  }
  assert.throws(() => new optim.ReduceLROnPlateau(fakeOptimizer([1]), { factor: 1 }), /factor should be < 1/);
});

test('LRScheduler: construction sets step 0, step() advances, stateDict() resumes mid-run (JSON round trip)', () => {
  const options = { numWarmupSteps: 5, numTrainingSteps: 50 };
  const reference = fakeOptimizer([1e-3, 1e-4]);
  const full = optim.getScheduler('cosine', reference, options);
  assert.deepEqual(
    reference.paramGroups.map((g) => g.lr),
    [0, 0],
  );
  const trace: number[][] = [];
  for (let i = 0; i < 40; i++) {
    trace.push(full.getLastLr());
    full.step();
  }
  const first = fakeOptimizer([1e-3, 1e-4]);
  const a = optim.getScheduler('cosine', first, options);
  for (let i = 0; i < 17; i++) a.step();
  const saved = JSON.stringify(a.stateDict());
  const second = fakeOptimizer([1e-3, 1e-4]);
  const b = optim.getScheduler('cosine', second, options);
  b.loadStateDict(JSON.parse(saved));
  assert.equal(b.lastStep, 17);
  assert.deepEqual(
    second.paramGroups.map((g) => g.lr),
    trace[17],
  );
  for (let i = 18; i < 40; i++) {
    b.step();
    assert.deepEqual(b.getLastLr(), trace[i]);
  }
  // per-group lambdas, and lastStep as PyTorch's last_epoch
  const opt = fakeOptimizer([1, 2]);
  const c = new optim.LRScheduler(opt, [(s) => s, (s) => 10 * s], { lastStep: 4 });
  assert.deepEqual(c.getLastLr(), [5, 100]);
  // one-cycle resumes its momentum too
  const o1 = fakeOptimizer([0.1], [{ momentum: 0.9 }]);
  const s1 = new optim.OneCycleLR(o1, { totalSteps: 30 });
  for (let i = 0; i < 12; i++) s1.step();
  const o2 = fakeOptimizer([0.1], [{ momentum: 0.9 }]);
  new optim.OneCycleLR(o2, { totalSteps: 30 }).loadStateDict(JSON.parse(JSON.stringify(s1.stateDict())));
  assert.deepEqual(
    [o2.paramGroups[0].lr, o2.paramGroups[0].momentum],
    [o1.paramGroups[0].lr, o1.paramGroups[0].momentum],
  );
});

/** Power iteration on a small symmetric positive semi-definite matrix. */
function largestEigenvalue(m: number[][]): number {
  let v = m.map(() => 1);
  let lambda = 0;
  for (let it = 0; it < 500; it++) {
    const w = m.map((row) => row.reduce((acc, a, j) => acc + a * v[j], 0));
    lambda = Math.hypot(...w) / Math.hypot(...v);
    const norm = Math.hypot(...w);
    v = w.map((a) => a / norm);
  }
  return lambda;
}

test("valley, minimum and steep pick fastai's points", () => {
  const losses = [
    2.0, 2.01, 1.99, 1.98, 1.95, 1.9, 1.85, 1.7, 1.5, 1.2, 0.9, 0.7, 0.6, 0.62, 0.58, 0.6, 0.8, 1.2, 2.0, 3.5,
  ];
  const lrs = losses.map((_, i) => 1e-5 * 10 ** (i / 4));
  // fastai's functions (Python) on these lists: the longest decreasing subsequence has 13 points and
  // first reaches that length at index 14, so maxStart = 14 − 13 = 1, sections = 13/3 and
  // idx = 1 + 4 + 2 = 7; the minimum is at 14; the steepest fall per log-lr between 9 and 10.
  assert.equal(optim.valley(lrs, losses)[0], lrs[7]);
  assert.equal(optim.minimum(lrs, losses)[0], lrs[14] / 10);
  assert.equal(optim.steep(lrs, losses)[0], lrs[9]);
  // a fully decreasing curve starts at −1 and Python's lrs[−1] is the last one
  assert.equal(optim.valley([1, 2], [3, 2])[0], 2);
});

test('lrFind sweeps 1e-7 → 10 on a real linear regression, stops on divergence, suggests a sensible lr and restores model and optimizer bit for bit', async () => {
  manualSeed(0);
  const model = new nn.Linear(8, 1);
  const { x, y } = tidy(() => {
    const x = randn([256, 8]);
    const y = x
      .matmul(randn([8, 1]))
      .add(0.5)
      .add(randn([256, 1]).mul(0.01));
    return { x, y };
  });
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const trainStep = () =>
    tidy(() => {
      const loss = F.mseLoss(model.forward(x) as Tensor, y);
      loss.backward();
      return Number(loss.item());
    });
  // a step first, so there is momentum state to restore
  trainStep();
  opt.step();
  opt.zeroGrad();
  const weightsBefore = [...model.stateDict()].map(([k, t]) => [k, Array.from(t.data() as Float32Array)] as const);
  const stateBefore = [...opt.state.values()].map((s) => Array.from(s.momentum_buffer.data() as Float32Array));
  const tensorsBefore = memory().numTensors;

  const result = await optim.lrFind({ optimizer: opt, model, trainStep });

  assert.equal(result.lrs[0], 1e-7);
  close(result.lrs[1], 1e-7 * 1e8 ** (1 / 100), 'second lr');
  assert.ok(result.diverged, 'an lr of 10 diverges on this problem');
  assert.ok(result.lrs.length < 100 && result.lrs.length > 50, `stopped at ${result.lrs.length}`);
  assert.equal(result.losses.length, result.lrs.length);
  close(result.smoothed[0], result.losses[0], 'bias-corrected first smoothed loss');
  const last = result.smoothed.length - 1;
  assert.ok(result.smoothed[last] > 4 * Math.min(...result.smoothed.slice(0, last)));
  // The loss is quadratic with Hessian H = (2/N)·XᵀX: gradient descent diverges above 2/λmax(H).
  // Every suggestion must be a stable lr, and not absurdly small (fastai's valley is cautious: ~1/100 of it here).
  const limit =
    2 /
    largestEigenvalue(
      tidy(
        () =>
          x.T.matmul(x)
            .mul(2 / 256)
            .toArray() as number[][],
      ),
    );
  const { valley, minimum, steep } = result.suggestions;
  for (const [name, lr] of Object.entries({ valley, minimum, steep })) {
    assert.ok(lr !== undefined && lr < limit && lr > limit / 1e4, `${name} ${lr} vs the stability limit ${limit}`);
  }
  assert.ok(valley! < minimum! * 10, 'the valley lies before the minimum');

  // restored: weights, momentum buffers, lr and momentum, no grads, no leaked tensors
  for (const [k, values] of weightsBefore)
    assert.deepEqual(Array.from(model.stateDict().get(k)!.data() as Float32Array), values, k);
  assert.deepEqual(
    [...opt.state.values()].map((s) => Array.from(s.momentum_buffer.data() as Float32Array)),
    stateBefore,
  );
  assert.equal(opt.paramGroups[0].lr, 0.01);
  assert.equal(opt.paramGroups[0].momentum, 0.9);
  assert.ok(model.parameters().every((p) => p.grad === null));
  assert.equal(memory().numTensors, tensorsBefore);

  // a fresh optimizer ends with no state; a custom snapshot/restore pair also works; no divergence stop
  const w = tensor([[0.5]]).requiresGrad_();
  const plain = new optim.SGD([w], { lr: 1 });
  const seen: number[] = [];
  const r2 = await optim.lrFind({
    optimizer: plain,
    trainStep: () =>
      tidy(() => {
        const loss = w.sub(2).square().sum();
        loss.backward();
        return Number(loss.item());
      }),
    snapshot: () => w.item(),
    restore: (v) => {
      seen.push(v);
      noGrad(() => w.fill_(v));
    },
    startLr: 1e-4,
    endLr: 1e-2,
    numIt: 20,
  });
  assert.equal(r2.lrs.length, 20);
  assert.ok(!r2.diverged);
  close(r2.lrs[19], 1e-4 * 100 ** (19 / 20), 'last lr');
  assert.deepEqual(seen, [0.5]);
  assert.equal(w.item(), 0.5);
  assert.equal(plain.state.size, 0);
  assert.equal(plain.paramGroups[0].lr, 1);
});

test('finetune schedule prints a plot and a table and writes the whole curve to --out (CSV or JSON)', () => {
  const root = process.cwd();
  const cli = join(root, 'dist', 'cli', 'main.js');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, 'schedule', ...args], { cwd: root, encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'finetune-schedule-'));
  try {
    const csv = join(dir, 'curve.csv');
    const text = run('--name', 'cosine', '--steps', '1000', '--warmup', '0.1', '--lr', '2e-5', '--out', csv);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /cosine schedule over 1000 steps, 100 warmup steps, peak lr 2\.000e-5/);
    assert.match(text.stdout, /\*/);
    assert.match(text.stdout, /^\s+100\s+1\s+2\.000e-5$/m, 'the table shows the end of warmup');
    assert.match(text.stdout, /wrote 1000 steps to/);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'step,multiplier,lr');
    assert.equal(lines.length, 1001);
    const f = optim.getSchedule('cosine', { numWarmupSteps: 100, numTrainingSteps: 1000 });
    for (const line of [lines[1], lines[100], lines[101], lines[600], lines[1000]]) {
      const [step, m, lr] = line.split(',').map(Number);
      assert.equal(m, f(step));
      assert.equal(lr, 2e-5 * f(step));
    }

    const json = run('--name', 'one_cycle', '--steps', '50', '--lr', '0.01', '--json');
    assert.equal(json.status, 0, json.stderr);
    const curve = JSON.parse(json.stdout) as { lrs: number[]; momentum: number[]; multiplier: number[] };
    assert.equal(curve.lrs.length, 50);
    close(curve.lrs[0], 0.01 / 25, 'one-cycle start');
    assert.equal(Math.max(...curve.lrs), curve.lrs[Math.round(50 * 0.25) - 0]);
    assert.equal(curve.momentum[0], 0.95);

    const out = join(dir, 'wsd.json');
    const wsd = run(
      '--name',
      'warmup_stable_decay',
      '--steps',
      '100',
      '--warmup-steps',
      '10',
      '--num-decay-steps',
      '20',
      '--decay-type',
      '1-sqrt',
      '--out',
      out,
    );
    assert.equal(wsd.status, 0, wsd.stderr);
    assert.match(wsd.stdout, /momentum|multiplier/);
    const written = JSON.parse(readFileSync(out, 'utf8')) as { multiplier: number[]; numWarmupSteps: number };
    assert.equal(written.numWarmupSteps, 10);
    assert.equal(written.multiplier[50], 1);
    assert.equal(written.multiplier[99], 1 - Math.sqrt(19 / 20));

    const plateau = run('--name', 'reduce_lr_on_plateau', '--steps', '10');
    assert.equal(plateau.status, 1);
    assert.match(plateau.stderr, /follows a metric/);
    const unknown = run('--name', 'cosine', '--steps', '10', '--power', '2');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /does not take power/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
