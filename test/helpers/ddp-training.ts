/**
 * The training runs test/ddp.test.ts compares: a tiny BERT classifier (dropout 0, so runs are
 * deterministic), fully fine-tuned or with LoRA, trained on fixed batches of 8 rows.
 *   In the test process: `train(setup, 0, 1)` is the 1-process × batch 8 reference.
 *   As a child: `node ddp-training.js <model> <optimizer> <accumulate> <rank> <worldSize> <port>` joins
 *   the group at tcp://127.0.0.1:<port>, wraps the model in DistributedDataParallel, trains on rows
 *   rank, rank + worldSize, … of each batch and prints one JSON line (its losses and final weights),
 *   or { error }. With <model> 'buffers' it runs bufferCheck instead (<optimizer> 'broadcast' or 'local');
 *   with <model> 'branches' it runs trainBranches (<optimizer> 'find' sets findUnusedParameters, 'strict'
 *   does not, 'kill' sets it and makes the last rank kill itself before its third backward, 'stall' makes
 *   the last rank busy for STALL_MS there, past the group's timeout, which is then STALL_TIMEOUT_MS).
 * Rank r builds its model from seed r: only DDP's broadcast from rank 0 makes the copies equal.
 */
import { fileURLToPath } from 'node:url';

import {
  distributed,
  getPeftModel,
  LoraConfig,
  manualSeed,
  models,
  nn,
  ones,
  optim,
  tensor,
  tidy,
  type Tensor,
} from '../../src/index.js';
import { TINY_BERT_CONFIG } from './tiny-configs.js';

export interface Setup {
  model: 'full' | 'lora';
  optimizer: 'sgd' | 'adamw';
  /** Micro-batches per optimizer step: all but the last run inside noSync. */
  accumulate: number;
}

export interface TrainResult {
  /** Per optimizer step, the mean loss over this rank's micro-batches. */
  losses: number[];
  /** The state dict after training, key → values. */
  weights: Record<string, number[]>;
  /** The sum of |the classifier's weight gradient| in step 0 before and after the last (synchronised) micro-step. */
  classifierGrad: { beforeSync: number; afterSync: number };
}

export const STEPS = 10;
const BATCH = 8;
const SEQUENCE = 8;

type Classifier = nn.Module & { forward(inputs: { inputIds: Tensor; labels: Tensor }): { loss?: Tensor | null } };

function buildModel(setup: Setup, seed: number): Classifier {
  manualSeed(seed);
  const bert = new models.BertForSequenceClassification({
    ...TINY_BERT_CONFIG,
    hiddenDropoutProb: 0,
    attentionProbsDropoutProb: 0,
  });
  if (setup.model === 'full') return bert as unknown as Classifier;
  const lora = new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'] });
  return getPeftModel(bert, lora) as unknown as Classifier;
}

/** Micro-batch `micro` of step `step`: 8 rows of token ids and labels from a fixed formula. */
function rowsOf(step: number, micro: number, rank: number, worldSize: number): { ids: number[][]; labels: number[] } {
  const ids: number[][] = [];
  const labels: number[] = [];
  for (let row = rank; row < BATCH; row += worldSize) {
    // Two batches (per micro-step) in turn, labels from the first token: the model can learn them.
    const n = ((step % 2) * 7 + micro * 3) * BATCH + row;
    const tokens = Array.from({ length: SEQUENCE }, (_, t) => 1 + ((n * 31 + t * 17 + n * t) % 99));
    ids.push(tokens);
    labels.push(tokens[0] % 3);
  }
  return { ids, labels };
}

/** Trains for STEPS optimizer steps as `rank` of `worldSize`, through DDP when worldSize > 1. */
export function train(setup: Setup, rank: number, worldSize: number): TrainResult {
  const model = buildModel(setup, rank);
  const wrapped = worldSize > 1 ? new distributed.DistributedDataParallel(model) : undefined;
  const forward = wrapped ? wrapped.forward.bind(wrapped) : model.forward.bind(model);
  const trainable = model.parameters().filter((p) => p.requiresGrad);
  const optimizer =
    setup.optimizer === 'sgd'
      ? new optim.SGD(trainable, { lr: 0.1, momentum: 0.9 })
      : new optim.AdamW(trainable, { lr: 1e-2 });
  const losses: number[] = [];
  const classifier = model
    .namedParameters()
    .find(
      ([name]) => name.endsWith('classifier.weight') || name.endsWith('classifier.modules_to_save.default.weight'),
    )![1];
  let classifierGrad = { beforeSync: 0, afterSync: 0 };
  for (let step = 0; step < STEPS; step++) {
    let total = 0;
    const micro = (m: number): void =>
      tidy(() => {
        const { ids, labels } = rowsOf(step, m, rank, worldSize);
        const loss = forward({
          inputIds: tensor(ids, { dtype: 'int64' }),
          labels: tensor(labels, { dtype: 'int64' }),
        }).loss!;
        total += loss.item() / setup.accumulate;
        // Outside noSync the Reducer averages the gradients over the ranks during this backward.
        loss.div(setup.accumulate).backward();
      });
    for (let m = 0; m < setup.accumulate - 1; m++) {
      if (wrapped) wrapped.noSync(() => micro(m));
      else micro(m);
    }
    const classifierGradSum = () => tidy(() => classifier.grad?.abs().sum().item() ?? 0);
    const beforeSync = classifierGradSum();
    micro(setup.accumulate - 1);
    if (step === 0) classifierGrad = { beforeSync, afterSync: classifierGradSum() };
    optimizer.step();
    optimizer.zeroGrad();
    losses.push(total);
  }
  const weights: Record<string, number[]> = {};
  for (const [key, value] of (wrapped ?? model).stateDict()) {
    if (value.dtype === 'float32') weights[key] = Array.from(value.data() as Float32Array);
  }
  return { losses, weights, classifierGrad };
}

/** A trunk and two heads; each step uses one head, so the other's parameters get no gradient. */
export class Branches extends nn.Module {
  trunk = new nn.Linear(6, 8);
  left = new nn.Linear(8, 3);
  right = new nn.Linear(8, 3);

  forward(input: Tensor, useRight: boolean): Tensor {
    const hidden = this.trunk.forward(input).tanh();
    return (useRight ? this.right : this.left).forward(hidden);
  }
}

export type BranchesMode = 'find' | 'strict' | 'kill' | 'stall';

/** The group timeout of the 'stall' mode, and how long its last rank stays away from the collectives. */
export const STALL_TIMEOUT_MS = 2_000;
const STALL_MS = 5_000;

/**
 * Trains Branches with SGD for STEPS steps on rows rank, rank + worldSize, … of fixed batches of 8, the
 * right head on odd steps only (through DDP when worldSize > 1): the left head is unused on odd steps,
 * the right one on even steps, on every rank.
 */
export function trainBranches(
  mode: BranchesMode,
  rank: number,
  worldSize: number,
): Pick<TrainResult, 'losses' | 'weights'> {
  manualSeed(rank);
  const model = new Branches();
  const wrapped =
    worldSize > 1
      ? new distributed.DistributedDataParallel(model, { findUnusedParameters: mode !== 'strict' })
      : undefined;
  const optimizer = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    tidy(() => {
      const rows = Array.from({ length: BATCH }, (_, row) =>
        Array.from({ length: 6 }, (_, c) => Math.sin(step * 13 + row * 7 + c * 3)),
      ).filter((_, row) => row % worldSize === rank);
      const input = tensor(rows);
      const output = wrapped ? wrapped.forward(input, step % 2 === 1) : model.forward(input, step % 2 === 1);
      const loss = output
        .sub(input.narrow(1, 0, 3))
        .pow(2)
        .mean();
      losses.push(loss.item());
      if (step === 2 && rank === worldSize - 1) {
        if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
        if (mode === 'stall') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STALL_MS);
      }
      loss.backward();
    });
    optimizer.step();
    optimizer.zeroGrad();
  }
  const weights: Record<string, number[]> = {};
  for (const [key, value] of model.stateDict()) weights[key] = Array.from(value.data() as Float32Array);
  return { losses, weights };
}

/**
 * What broadcastBuffers does to a BatchNorm's running statistics: a train-mode forward on this rank's
 * own input (rank + 1 everywhere) moves them apart, then an eval-mode forward of the same input on
 * every rank shows whose statistics it used.
 */
function bufferCheck(broadcastBuffers: boolean, rank: number): { runningMean: number[]; evalOutput: number[] } {
  const ddp = new distributed.DistributedDataParallel(new nn.BatchNorm2d(2), { broadcastBuffers });
  tidy(() => ddp.forward(ones([2, 2, 3, 3]).mul(rank + 1)));
  const runningMean = Array.from(ddp.module.running_mean!.data() as Float32Array);
  ddp.eval();
  const evalOutput = tidy(() => Array.from(ddp.forward(ones([1, 2, 1, 1])).data() as Float32Array));
  return { runningMean, evalOutput };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [model, optimizer, accumulate, rank, worldSize, port] = process.argv.slice(2);
  try {
    distributed.initProcessGroup({
      initMethod: `tcp://127.0.0.1:${port}`,
      rank: Number(rank),
      worldSize: Number(worldSize),
      timeout: model === 'branches' && optimizer === 'stall' ? STALL_TIMEOUT_MS : 20_000,
    });
    const setup = { model, optimizer, accumulate: Number(accumulate) } as Setup;
    const started = performance.now();
    const result =
      model === 'buffers'
        ? bufferCheck(optimizer === 'broadcast', Number(rank))
        : model === 'branches'
          ? trainBranches(optimizer as BranchesMode, Number(rank), Number(worldSize))
          : train(setup, Number(rank), Number(worldSize));
    const ms = performance.now() - started;
    distributed.destroyProcessGroup();
    process.stdout.write(JSON.stringify({ ...result, ms }) + '\n');
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: (error as Error).stack }) + '\n');
    process.exitCode = 1;
  }
}
