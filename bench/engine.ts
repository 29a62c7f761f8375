/**
 * The finetune side of the engine benchmark; bench/engine_torch.py is the PyTorch side and
 * bench/compare.ts runs both, interleaved, and compares.
 *
 *   node build/ts/bench/engine.js [--threads N] [--quick]   one engine alone: prints a JSON summary
 *   node build/ts/bench/engine.js --threads N --serve       the line protocol of bench/shared.ts
 *
 * (a) per-op overhead: common ops on 1-element float32 tensors, written as a user writes them
 *     (tidy() per iteration, or explicit dispose()); µs per op.
 * (b) MLP step: x[512,768] → linear(768→3072) → GELU → linear(3072→768) → MSE loss, backward,
 *     then every grad set to null; ms per step and GFLOP/s.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  functional as F,
  getNumThreads,
  manualSeed,
  randn,
  runtimeInfo,
  setNumThreads,
  tensor,
  tidy,
  type Tensor,
} from 'finetune';

import {
  MLP,
  PER_OP,
  QUICK_DIVISOR,
  ROUNDS,
  median,
  serveCommands,
  mlpFlops,
  type EngineInfo,
  type PerOpName,
} from './shared.js';
import { parseFlags } from './driver.js';

// ---- (a) per-op workloads ------------------------------------------------------------

const a = tensor([1.5]);
const b = tensor([-0.25]);

/** One iteration of each workload, exactly as in PER_OP. */
const WORKLOADS: Record<PerOpName, () => void> = {
  mixed_tidy: () => {
    tidy(() => {
      const c = a.add(b);
      const d = c.mul(2);
      const e = d.relu();
      e.sum();
      a.mul(b).add(1).neg();
    });
  },
  mixed_dispose: () => {
    const c = a.add(b);
    const d = c.mul(2);
    const e = d.relu();
    const s = e.sum();
    const t1 = a.mul(b);
    const t2 = t1.add(1);
    const f = t2.neg();
    c.dispose();
    d.dispose();
    e.dispose();
    s.dispose();
    t1.dispose();
    t2.dispose();
    f.dispose();
  },
  add: () => a.add(b).dispose(),
  mul_scalar: () => a.mul(2).dispose(),
  relu: () => a.relu().dispose(),
  sum: () => a.sum().dispose(),
  chain: () => {
    tidy(() => {
      a.mul(b).add(1).neg();
    });
  },
};

/** Runs a workload `iterations` times; µs per op. */
function perOp(name: PerOpName, iterations: number): number {
  const body = WORKLOADS[name];
  if (body === undefined) throw new Error(`unknown workload ${name}`);
  const start = performance.now();
  for (let i = 0; i < iterations; i++) body();
  return ((performance.now() - start) * 1000) / (iterations * PER_OP[name].ops);
}

// ---- (b) MLP step --------------------------------------------------------------------

interface MlpState {
  leaves: Tensor[];
  step: () => Tensor;
}

let mlpState: MlpState | undefined;

/** Creates the data (seeded, in the same order as engine_torch.py) and runs the warm-up steps. */
function mlpSetup(): { state: MlpState; firstLoss: number } {
  const { batch, dIn, dHidden } = MLP;
  manualSeed(0);
  // Created outside any scope: they live until the process ends.
  const x = randn([batch, dIn]).requiresGrad_(true);
  const w1 = tidy(() =>
    randn([dHidden, dIn])
      .mul(1 / Math.sqrt(dIn))
      .requiresGrad_(true),
  );
  const b1 = tidy(() => randn([dHidden]).mul(0.01).requiresGrad_(true));
  const w2 = tidy(() =>
    randn([dIn, dHidden])
      .mul(1 / Math.sqrt(dHidden))
      .requiresGrad_(true),
  );
  const b2 = tidy(() => randn([dIn]).mul(0.01).requiresGrad_(true));
  const target = randn([batch, dIn]);
  const leaves = [x, w1, b1, w2, b2];

  // One training step as a user writes it: forward, loss, backward, grads reset.
  const step = (): Tensor =>
    tidy(() => {
      const h = F.linear(x, w1, b1);
      const g = F.gelu(h);
      const y = F.linear(g, w2, b2);
      const loss = F.mseLoss(y, target);
      loss.backward();
      for (const leaf of leaves) leaf.grad = null;
      return loss;
    });

  const first = step();
  const firstLoss = first.item();
  first.dispose();
  for (let i = 1; i < MLP.warmupSteps; i++) step().dispose();
  return { state: { leaves, step }, firstLoss };
}

/** Runs `steps` steps; ms of each. */
function mlp(steps: number): { stepMs: number[]; firstLoss?: number } {
  let firstLoss: number | undefined;
  if (mlpState === undefined) {
    const setup = mlpSetup();
    mlpState = setup.state;
    firstLoss = setup.firstLoss;
  }
  const stepMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    mlpState.step().dispose();
    stepMs.push(performance.now() - start);
  }
  return firstLoss === undefined ? { stepMs } : { stepMs, firstLoss };
}

// ---- driver ----------------------------------------------------------------------------

function info(): EngineInfo {
  return {
    engine: 'finetune',
    runtime: `node ${process.version}`,
    torchVersion: runtimeInfo().torchVersion,
    threads: getNumThreads(),
  };
}

const COMMANDS: Record<string, (rest: string) => unknown> = {
  info: () => info(),
  perop: (rest) => {
    const [name, count] = rest.split(/\s+/);
    return { usPerOp: perOp(name as PerOpName, Number(count)) };
  },
  mlp: (rest) => mlp(Number(rest)),
};

/** This engine alone: warm-up, then blocks of each workload; medians. */
function standalone(quick: boolean): void {
  const rounds = quick ? ROUNDS.quick : ROUNDS.full;
  const perOpResults: Record<string, { usPerOp: number; samples: number[] }> = {};
  for (const name of Object.keys(PER_OP) as PerOpName[]) {
    const iterations = quick ? PER_OP[name].iterations / QUICK_DIVISOR : PER_OP[name].iterations;
    perOp(name, iterations);
    const samples = Array.from({ length: rounds.perOp }, () => perOp(name, iterations));
    perOpResults[name] = { usPerOp: median(samples), samples };
  }
  const { firstLoss } = mlp(0);
  const stepMs = mlp(rounds.mlp * rounds.mlpStepsPerBlock).stepMs;
  const ms = median(stepMs);
  const result = {
    ...info(),
    perOp: perOpResults,
    mlp: { msPerStep: ms, gflops: mlpFlops() / (ms * 1e6), stepMs, firstLoss },
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

const USAGE = 'usage: engine.js [--threads N] [--quick] [--serve]';

function main(): void {
  const { threads, quick, serve } = parseFlags(process.argv.slice(2), USAGE, {
    threads: availableParallelism(),
    quick: false,
    serve: false,
  });
  setNumThreads(threads);
  if (serve) serveCommands(COMMANDS);
  else standalone(quick);
}

main();
