/**
 * `finetune demo`: until the transfer-learning demo lands, a small end-to-end check that
 * the engine trains: a 2-layer MLP fitted to a synthetic regression task with autograd.
 */
import { functional as F, manualSeed, memory, noGrad, randn, tidy, type Tensor } from '../index.js';
import { parseFlags } from './args.js';

export function runDemo(argv: string[]): number {
  const flags = parseFlags(argv, { steps: 'number', lr: 'number', seed: 'number' });
  const steps = (flags.steps as number | undefined) ?? 500;
  const lr = (flags.lr as number | undefined) ?? 0.1;
  manualSeed((flags.seed as number | undefined) ?? 0);

  // y = sin(x·w_true) summed over features: smooth, nonlinear, learnable by a small MLP
  const inputs = 16;
  const hidden = 64;
  const x = randn([512, inputs]);
  const wTrue = randn([inputs, 1]);
  const y = tidy(() => x.matmul(wTrue).sin());

  const params = tidy(() => ({
    w1: randn([hidden, inputs]).mul(1 / Math.sqrt(inputs)).requiresGrad_(),
    b1: randn([hidden]).mul(0).requiresGrad_(),
    w2: randn([1, hidden]).mul(1 / Math.sqrt(hidden)).requiresGrad_(),
    b2: randn([1]).mul(0).requiresGrad_(),
  }));
  const list: Tensor[] = Object.values(params);

  console.log(`Fitting a ${inputs}→${hidden}→1 MLP to y = sin(x·w) on 512 synthetic samples (${steps} steps of SGD, lr ${lr})`);
  const started = performance.now();
  let first = 0;
  let last = 0;
  for (let step = 1; step <= steps; step++) {
    last = tidy(() => {
      const h = F.relu(F.linear(x, params.w1, params.b1));
      const loss = F.mseLoss(F.linear(h, params.w2, params.b2), y);
      loss.backward();
      noGrad(() => {
        for (const p of list) {
          const grad = p.grad!;
          p.sub_(grad, lr);
          p.grad = null;
        }
      });
      return loss.item();
    });
    if (step === 1) first = last;
    if (step === 1 || step % Math.max(1, Math.floor(steps / 10)) === 0) {
      console.log(`step ${String(step).padStart(4)}  loss ${last.toFixed(5)}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)} in ${seconds.toFixed(2)} s; live tensors: ${memory().numTensors}`);
  return last < first ? 0 : 1;
}
