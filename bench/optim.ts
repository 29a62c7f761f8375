/**
 * The finetune side of the optim benchmark; bench/optim_torch.py is the PyTorch side and
 * bench/optim-compare.ts (`compare.js --suite optim`) runs both, interleaved, and compares.
 *
 *   node build/ts/bench/optim.js --threads N --serve     the protocol of bench/optim-shared.ts
 *   node build/ts/bench/optim.js --threads N --kind adamw [--fused false] [--steps N]   alone: a JSON summary
 *
 * The parameters are bert-base's (createModel('bert-base-uncased'), BertForSequenceClassification,
 * 2 labels: 201 tensors, 109M values), each with a random gradient set once; a step is
 * `optimizer.step()` alone.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  createModel,
  getNumThreads,
  keep,
  manualSeed,
  noGrad,
  optim,
  randn,
  runtimeInfo,
  setNumThreads,
  tidy,
  type Tensor,
} from 'finetune';

import { median, serveCommands } from './shared.js';
import type { OptimConfig, OptimSetup, OptimSetupReply } from './optim-shared.js';
import { parseFlags } from './driver.js';

function rssKb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

let params: Tensor[] | undefined;
let optimizer: optim.Optimizer | undefined;

function setup(request: OptimSetup): OptimSetupReply {
  if (params !== undefined) throw new Error('setup: already set up');
  const start = performance.now();
  manualSeed(request.seed);
  const model = createModel('bert-base-uncased', { architecture: 'BertForSequenceClassification', numLabels: 2 });
  params = model.parameters();
  noGrad(() => {
    for (const p of params!) p.grad = keep(tidy(() => randn(p.shape).mul(1e-3)));
  });
  return {
    shapes: params.map((p) => p.shape),
    params: params.reduce((n, p) => n + p.numel(), 0),
    paramTensors: params.length,
    setupMs: performance.now() - start,
    rssKb: rssKb(),
  };
}

function timedSteps(steps: number): number[] {
  if (!optimizer) throw new Error('steps before optimizer');
  const stepMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    optimizer.step();
    stepMs.push(performance.now() - start);
  }
  return stepMs;
}

function makeOptimizer(config: OptimConfig): { warmupMs: number[] } {
  if (!params) throw new Error('optimizer before setup');
  optimizer?.dispose();
  const fused = config.fused ?? true;
  optimizer =
    config.kind === 'adamw'
      ? new optim.AdamW(params, { fused })
      : new optim.SGD(params, { lr: 1e-3, momentum: 0.9, fused });
  return { warmupMs: timedSteps(config.warmupSteps) };
}

function info() {
  return {
    engine: 'finetune',
    runtime: `node ${process.version}`,
    torchVersion: runtimeInfo().torchVersion,
    threads: getNumThreads(),
  };
}

const COMMANDS: Record<string, (rest: string) => unknown> = {
  info: () => info(),
  setup: (rest) => setup(JSON.parse(rest) as OptimSetup),
  optimizer: (rest) => makeOptimizer(JSON.parse(rest) as OptimConfig),
  steps: (rest) => {
    const before = process.resourceUsage();
    const stepMs = timedSteps(Number(rest));
    const after = process.resourceUsage();
    return {
      stepMs,
      minorFaults: after.minorPageFault - before.minorPageFault,
      cpuSeconds: (after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1e6,
    };
  },
};

const USAGE = 'usage: optim.js [--threads N] (--serve | --kind adamw|sgd [--fused false] [--steps N])';

function main(): void {
  const defaults = {
    threads: availableParallelism(),
    serve: false,
    kind: undefined as string | undefined,
    fused: 'true',
    steps: 5,
  };
  const options = parseFlags(process.argv.slice(2), USAGE, defaults, {
    '--kind': ['kind', 'text'],
    '--fused': ['fused', 'text'],
  });
  const { kind, steps } = options;
  const fused = options.fused !== 'false';
  setNumThreads(options.threads);
  if (options.serve) return serveCommands(COMMANDS);
  if (kind !== 'adamw' && kind !== 'sgd') throw new Error('give --serve or --kind adamw|sgd');
  const setupReply = setup({ seed: 0 });
  const { warmupMs } = makeOptimizer({ kind, fused, warmupSteps: 2 });
  const stepMs = timedSteps(steps);
  process.stdout.write(
    JSON.stringify({
      ...info(),
      kind,
      fused,
      paramTensors: setupReply.paramTensors,
      params: setupReply.params,
      warmupMs,
      stepMs,
      msPerStep: median(stepMs),
    }) + '\n',
  );
}

main();
