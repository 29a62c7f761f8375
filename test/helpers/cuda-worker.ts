/**
 * The training runs of test/cuda.test.ts: a tiny BERT classifier with LoRA (dropout 0, so runs are
 * deterministic) trained for STEPS SGD steps on fixed batches of 8 rows, on a given device.
 *   In the test process: `trainOn(device, 0, 1)` is the 1-process × batch 8 reference.
 *   As a child: `node cuda-worker.js <backend> <device> <rank> <worldSize> <port>` joins the group at
 *   tcp://127.0.0.1:<port> with <backend> ('nccl' or 'gloo'), allReduces a tensor on <device>
 *   ('cuda:N', or 'cuda:LOCAL' for cuda:<rank>), trains through DistributedDataParallel with deviceIds
 *   [N] on rows rank, rank + worldSize, … of each batch, and prints one JSON line, or { error }.
 * Rank r builds its model from seed r: only DDP's broadcast from rank 0 makes the copies equal.
 */
import { fileURLToPath } from 'node:url';

import {
  distributed,
  full,
  getPeftModel,
  LoraConfig,
  manualSeed,
  models,
  nn,
  optim,
  tensor,
  tidy,
  type Device,
  type Tensor,
} from '../../src/index.js';
import { TINY_BERT_CONFIG } from './tiny-configs.js';

export const STEPS = 3;
const BATCH = 8;
const SEQUENCE = 8;

export interface CudaRun {
  /** Per step, this rank's mean loss. */
  losses: number[];
  /** The trained (LoRA and classifier) parameters after the last step, name → values. */
  weights: Record<string, number[]>;
  /** Where the parameters were after training. */
  device: string;
}

export interface WorkerResult extends CudaRun {
  /** allReduce (sum) of [rank + 1, …] over the group, read back on the CPU. */
  allReduced: number[];
}

type Classifier = nn.Module & { forward(inputs: { inputIds: Tensor; labels: Tensor }): { loss?: Tensor | null } };

/** Rows rank, rank + worldSize, … of the batch of step `step`: token ids and labels from a fixed formula. */
function rowsOf(step: number, rank: number, worldSize: number): { ids: number[][]; labels: number[] } {
  const ids: number[][] = [];
  const labels: number[] = [];
  for (let row = rank; row < BATCH; row += worldSize) {
    const n = step * BATCH + row;
    const tokens = Array.from({ length: SEQUENCE }, (_, t) => 1 + ((n * 31 + t * 17 + n * t) % 99));
    ids.push(tokens);
    labels.push(tokens[0] % 3);
  }
  return { ids, labels };
}

/**
 * Trains the LoRA classifier built from seed `rank` on `device` for STEPS steps as `rank` of `worldSize`
 * (through DistributedDataParallel with deviceIds when worldSize > 1, which also moves the CPU batches;
 * the single process moves them itself).
 */
export function trainOn(device: Device, rank: number, worldSize: number): CudaRun {
  manualSeed(rank);
  const bert = new models.BertForSequenceClassification({
    ...TINY_BERT_CONFIG,
    hiddenDropoutProb: 0,
    attentionProbsDropoutProb: 0,
  });
  const lora = new LoraConfig({ taskType: 'SEQ_CLS', r: 4, loraAlpha: 8, targetModules: ['query', 'value'] });
  const model = (getPeftModel(bert, lora) as unknown as Classifier).to(device);
  const deviceIds = device.startsWith('cuda:') ? [Number(device.slice(5))] : undefined;
  const wrapped = worldSize > 1 ? new distributed.DistributedDataParallel(model, { deviceIds }) : undefined;
  const trainable = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = new optim.SGD(trainable, { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    tidy(() => {
      const { ids, labels } = rowsOf(step, rank, worldSize);
      const inputs = { inputIds: tensor(ids, { dtype: 'int64' }), labels: tensor(labels, { dtype: 'int64' }) };
      const output = wrapped
        ? wrapped.forward(inputs)
        : model.forward({ inputIds: inputs.inputIds.to(device), labels: inputs.labels.to(device) });
      losses.push(output.loss!.item());
      output.loss!.backward();
    });
    optimizer.step();
    optimizer.zeroGrad();
  }
  const weights: Record<string, number[]> = {};
  for (const [name, p] of model.namedParameters()) {
    if (p.requiresGrad) weights[name] = Array.from(p.cpu().data() as Float32Array);
  }
  return { losses, weights, device: trainable[0].device };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [backend, deviceArg, rankArg, worldSizeArg, port] = process.argv.slice(2);
  const rank = Number(rankArg);
  const worldSize = Number(worldSizeArg);
  const device = (deviceArg === 'cuda:LOCAL' ? `cuda:${rank}` : deviceArg) as Device;
  try {
    distributed.initProcessGroup({
      backend: backend as distributed.Backend,
      initMethod: `tcp://127.0.0.1:${port}`,
      rank,
      worldSize,
      timeout: 60_000,
    });
    const summed = full([4], rank + 1, { device });
    distributed.allReduce(summed);
    const allReduced = Array.from(summed.cpu().data() as Float32Array);
    const result: WorkerResult = { ...trainOn(device, rank, worldSize), allReduced };
    distributed.destroyProcessGroup();
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: (error as Error).stack }) + '\n');
    process.exitCode = 1;
  }
}
