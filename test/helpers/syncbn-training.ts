/**
 * The runs test/sync-batchnorm.test.ts compares.
 *   In the test process: `trainCnn('plain', 0, 1)` is the 1-process × batch 8 reference, and
 *   `normCase()` the float64 batch norm of the whole batch.
 *   As a child: `node syncbn-training.js <case> <rank> <worldSize> <port>` joins the group at
 *   tcp://127.0.0.1:<port>, runs <case> and prints one JSON line, or { error }:
 *     'sync' / 'plain': trainCnn with SyncBatchNorm or BatchNorm2d under DistributedDataParallel, on
 *       rows rank, rank + worldSize, … of each batch of 8;
 *     'gather': distributed.nn.allGather's values and gradients (gatherCase);
 *     'norm:k': SyncBatchNorm in float64 on this rank's rows of normCase's batch (rank 0 the first k).
 * Rank r builds its CNN from seed r: only DDP's broadcast from rank 0 makes the copies equal.
 */
import { fileURLToPath } from 'node:url';

import {
  distributed,
  functional as F,
  manualSeed,
  nn,
  noGrad,
  optim,
  randn,
  tensor,
  tidy,
  type Tensor,
} from '../../src/index.js';

export const STEPS = 20;
const BATCH = 8;
const CLASSES = 3;

export interface CnnResult {
  losses: number[];
  /** The float state dict after training (parameters and running statistics), key → values. */
  weights: Record<string, number[]>;
  batchesTracked: number;
}

/** conv → BatchNorm2d → ReLU → max-pool → linear, on 3×8×8 images. */
function buildCnn(seed: number): nn.Sequential {
  manualSeed(seed);
  return new nn.Sequential(
    new nn.Conv2d(3, 4, 3, { padding: 1 }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(4 * 4 * 4, CLASSES),
  );
}

/**
 * Rows rank, rank + worldSize, … of step `step`'s batch of 8 images: values from a formula with a
 * per-channel offset and scale (so the batch statistics matter), labels the row modulo 3.
 */
function batchOf(step: number, rank: number, worldSize: number): { images: Tensor; labels: Tensor } {
  const images: number[][][][] = [];
  const labels: number[] = [];
  for (let row = rank; row < BATCH; row += worldSize) {
    const n = (step % 4) * BATCH + row;
    images.push(
      Array.from({ length: 3 }, (_, c) =>
        Array.from({ length: 8 }, (_, h) =>
          Array.from({ length: 8 }, (_, w) => c + (1 + c) * Math.sin(n * 0.7 + c * 1.3 + h * 0.5 + w * 0.9 + h * w)),
        ),
      ),
    );
    labels.push(row % CLASSES);
  }
  return { images: tensor(images), labels: tensor(labels, { dtype: 'int64' }) };
}

/** STEPS of SGD as `rank` of `worldSize`, through DDP (with SyncBatchNorm when `norm` is 'sync') when worldSize > 1. */
export function trainCnn(norm: 'sync' | 'plain', rank: number, worldSize: number): CnnResult {
  const cnn = buildCnn(rank);
  const model = norm === 'sync' ? distributed.SyncBatchNorm.convertSyncBatchnorm(cnn) : cnn;
  const ddp = worldSize > 1 ? new distributed.DistributedDataParallel(model) : undefined;
  const optimizer = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    tidy(() => {
      const { images, labels } = batchOf(step, rank, worldSize);
      const logits = ddp ? ddp.forward(images) : model.forward(images);
      const loss = F.crossEntropy(logits, labels);
      losses.push(loss.item());
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  const weights: Record<string, number[]> = {};
  for (const [key, value] of model.stateDict()) {
    if (value.dtype === 'float32') weights[key] = Array.from(value.data() as Float32Array);
  }
  const batchesTracked = Number(model.stateDict().get('1.num_batches_tracked')!.item());
  return { losses, weights, batchesTracked };
}

export interface GatherResult {
  gathered: number[][];
  grad: number[];
}

/**
 * Rank r gathers x_r = (r + 1)·[1, 2, 3] (float64) and backpropagates
 * loss_r = Σ_k (r + 1)(k + 1)·‖gathered[k]‖²: ∂(Σ_r loss_r)/∂x_j = 2(j + 1)·x_j·Σ_r (r + 1).
 */
function gatherCase(rank: number): GatherResult {
  return tidy(() => {
    const x = tensor([1, 2, 3], { dtype: 'float64' })
      .mul(rank + 1)
      .requiresGrad_();
    const gathered = distributed.nn.allGather(x);
    gathered
      .map((g, k) =>
        g
          .square()
          .sum()
          .mul((rank + 1) * (k + 1)),
      )
      .reduce((a, b) => a.add(b))
      .backward();
    return {
      gathered: gathered.map((g) => Array.from(g.data() as Float64Array)),
      grad: Array.from(x.grad!.data() as Float64Array),
    };
  });
}

export interface NormResult {
  output: number[];
  inputGrad: number[];
  weightGrad: number[];
  biasGrad: number[];
  runningMean: number[];
  runningVar: number[];
}

/**
 * Batch norm in float64 of an 8×3×2×2 batch (seed 7) with weight and bias not 1 and 0, backpropagating
 * Σ output·G for a fixed G: over `rows` of it with `norm`.
 */
export function normCase(norm: nn.BatchNorm2d, rows: [number, number]): NormResult {
  return tidy(() => {
    manualSeed(7);
    const input = randn([8, 3, 2, 2], { dtype: 'float64' }).mul(3).add(1);
    const g = randn([8, 3, 2, 2], { dtype: 'float64' });
    norm.to('float64');
    noGrad(() => {
      norm.weight!.copy_(tensor([1.5, -0.5, 2], { dtype: 'float64' }));
      norm.bias!.copy_(tensor([0.1, 0.2, -0.3], { dtype: 'float64' }));
    });
    const x = input.narrow(0, rows[0], rows[1]).detach().requiresGrad_();
    const output = norm.forward(x);
    output
      .mul(g.narrow(0, rows[0], rows[1]))
      .sum()
      .backward();
    const values = (t: Tensor): number[] => Array.from(t.data() as Float64Array);
    return {
      output: values(output),
      inputGrad: values(x.grad!),
      weightGrad: values(norm.weight!.grad!),
      biasGrad: values(norm.bias!.grad!),
      runningMean: values(norm.running_mean!),
      runningVar: values(norm.running_var!),
    };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name, rank, worldSize, port] = process.argv.slice(2);
  try {
    distributed.initProcessGroup({
      initMethod: `tcp://127.0.0.1:${port}`,
      rank: Number(rank),
      worldSize: Number(worldSize),
      timeout: 20_000,
    });
    const r = Number(rank);
    // 'norm:k': rank 0 takes rows 0 … k-1 of the 8, rank 1 the rest.
    const split = Number(name.split(':')[1]);
    const result =
      name === 'gather'
        ? gatherCase(r)
        : name.startsWith('norm:')
          ? normCase(new distributed.SyncBatchNorm(3), r === 0 ? [0, split] : [split, 8 - split])
          : trainCnn(name as 'sync' | 'plain', r, Number(worldSize));
    distributed.destroyProcessGroup();
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: (error as Error).stack }) + '\n');
    process.exitCode = 1;
  }
}
