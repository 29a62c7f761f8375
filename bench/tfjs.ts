/**
 * The TensorFlow.js side of the TensorFlow.js suite (bench/compare-tfjs.ts); bench/tfjs-finetune.ts
 * is finetune's side. @tensorflow/tfjs 4.22 with its cpu backend (@tensorflow/tfjs-backend-cpu: plain
 * JavaScript) or the wasm backend (@tensorflow/tfjs-backend-wasm: XNNPACK with SIMD; Node gets its
 * single-threaded build), installed on demand by the suite (bench/tfjs-api.ts); tfjs-node is not used (its
 * install script downloads TensorFlow's C library from outside the npm registry, which this environment
 * cannot reach).
 *
 *   node build/ts/bench/tfjs.js --backend cpu|wasm --serve                    the protocol of bench/tfjs-shared.ts
 *   node build/ts/bench/tfjs.js --backend cpu|wasm --workload mlp [--steps N]  one workload alone: a JSON summary
 *
 * The same steps as finetune's, on the same numbers, written with TF.js ops as its users write a
 * custom training step: tf.variableGrads over the variables, the gradients then disposed. TF.js has
 * no fused GELU, LayerNorm or attention op, so they are composed from its ops (GELU with tf.erf,
 * exact like PyTorch's default; LayerNorm from tf.moments; attention as matMul → softmax → matMul).
 */

import { processMemory } from './shared.js';
import { loadTfjs, type TfScalar, type TfTensor, type TfVariable } from './tfjs-api.js';
import { parseFlags } from './driver.js';
import {
  TRANSFORMER,
  mlpArrays,
  runTfjsEngine,
  transformerArrays,
  type ArraySpec,
  type TfjsEngine,
} from './tfjs-shared.js';

// TF.js prints a banner ("install our node backend") with console.log: keep stdout for the protocol.
console.log = (...args: unknown[]) => console.error(...args);
// @tensorflow/tfjs: tfjs-core with every op's gradient registered (tfjs-core alone has none) and the cpu backend.
const tf = await loadTfjs('@tensorflow/tfjs');

/**
 * How the Linear weights are laid out. The wasm backend sends a matMul to XNNPACK only when
 * neither side is transposed and the batch is 1 (tfjs-backend-wasm's batch_mat_mul_impl.cc;
 * every other product takes its generic blocked loop), so there the weights are stored [in, out],
 * as tf.layers.dense stores its kernel, and the forward is x · W. The cpu backend's loop reads B
 * contiguously along the shared dimension when it is transposed, so there they stay [out, in]
 * (PyTorch's layout) and the forward is x · Wᵀ. Each backend gets its faster form; the numbers are
 * the same.
 */
let weightsInOut = false;

/** A trainable array → tf.variable, the others → tf.tensor (kept for the process's life). */
function create(spec: ArraySpec): TfTensor {
  let t = tf.tensor(spec.data, spec.shape, 'float32');
  if (weightsInOut && spec.name.endsWith('.weight') && spec.shape.length === 2) {
    const transposed = tf.transpose(t);
    t.dispose();
    t = transposed;
  }
  if (!spec.trainable) return t;
  const v = tf.variable(t, true, spec.name);
  t.dispose();
  return v;
}

/** F.linear on 2-d x: x · Wᵀ + b with W [out, in], or x · W + b with W [in, out] (see weightsInOut). */
function linear(x: TfTensor, weight: TfTensor, bias: TfTensor): TfTensor {
  return tf.add(tf.matMul(x, weight, false, !weightsInOut), bias);
}

const SQRT1_2 = Math.SQRT1_2;

/** GELU, exact: x · ½ · (1 + erf(x / √2)). */
function gelu(x: TfTensor): TfTensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, SQRT1_2))));
}

interface Workload {
  variables: TfVariable[];
  loss: () => TfScalar;
}

function mlp(seed: number): Workload {
  const a = mlpArrays(seed);
  const [x, w1, b1, w2, b2, target] = [a.x, a.w1, a.b1, a.w2, a.b2, a.target].map(create);
  return {
    variables: [x, w1, b1, w2, b2] as TfVariable[],
    loss: () => tf.mean(tf.squaredDifference(linear(gelu(linear(x, w1, b1)), w2, b2), target)),
  };
}

function transformer(seed: number): Workload {
  const { batch: B, seqLen: T, hidden: H, heads, layers, classes, lnEps } = TRANSFORMER;
  const d = H / heads;
  const arrays = transformerArrays(seed);
  const input = tf.reshape(create(arrays.input), [B * T, H]); // tokens as rows: every projection is a 2-d matMul
  const oneHot = tf.oneHot(tf.tensor1d(arrays.labels, 'int32'), classes);
  const w = new Map(arrays.weights.map((spec) => [spec.name, create(spec)] as const));
  const get = (name: string): TfTensor => w.get(name)!;
  const lin = (x: TfTensor, name: string): TfTensor => linear(x, get(`${name}.weight`), get(`${name}.bias`));
  const norm = (x: TfTensor, name: string): TfTensor => {
    const { mean, variance } = tf.moments(x, -1, true);
    const normalized = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, lnEps)));
    return tf.add(tf.mul(normalized, get(`${name}.weight`)), get(`${name}.bias`));
  };
  const split = (x: TfTensor): TfTensor => tf.transpose(tf.reshape(x, [B, T, heads, d]), [0, 2, 1, 3]); // [B, heads, T, d]
  return {
    variables: [...w.values()] as TfVariable[],
    loss: () => {
      let x = input;
      for (let l = 0; l < layers; l++) {
        const p = `layer${l}`;
        const q = split(lin(x, `${p}.q`));
        const k = split(lin(x, `${p}.k`));
        const v = split(lin(x, `${p}.v`));
        const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d));
        const context = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [B * T, H]);
        x = norm(tf.add(x, lin(context, `${p}.o`)), `${p}.ln1`);
        x = norm(tf.add(x, lin(gelu(lin(x, `${p}.ffn1`)), `${p}.ffn2`)), `${p}.ln2`);
      }
      const pooled = tf.mean(tf.reshape(x, [B, T, H]), 1);
      return tf.losses.softmaxCrossEntropy(oneHot, lin(pooled, 'classifier'));
    },
  };
}

let backend = 'cpu';

/** One training step: the loss and the gradients of every variable (tf.variableGrads), then disposed; returns the loss. */
function step(w: Workload): number {
  const { value, grads } = tf.variableGrads(w.loss, w.variables);
  const loss = value.dataSync()[0];
  value.dispose();
  tf.dispose(Object.values(grads));
  return loss;
}

const ENGINE: TfjsEngine<Workload> = {
  workloads: { mlp, transformer },
  step,
  params: (w) => w.variables.reduce((n, v) => n + v.size, 0),
  info: () => ({
    engine: `tfjs-${backend}`,
    runtime: `node ${process.version}`,
    library: `tfjs ${tf.version_core} ${tf.getBackend()}`,
    threads: 1,
    ...processMemory(),
  }),
  afterSteps: () => ({ numTensors: tf.memory().numTensors }),
};

const USAGE = 'usage: tfjs.js [--backend cpu|wasm] (--serve | --workload mlp|transformer [--steps N])';

async function main(): Promise<void> {
  const defaults = { backend, serve: false, name: undefined as string | undefined, steps: 2 };
  const { serve, name, steps, ...options } = parseFlags(process.argv.slice(2), USAGE, defaults, {
    '--backend': ['backend', 'text'],
    '--workload': ['name', 'text'],
  });
  backend = options.backend;
  weightsInOut = backend === 'wasm';
  if (backend === 'wasm') await loadTfjs<unknown>('@tensorflow/tfjs-backend-wasm');
  else if (backend !== 'cpu') throw new Error(`--backend expects cpu or wasm, got ${backend}`);
  if (!(await tf.setBackend(backend))) throw new Error(`the TF.js ${backend} backend failed to initialise`);
  await tf.ready();
  runTfjsEngine(ENGINE, { serve, name, warmupSteps: () => 1, steps });
}

await main();
