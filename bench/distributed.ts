/**
 * The finetune side of the distributed benchmark; bench/distributed_torch.py is the PyTorch side and
 * bench/compare-distributed.ts (`compare.js --suite distributed`) starts the workers of both, interleaves
 * their work and compares.
 *
 *   RANK=r WORLD_SIZE=n MASTER_ADDR=… MASTER_PORT=… node build/ts/bench/distributed.js --threads N --serve
 *
 * A worker is one rank, started with torchrun's variables as `finetune launch` starts them; with
 * WORLD_SIZE > 1 it joins the gloo process group (env://) before serving. The protocol (one command per
 * line on stdin, one JSON reply per line on stdout; the driver sends each command to every rank at once):
 *   info                        → {"engine", "runtime", "torchVersion", "threads", "rank", "worldSize"}
 *   allreduce <bytes> <n>       → {"ms": [...]}   one untimed allReduce(SUM) of a float32 tensor of that
 *                                                  size, then n timed ones
 *   setup <json DdpSetup>       → {"model", "batch", "params", "trainedParams", "setupMs", "warmupMs"}
 *   steps <n>                   → {"stepMs": [...]}   n timed training steps
 *   quit
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  createModel,
  distributed,
  functional as F,
  getNumThreads,
  getPeftModel,
  LoraConfig,
  manualSeed,
  models,
  randint,
  randn,
  runtimeInfo,
  setNumThreads,
  tidy,
  zeros,
  type nn,
  type Tensor,
} from 'finetune';

import { parseFlags } from './driver.js';
import { type DdpSetup } from './distributed-shared.js';
import { serveCommands, timedSteps } from './shared.js';

interface Workload {
  /** The module the step calls: the DDP wrapper on several ranks, the model itself on one. */
  model: nn.Module;
  forward: () => Tensor;
  labels: Tensor;
  ddp?: distributed.DistributedDataParallel<nn.Module & { forward(...args: never[]): unknown }>;
}

const worldSize = Number(process.env.WORLD_SIZE ?? '1');
const rank = Number(process.env.RANK ?? '0');

/** The randomly initialised model, in train mode, wrapped in DDP on several ranks, and this rank's batch. */
function build(request: DdpSetup): Workload {
  const { batch, numLabels } = request;
  // Each rank draws its own weights and batch; DDP's construction then copies rank 0's weights to all.
  manualSeed(request.seed + rank);
  let model: nn.Module & { forward(...args: never[]): unknown };
  let input: () => unknown;
  if (request.model === 'bert-base-lora') {
    const bert = createModel('bert-base-uncased', {
      architecture: 'BertForSequenceClassification',
      numLabels,
    }) as models.BertForSequenceClassification;
    model = getPeftModel(
      bert,
      new LoraConfig({ taskType: 'SEQ_CLS', r: 8, loraAlpha: 32, targetModules: ['query', 'value'] }),
    ) as typeof model;
    const inputIds = randint(0, bert.config.vocabSize, [batch, request.seqLen!]);
    input = () => ({ inputIds });
  } else if (request.model === 'resnet50') {
    model = createModel('resnet50', { numLabels }) as models.ResNet;
    const images = randn([batch, 3, request.imageSize!, request.imageSize!]);
    input = () => images;
  } else {
    throw new Error(`unknown model ${String(request.model)} (known: bert-base-lora, resnet50)`);
  }
  const labels = randint(0, numLabels, [batch]);
  model.train();
  const ddp = worldSize > 1 ? new distributed.DistributedDataParallel(model) : undefined;
  const called = (ddp ?? model) as nn.Module & { forward(x: unknown): unknown };
  const logits = (out: unknown): Tensor =>
    (request.model === 'resnet50' ? out : (out as models.BertHeadOutput).logits) as Tensor;
  return { model, labels, ddp, forward: () => logits(called.forward(input())) };
}

let workload: Workload | undefined;

/** One training step as a user writes it: forward, cross entropy, backward (DDP averages the gradients during it), every grad = null. */
function trainStep(w: Workload): void {
  tidy(() => {
    F.crossEntropy(w.forward(), w.labels).backward();
    w.model.zeroGrad();
  });
}

function setup(request: DdpSetup): unknown {
  if (workload !== undefined) throw new Error('setup: this worker already holds a model (one model per worker)');
  const start = performance.now();
  workload = build(request);
  const setupMs = performance.now() - start;
  const w = workload;
  const params = w.model.parameters();
  return {
    model: request.model,
    batch: request.batch,
    params: params.reduce((n, p) => n + p.numel(), 0),
    trainedParams: params.filter((p) => p.requiresGrad).reduce((n, p) => n + p.numel(), 0),
    setupMs,
    warmupMs: timedSteps(() => trainStep(w), request.warmupSteps),
  };
}

const buffers = new Map<number, Tensor>();

/** One untimed allReduce of `bytes` of float32 zeros (the tensor kept for the next call), then `n` timed. */
function allReduceTimes(bytes: number, n: number): { ms: number[] } {
  let tensor = buffers.get(bytes);
  if (tensor === undefined) {
    tensor = zeros([bytes / 4]);
    buffers.set(bytes, tensor);
  }
  const t = tensor;
  distributed.allReduce(t);
  return { ms: timedSteps(() => distributed.allReduce(t), n) };
}

const COMMANDS: Record<string, (rest: string) => unknown> = {
  info: () => ({
    engine: 'finetune',
    runtime: `node ${process.version}`,
    torchVersion: runtimeInfo().torchVersion,
    threads: getNumThreads(),
    rank,
    worldSize,
  }),
  allreduce: (rest) => {
    const [bytes, n] = rest.split(' ').map(Number);
    return allReduceTimes(bytes, n);
  },
  setup: (rest) => setup(JSON.parse(rest) as DdpSetup),
  steps: (rest) => {
    if (workload === undefined) throw new Error('steps before setup');
    const w = workload;
    return { stepMs: timedSteps(() => trainStep(w), Number(rest)) };
  },
};

function main(): void {
  const { threads, serve } = parseFlags(
    process.argv.slice(2),
    'usage: RANK=r WORLD_SIZE=n MASTER_ADDR=a MASTER_PORT=p distributed.js [--threads N] --serve',
    { threads: availableParallelism(), serve: false },
  );
  if (!serve) throw new Error('give --serve (the driver is bench/compare-distributed.ts)');
  setNumThreads(threads);
  if (worldSize > 1) distributed.initProcessGroup({ backend: 'gloo' });
  serveCommands(COMMANDS);
  process.stdin.on('end', () => {
    if (distributed.isInitialized()) distributed.destroyProcessGroup();
  });
}

main();
