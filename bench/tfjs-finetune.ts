/**
 * The finetune side of the TensorFlow.js suite (bench/compare-tfjs.ts); bench/tfjs.ts is the TF.js side.
 *
 *   node build/ts/bench/tfjs-finetune.js --threads N --serve                    the protocol of bench/tfjs-shared.ts
 *   node build/ts/bench/tfjs-finetune.js --threads N --workload mlp [--steps N]  one workload alone: a JSON summary
 *
 * The same steps as the TF.js side, on the same numbers, written as a finetune user writes them
 * (F.linear, F.gelu, F.layerNorm, F.scaledDotProductAttention, F.crossEntropy), all in one tidy():
 * forward, loss, backward, every gradient set to null.
 */
import { availableParallelism } from 'node:os';

import {
  fromTypedArray,
  functional as F,
  getNumThreads,
  runtimeInfo,
  setNumThreads,
  tidy,
  type Tensor,
} from 'finetune';

import { processMemory } from './shared.js';
import { parseFlags } from './driver.js';
import {
  TRANSFORMER,
  mlpArrays,
  runTfjsEngine,
  transformerArrays,
  type ArraySpec,
  type TfjsEngine,
} from './tfjs-shared.js';

/** A leaf tensor of `spec`'s numbers (outside any scope: it lives as long as the process). */
function leaf(spec: ArraySpec): Tensor {
  const t = fromTypedArray(spec.data, spec.shape);
  return spec.trainable ? t.requiresGrad_(true) : t;
}

interface Workload {
  leaves: Tensor[];
  loss: () => Tensor;
}

function mlp(seed: number): Workload {
  const a = mlpArrays(seed);
  const [x, w1, b1, w2, b2, target] = [a.x, a.w1, a.b1, a.w2, a.b2, a.target].map(leaf);
  return {
    leaves: [x, w1, b1, w2, b2],
    loss: () => F.mseLoss(F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2), target),
  };
}

function transformer(seed: number): Workload {
  const { batch: B, seqLen: T, hidden: H, heads, layers, lnEps } = TRANSFORMER;
  const arrays = transformerArrays(seed);
  const input = leaf(arrays.input);
  const labels = fromTypedArray(
    BigInt64Array.from(arrays.labels, (v) => BigInt(v)),
    [B],
  );
  const w = new Map(arrays.weights.map((spec) => [spec.name, leaf(spec)] as const));
  const get = (name: string): Tensor => w.get(name)!;
  const linear = (x: Tensor, name: string): Tensor => F.linear(x, get(`${name}.weight`), get(`${name}.bias`));
  const norm = (x: Tensor, name: string): Tensor =>
    F.layerNorm(x, [H], get(`${name}.weight`), get(`${name}.bias`), lnEps);
  const split = (x: Tensor): Tensor => x.reshape(B, T, heads, H / heads).transpose(1, 2); // [B, heads, T, d]
  return {
    leaves: [...w.values()],
    loss: () => {
      let x = input;
      for (let l = 0; l < layers; l++) {
        const p = `layer${l}`;
        const q = split(linear(x, `${p}.q`));
        const k = split(linear(x, `${p}.k`));
        const v = split(linear(x, `${p}.v`));
        const context = F.scaledDotProductAttention(q, k, v).transpose(1, 2).reshape(B, T, H);
        x = norm(x.add(linear(context, `${p}.o`)), `${p}.ln1`);
        x = norm(x.add(linear(F.gelu(linear(x, `${p}.ffn1`)), `${p}.ffn2`)), `${p}.ln2`);
      }
      return F.crossEntropy(linear(x.mean(1), 'classifier'), labels);
    },
  };
}

/** One training step: forward, loss, backward, every gradient set to null; returns the loss. */
function step(w: Workload): number {
  return tidy(() => {
    const loss = w.loss();
    loss.backward();
    for (const t of w.leaves) t.grad = null;
    return loss.item();
  });
}

const ENGINE: TfjsEngine<Workload> = {
  workloads: { mlp, transformer },
  step,
  params: (w) => w.leaves.reduce((n, t) => n + t.numel(), 0),
  info: () => ({
    engine: 'finetune',
    runtime: `node ${process.version}`,
    library: `libtorch ${runtimeInfo().torchVersion}`,
    threads: getNumThreads(),
    ...processMemory(),
  }),
};

const USAGE = 'usage: tfjs-finetune.js [--threads N] (--serve | --workload mlp|transformer [--steps N])';

function main(): void {
  const defaults = { threads: availableParallelism(), serve: false, name: undefined as string | undefined, steps: 3 };
  const { threads, serve, name, steps } = parseFlags(process.argv.slice(2), USAGE, defaults, {
    '--workload': ['name', 'text'],
  });
  setNumThreads(threads);
  runTfjsEngine(ENGINE, { serve, name, warmupSteps: (spec) => spec.warmupSteps, steps });
}

main();
