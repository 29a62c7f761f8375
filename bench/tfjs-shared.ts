/**
 * The TensorFlow.js suite (bench/compare-tfjs.ts, `compare.js --suite tfjs`): what its engines share —
 * the two workloads, their deterministic data (every engine draws the same numbers from the same
 * seeded generator, so the first-step losses must agree) and the engine names.
 *
 * Engines, one process each per workload (started with --serve, the line protocol of bench/shared.ts:
 * info / setup <json> / steps <n> / memory / quit):
 *   finetune       bench/tfjs-finetune.ts --threads N   (libtorch, N intra-op threads)
 *   finetune-1t    the same with --threads 1            (a per-core comparison: TF.js in Node runs on one core)
 *   tfjs-cpu       bench/tfjs.ts --backend cpu          (@tensorflow/tfjs: tfjs-core + tfjs-backend-cpu, plain JavaScript)
 *   tfjs-wasm      bench/tfjs.ts --backend wasm         (@tensorflow/tfjs-backend-wasm: XNNPACK, SIMD; Node has
 *                                                        no threaded wasm build, so one thread)
 * tfjs-node (TensorFlow's C library) is not among them: its install script downloads libtensorflow
 * from outside the npm registry, which this environment cannot reach.
 */
import { performance } from 'node:perf_hooks';

// random.ts alone, not the package: the TF.js engines import this file and must not load libtorch.
import { mulberry32FromState } from '../src/data/random.js';
import { MLP, median, mlpFlops, processMemory, serveCommands, timedSteps, warmUp } from './shared.js';

export const TFJS_ENGINES = ['finetune', 'finetune-1t', 'tfjs-cpu', 'tfjs-wasm'] as const;
export type TfjsEngineName = (typeof TFJS_ENGINES)[number];

/** The small transformer: a 2-layer post-LN (BERT-style) encoder over given input embeddings, mean-pooled, classified. */
export const TRANSFORMER = {
  batch: 16,
  seqLen: 64,
  hidden: 128,
  heads: 4,
  ffn: 512,
  layers: 2,
  classes: 10,
  lnEps: 1e-5,
};

/**
 * FLOPs of the transformer step's matmuls: per layer forward 4 projections (2·BT·H·H each), the
 * FFN (2·2·BT·H·F) and attention's two batched matmuls (2·2·B·T·T·H); backward counted as twice
 * the forward. The classifier, softmax, GELU and LayerNorm are not counted.
 */
export function transformerFlops(): number {
  const { batch: B, seqLen: T, hidden: H, ffn: F, layers } = TRANSFORMER;
  const perLayer = 4 * 2 * B * T * H * H + 2 * 2 * B * T * H * F + 2 * 2 * B * T * T * H;
  return 3 * layers * perLayer;
}

export interface TfjsWorkloadSpec {
  label: string;
  /** What the step is, in words. */
  step: string;
  flops: number;
  warmupSteps: number;
  /** Interleaved rounds; per round each engine runs its block of steps. */
  rounds: number;
  /** Steps per block for the finetune engines (fast) and the TF.js engines (slow). */
  finetuneSteps: number;
  tfjsSteps: number;
}

export const TFJS_WORKLOADS = {
  mlp: {
    label: `MLP ${MLP.batch}×${MLP.dIn}→${MLP.dHidden}→${MLP.dIn}`,
    step:
      `x[${MLP.batch},${MLP.dIn}] (trainable) → linear ${MLP.dIn}→${MLP.dHidden} → GELU (erf) → linear ${MLP.dHidden}→${MLP.dIn} → MSE; ` +
      "gradients of x and every weight; discarded (the engine suite's MLP step)",
    flops: mlpFlops(),
    warmupSteps: 2,
    rounds: 5,
    finetuneSteps: 3,
    tfjsSteps: 1,
  },
  transformer: {
    label: `transformer ${TRANSFORMER.layers}L H${TRANSFORMER.hidden} T${TRANSFORMER.seqLen} B${TRANSFORMER.batch}`,
    step:
      `embeddings x[${TRANSFORMER.batch},${TRANSFORMER.seqLen},${TRANSFORMER.hidden}] → ${TRANSFORMER.layers} × (q/k/v projections, ${TRANSFORMER.heads}-head ` +
      `softmax attention, output projection, residual + LayerNorm, FFN ${TRANSFORMER.hidden}→${TRANSFORMER.ffn}→${TRANSFORMER.hidden} GELU, ` +
      `residual + LayerNorm) → mean over tokens → linear → cross entropy over ${TRANSFORMER.classes} classes; gradients of every weight, discarded`,
    flops: transformerFlops(),
    warmupSteps: 2,
    rounds: 5,
    finetuneSteps: 3,
    tfjsSteps: 1,
  },
} as const satisfies Record<string, TfjsWorkloadSpec>;

export type TfjsWorkloadName = keyof typeof TFJS_WORKLOADS;

export const TFJS_QUICK = { warmupSteps: 1, rounds: 2, finetuneSteps: 2, tfjsSteps: 1 };

export interface TfjsSetupRequest {
  workload: TfjsWorkloadName;
  warmupSteps: number;
  seed: number;
}

export interface TfjsSetupReply {
  workload: TfjsWorkloadName;
  params: number;
  firstLoss: number;
  setupMs: number;
  warmupMs: number[];
  rssKb: number;
  hwmKb: number;
}

export interface TfjsInfo {
  engine: string;
  runtime: string;
  /** libtorch version, or TF.js version + backend. */
  library: string;
  /** Threads the engine computes with (TF.js: 1). */
  threads: number;
  rssKb: number;
  hwmKb: number;
}

// ---- deterministic data ----------------------------------------------------------------

/** `n` normal draws times `scale` (Box–Muller), from the stream `seed`. */
export function normals(n: number, seed: number, scale = 1): Float32Array {
  const next = mulberry32FromState(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** `n` integers in [0, classes) from the stream `seed`. */
export function labelsOf(n: number, classes: number, seed: number): Int32Array {
  const next = mulberry32FromState(seed);
  return Int32Array.from({ length: n }, () => Math.floor(next() * classes));
}

/** A named float32 array and its shape, as every engine creates it. */
export interface ArraySpec {
  name: string;
  shape: number[];
  data: Float32Array;
  /** Gets a gradient (a weight, or the MLP's input). */
  trainable: boolean;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A weight [out, in] (PyTorch's Linear layout) ~ N(0, 1/in), its bias ~ N(0, 0.01²). */
function linearArrays(name: string, dIn: number, dOut: number, seed: number): ArraySpec[] {
  return [
    {
      name: `${name}.weight`,
      shape: [dOut, dIn],
      data: normals(dOut * dIn, seed, 1 / Math.sqrt(dIn)),
      trainable: true,
    },
    { name: `${name}.bias`, shape: [dOut], data: normals(dOut, seed + 1, 0.01), trainable: true },
  ];
}

/** The MLP's arrays: x, w1, b1, w2, b2, target (every engine builds the same numbers). */
export function mlpArrays(seed: number): Record<'x' | 'w1' | 'b1' | 'w2' | 'b2' | 'target', ArraySpec> {
  const { batch, dIn, dHidden } = MLP;
  const [w1, b1] = linearArrays('w1', dIn, dHidden, seed + 10);
  const [w2, b2] = linearArrays('w2', dHidden, dIn, seed + 20);
  return {
    x: { name: 'x', shape: [batch, dIn], data: normals(batch * dIn, seed + 1), trainable: true },
    w1,
    b1,
    w2,
    b2,
    target: { name: 'target', shape: [batch, dIn], data: normals(batch * dIn, seed + 2), trainable: false },
  };
}

export interface TransformerArrays {
  input: ArraySpec;
  labels: Int32Array;
  /** Per layer: q, k, v, o (Linear H→H), ln1, ffn1 (H→F), ffn2 (F→H), ln2; then the classifier. */
  weights: ArraySpec[];
}

/** The transformer's input embeddings, labels and weights (LayerNorm: weight 1, bias 0). */
export function transformerArrays(seed: number): TransformerArrays {
  const { batch, seqLen, hidden: H, ffn: F, layers, classes } = TRANSFORMER;
  const weights: ArraySpec[] = [];
  let s = seed + 100;
  const ln = (name: string): ArraySpec[] => [
    { name: `${name}.weight`, shape: [H], data: new Float32Array(H).fill(1), trainable: true },
    { name: `${name}.bias`, shape: [H], data: new Float32Array(H), trainable: true },
  ];
  for (let l = 0; l < layers; l++) {
    for (const p of ['q', 'k', 'v', 'o']) weights.push(...linearArrays(`layer${l}.${p}`, H, H, (s += 10)));
    weights.push(...ln(`layer${l}.ln1`));
    weights.push(...linearArrays(`layer${l}.ffn1`, H, F, (s += 10)));
    weights.push(...linearArrays(`layer${l}.ffn2`, F, H, (s += 10)));
    weights.push(...ln(`layer${l}.ln2`));
  }
  weights.push(...linearArrays('classifier', H, classes, s + 10));
  const shape = [batch, seqLen, H];
  return {
    input: { name: 'input', shape, data: normals(size(shape), seed + 1), trainable: false },
    labels: labelsOf(batch, classes, seed + 2),
    weights,
  };
}

/** Parameter elements a workload trains (for the report; the MLP counts x as the engine suite does not). */
export function trainableElements(arrays: ArraySpec[]): number {
  return arrays.filter((a) => a.trainable).reduce((n, a) => n + a.data.length, 0);
}

// ---- engine processes ------------------------------------------------------------------

/** What one engine of the suite supplies; runTfjsEngine does the rest. */
export interface TfjsEngine<W> {
  /** Builds a workload from its seed. */
  workloads: Record<TfjsWorkloadName, (seed: number) => W>;
  /** One training step (loss, gradients, gradients dropped); returns the loss. */
  step(workload: W): number;
  /** The workload's trainable elements. */
  params(workload: W): number;
  info(): TfjsInfo;
  /** Facts a `steps` reply adds (TF.js: its live tensors). */
  afterSteps?(): object;
}

/**
 * Runs an engine process: with --serve, the line protocol of bench/shared.ts (info / setup <json> / steps <n> /
 * memory) on one workload per process; otherwise one measurement of `name` (`warmupSteps` then `steps` timed
 * steps) printed as a JSON line.
 */
export function runTfjsEngine<W>(
  engine: TfjsEngine<W>,
  run: { serve: boolean; name?: string; warmupSteps: (spec: TfjsWorkloadSpec) => number; steps: number },
): void {
  let workload: W | undefined;
  const setup = (request: TfjsSetupRequest): TfjsSetupReply => {
    if (workload !== undefined) throw new Error('setup: this process already holds a workload (one per process)');
    const start = performance.now();
    const build = Object.hasOwn(engine.workloads, request.workload) ? engine.workloads[request.workload] : undefined;
    if (build === undefined)
      throw new Error(
        `unknown workload ${String(request.workload)} (known: ${Object.keys(TFJS_WORKLOADS).join(', ')})`,
      );
    const w = (workload = build(request.seed));
    const setupMs = performance.now() - start;
    const { firstLoss, warmupMs } = warmUp(() => engine.step(w), request.warmupSteps);
    return { workload: request.workload, params: engine.params(w), firstLoss, setupMs, warmupMs, ...processMemory() };
  };
  const steps = (n: number): number[] => {
    if (workload === undefined) throw new Error('steps before setup');
    const w = workload;
    return timedSteps(() => engine.step(w), n);
  };
  if (run.serve) {
    return serveCommands({
      info: () => engine.info(),
      setup: (rest) => setup(JSON.parse(rest) as TfjsSetupRequest),
      steps: (rest) => ({ stepMs: steps(Number(rest)), ...engine.afterSteps?.() }),
      memory: () => processMemory(),
    });
  }
  if (run.name === undefined) throw new Error('give --serve or --workload mlp|transformer');
  const spec = Object.hasOwn(TFJS_WORKLOADS, run.name) ? TFJS_WORKLOADS[run.name as TfjsWorkloadName] : undefined;
  if (spec === undefined) throw new Error(`unknown workload ${run.name}`);
  const reply = setup({ workload: run.name as TfjsWorkloadName, warmupSteps: run.warmupSteps(spec), seed: 0 });
  const stepMs = steps(run.steps);
  const ms = median(stepMs);
  process.stdout.write(
    JSON.stringify({
      ...engine.info(),
      setup: reply,
      stepMs,
      msPerStep: ms,
      gflops: spec.flops / (ms * 1e6),
      memory: processMemory(),
    }) + '\n',
  );
}
