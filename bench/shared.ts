/**
 * What the two engines of the benchmark share. bench/engine_torch.py repeats these numbers;
 * bench/compare.ts checks that both engines report the same work.
 *
 * Both engines speak the same line protocol on stdin/stdout when started with --serve, so
 * the driver can interleave short blocks of work between them (a noisy machine then slows
 * both sides alike):
 *   info                       → {"engine", "runtime", "torchVersion", "threads"}
 *   perop <name> <iterations>  → {"usPerOp"}          (the loop's own timer, µs per op)
 *   mlp <steps>                → {"stepMs": [...]}     (ms of each step)
 *   quit
 * The MLP's data is created, seeded, on the first mlp command; its reply then also carries
 * "firstLoss", the loss of its first step (equal on both sides when the work is the same).
 */

/** The per-op workloads: ops per iteration, iterations per block, and what one iteration does. */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
export const PER_OP = {
  mixed_tidy: {
    ops: 7,
    iterations: 4000,
    label: 'mixed loop, tidy() per iteration',
    finetune: 'tidy(() => { c = a.add(b); d = c.mul(2); e = d.relu(); e.sum(); a.mul(b).add(1).neg(); })',
    pytorch: 'c = a + b; d = c * 2; e = d.relu(); s = e.sum(); f = (a * b + 1).neg()',
  },
  mixed_dispose: {
    ops: 7,
    iterations: 4000,
    label: 'mixed loop, explicit dispose()',
    finetune: 'the same 7 ops, then each of the 7 results .dispose()d',
    pytorch: '(the same Python loop as above)',
  },
  add: {
    ops: 1,
    iterations: 30000,
    label: 'add (tensor + tensor)',
    finetune: 'a.add(b).dispose()',
    pytorch: 'c = a + b',
  },
  mul_scalar: {
    ops: 1,
    iterations: 30000,
    label: 'mul by scalar',
    finetune: 'a.mul(2).dispose()',
    pytorch: 'c = a * 2',
  },
  relu: { ops: 1, iterations: 30000, label: 'relu', finetune: 'a.relu().dispose()', pytorch: 'c = a.relu()' },
  sum: { ops: 1, iterations: 30000, label: 'sum', finetune: 'a.sum().dispose()', pytorch: 'c = a.sum()' },
  chain: {
    ops: 3,
    iterations: 10000,
    label: 'method chain (3 ops)',
    finetune: 'tidy(() => { a.mul(b).add(1).neg(); })',
    pytorch: 'f = (a * b + 1).neg()',
  },
} as const;

export type PerOpName = keyof typeof PER_OP;

/** Interleaved blocks per run (after one warm-up block of each workload). */
export const ROUNDS = {
  full: { perOp: 21, mlp: 10, mlpStepsPerBlock: 3 },
  quick: { perOp: 3, mlp: 2, mlpStepsPerBlock: 2 },
};

/** Quick mode divides per-op iterations by this. */
export const QUICK_DIVISOR = 10;

/** The MLP step's sizes; the first mlp command also runs this many warm-up steps. */
export const MLP = { batch: 512, dIn: 768, dHidden: 3072, warmupSteps: 5 };

/**
 * FLOPs of one step's matmuls: 2 matmuls forward (2·B·Din·Dh each), and backward twice that
 * (gradient w.r.t. the input and the weight of each; x requires grad so both are computed):
 * 3 × (2·512·768·3072·2). Bias, GELU and loss are not counted.
 */
export function mlpFlops(): number {
  const { batch, dIn, dHidden } = MLP;
  return 3 * (2 * batch * dIn * dHidden * 2);
}

export const FLOPS_FORMULA =
  '3 × (2·512·768·3072·2): 2 matmuls of 2·B·Din·Dh forward, twice that backward (input and weight grads)';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface EngineInfo {
  engine: 'finetune' | 'pytorch';
  runtime: string;
  torchVersion: string;
  threads: number;
}

// ---- the models suite (bench/compare-models.ts, bench/models.ts, bench/models_torch.py) ----

/**
 * The models suite's protocol, on both engines started with --serve:
 *   info                         → {"engine", "runtime", "torchVersion", "threads", "rssKb", "hwmKb"}
 *   setup <json SetupRequest>    → {"model", "batch", "inputShape", "numLabels", "params", "paramTensors",
 *                                   "firstLoss", "setupMs", "warmupMs": [...], "rssKb", "hwmKb"}
 *   steps <n>                    → {"stepMs": [...], "minorFaults", "systemSeconds"}   (ms of each training
 *                                   step; the page faults and kernel CPU seconds of the n steps)
 *   memory                       → {"rssKb", "hwmKb"}  (VmRSS and VmHWM of /proc/self/status)
 *   quit
 * One process pair per model: setup builds the randomly initialised model (train mode) and its
 * seeded random batch, so the process's VmHWM at the end is that model's peak alone.
 */
export interface ModelSpec {
  label: string;
  /** What each side builds (finetune: createModel preset and architecture; PyTorch: the class). */
  finetune: string;
  pytorch: string;
  batch: number;
  /** [batch, seqLen] token ids, or [batch, channels, imageSize, imageSize] images. */
  input: 'tokens' | 'image';
  seqLen?: number;
  imageSize?: number;
  /** Image channels (3 unless given). */
  channels?: number;
  numLabels: number;
  /** Untimed steps after setup. */
  warmupSteps: number;
  /**
   * Interleaved rounds of `stepsPerBlock` steps per engine. One step per block: this VM's slow
   * phases last seconds, so engines alternate every step, and a slow phase hits both.
   */
  rounds: number;
  stepsPerBlock: number;
}

export const MODELS = {
  'bert-base': {
    label: 'bert-base (B8, T128)',
    finetune: "createModel('bert-base-uncased', { architecture: 'BertForSequenceClassification', numLabels: 2 })",
    pytorch: "transformers BertForSequenceClassification(BertConfig(num_labels=2), attn_implementation='sdpa')",
    batch: 8,
    input: 'tokens',
    seqLen: 128,
    numLabels: 2,
    warmupSteps: 2,
    rounds: 5,
    stepsPerBlock: 1,
  },
  'vit-b16': {
    label: 'vit-b16 (B8, 224²)',
    finetune: "createModel('vit-base-patch16-224', { architecture: 'ViTForImageClassification' })",
    pytorch: "transformers ViTForImageClassification(ViTConfig(num_labels=1000), attn_implementation='sdpa')",
    batch: 8,
    input: 'image',
    imageSize: 224,
    numLabels: 1000,
    warmupSteps: 2,
    rounds: 5,
    stepsPerBlock: 1,
  },
  resnet50: {
    label: 'resnet50 (B8, 224²)',
    finetune: "createModel('resnet50')",
    pytorch: 'torchvision.models.resnet50()',
    batch: 8,
    input: 'image',
    imageSize: 224,
    numLabels: 1000,
    warmupSteps: 2,
    rounds: 6,
    stepsPerBlock: 1,
  },
  alexnet: {
    label: 'alexnet (B8, 224²)',
    finetune: "createModel('alexnet')",
    pytorch: 'torchvision.models.alexnet()',
    batch: 8,
    input: 'image',
    imageSize: 224,
    numLabels: 1000,
    warmupSteps: 3,
    rounds: 20,
    stepsPerBlock: 1,
  },
  // bert-base with PEFT's usual LoRA: finetune's getPeftModel against Python peft 0.21's get_peft_model.
  'bert-base-lora': {
    label: 'bert-base + LoRA r8 (B8, T128)',
    finetune:
      "getPeftModel(createModel('bert-base-uncased', { architecture: 'BertForSequenceClassification', numLabels: 2 }), " +
      "new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }))",
    pytorch:
      "peft get_peft_model(BertForSequenceClassification(BertConfig(num_labels=2), attn_implementation='sdpa'), " +
      "LoraConfig(task_type='SEQ_CLS', r=8, lora_alpha=32, target_modules=['query', 'value']))",
    batch: 8,
    input: 'tokens',
    seqLen: 128,
    numLabels: 2,
    warmupSteps: 2,
    rounds: 5,
    stepsPerBlock: 1,
  },
  // The demo's two networks (src/demo/models.ts: `finetune demo` pretrains and fine-tunes them on
  // Fashion-MNIST), defined here from the same numbers (DEMO_VIT, DEMO_CNN) so the bench does not
  // depend on the demo's code; batch 64, the demo's pretraining batch.
  'demo-vit': {
    label: 'demo ViT (B64, 1×28²)',
    finetune:
      'createModel(DEMO_VIT) (config.json: ViTForImageClassification, 28 px, 1 channel, patch 4, hidden 64, 4 layers × 4 heads, MLP 128, 10 labels)',
    pytorch: "transformers ViTForImageClassification(ViTConfig(**DEMO_VIT), attn_implementation='sdpa')",
    batch: 64,
    input: 'image',
    imageSize: 28,
    channels: 1,
    numLabels: 10,
    warmupSteps: 3,
    rounds: 20,
    stepsPerBlock: 1,
  },
  'demo-cnn': {
    label: 'demo alexnet-small (B64, 1×64²)',
    finetune:
      "nn.Sequential of DEMO_CNN: torchvision AlexNet's layers at the demo's widths (1 channel, convs 16-48-96-64-64, fc 256, 10 classes)",
    pytorch: 'torch.nn.Sequential of the same layers (torchvision has no width options)',
    batch: 64,
    input: 'image',
    imageSize: 64,
    channels: 1,
    numLabels: 10,
    warmupSteps: 3,
    rounds: 20,
    stepsPerBlock: 1,
  },
} as const satisfies Record<string, ModelSpec>;

/** The demo's ViT (src/demo/models.ts) as transformers' config.json keys; both sides build it from this. */
export const DEMO_VIT = {
  model_type: 'vit',
  architectures: ['ViTForImageClassification'],
  image_size: 28,
  patch_size: 4,
  num_channels: 1,
  hidden_size: 64,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  intermediate_size: 128,
  encoder_stride: 4,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0,
  attention_probs_dropout_prob: 0,
  num_labels: 10,
} as const;

/**
 * The demo's CNN, the `alexnet-small` preset of src/demo: torchvision's AlexNet layout (11×11/4 conv,
 * 5×5, three 3×3, max-pools 3/2, adaptive average pool to 6×6, dropout 0.5 before both hidden
 * Linears) at a quarter of the widths, for 1-channel 64×64 images. Both sides build a Sequential
 * from this list, in this order, so both draw the same initial weights from the seed.
 * conv: [in, out, kernel, stride, padding]; maxpool: [kernel, stride]; avgpool: [side].
 */
export const DEMO_CNN = [
  ['conv', 1, 16, 11, 4, 2],
  ['relu'],
  ['maxpool', 3, 2],
  ['conv', 16, 48, 5, 1, 2],
  ['relu'],
  ['maxpool', 3, 2],
  ['conv', 48, 96, 3, 1, 1],
  ['relu'],
  ['conv', 96, 64, 3, 1, 1],
  ['relu'],
  ['conv', 64, 64, 3, 1, 1],
  ['relu'],
  ['maxpool', 3, 2],
  ['avgpool', 6],
  ['flatten'],
  ['dropout', 0.5],
  ['linear', 64 * 6 * 6, 256],
  ['relu'],
  ['dropout', 0.5],
  ['linear', 256, 256],
  ['relu'],
  ['linear', 256, 10],
] as const;

export type ModelName = keyof typeof MODELS;

/** Quick mode: rounds and warm-up cut to this many. */
export const MODELS_QUICK = { warmupSteps: 1, rounds: 1, stepsPerBlock: 1 };

/** The training step both engines time, in words. */
export const MODEL_STEP =
  'forward (train mode: dropout on, batch-norm batch statistics) → cross entropy against random labels → backward → every grad set to null';

/** What the driver sends with setup (on one line): the model and its sizes, from MODELS. */
export interface SetupRequest {
  model: ModelName;
  batch: number;
  seqLen?: number;
  imageSize?: number;
  channels?: number;
  /** The bench-defined models' definitions (DEMO_VIT, DEMO_CNN), so both sides build them from one source. */
  modelConfig?: unknown;
  numLabels: number;
  warmupSteps: number;
  seed: number;
}

/** The setup request for `model` (its sizes from MODELS, the definitions of the bench's own models). */
export function setupRequest(model: ModelName, warmupSteps: number, seed = 0): SetupRequest {
  const spec: ModelSpec = MODELS[model];
  const request: SetupRequest = { model, batch: spec.batch, numLabels: spec.numLabels, warmupSteps, seed };
  if (spec.seqLen !== undefined) request.seqLen = spec.seqLen;
  if (spec.imageSize !== undefined) request.imageSize = spec.imageSize;
  if (spec.channels !== undefined) request.channels = spec.channels;
  if (model === 'demo-vit') request.modelConfig = DEMO_VIT;
  if (model === 'demo-cnn') request.modelConfig = DEMO_CNN;
  return request;
}

export interface ModelSetupReply {
  model: string;
  batch: number;
  inputShape: number[];
  numLabels: number;
  params: number;
  paramTensors: number;
  firstLoss: number;
  setupMs: number;
  warmupMs: number[];
  rssKb: number;
  hwmKb: number;
}

export interface MemoryReply {
  rssKb: number;
  hwmKb: number;
}

export interface StepsReply {
  stepMs: number[];
  minorFaults: number;
  systemSeconds: number;
}

/** VmRSS and VmHWM (peak resident set) of this process, in kB. */
export function processMemory(): MemoryReply {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

/** Runs `step` `steps` times; the milliseconds of each. */
export function timedSteps(step: () => void, steps: number): number[] {
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    step();
    ms.push(performance.now() - start);
  }
  return ms;
}

/**
 * `steps` timed steps, with diagnostics of how they used memory: the minor page faults they took
 * and the kernel (system) CPU seconds they used, which fresh pages cost.
 */
export function timedStepsWithFaults(step: () => void, steps: number): StepsReply {
  const before = process.resourceUsage();
  const stepMs = timedSteps(step, steps);
  const after = process.resourceUsage();
  return {
    stepMs,
    minorFaults: after.minorPageFault - before.minorPageFault,
    systemSeconds: (after.systemCPUTime - before.systemCPUTime) / 1e6,
  };
}

/** The warm-up of a worker's setup: a first step (whose loss the driver compares across engines), then the rest, all timed. */
export function warmUp(lossStep: () => number, warmupSteps: number): { firstLoss: number; warmupMs: number[] } {
  const start = performance.now();
  const firstLoss = lossStep();
  return { firstLoss, warmupMs: [performance.now() - start, ...timedSteps(lossStep, warmupSteps - 1)] };
}

/** The engine side of the driver protocol: one JSON reply per command line on stdin until 'quit'. */
export function serveCommands(commands: Record<string, (rest: string) => unknown>): void {
  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on('line', (raw) => {
    const line = raw.trim();
    if (line === 'quit') {
      lines.close();
      return;
    }
    const space = line.indexOf(' ');
    const command = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? '' : line.slice(space + 1);
    let reply: unknown;
    try {
      const run = Object.hasOwn(commands, command) ? commands[command] : undefined;
      if (!run) throw new Error(`unknown command ${line}`);
      reply = run(rest);
    } catch (error) {
      reply = { error: String((error as Error).stack ?? error) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  });
}
