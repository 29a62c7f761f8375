/**
 * The CUDA smoke test that scripts/gpu-check.sh runs on a GPU machine (skipped where the libtorch has
 * no CUDA or no GPU is visible): a tiny BERT LoRA classifier trains on cuda:0 as on the CPU; processes
 * joined with NCCL, one GPU each, allReduce on their GPUs and train through DistributedDataParallel
 * (deviceIds [LOCAL_RANK]) as one process does. NCCL refuses two ranks on one GPU, so with a single
 * GPU the NCCL group has one rank, and two processes joined with gloo on CUDA tensors (both on cuda:0)
 * show the two-rank averaging instead.
 * FINETUNE_SMOKE_DEVICE=cpu runs the same steps on the CPU (gpu-check.sh --cpu, to check the script here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import {
  cudaIsAvailable,
  distributed,
  getRngState,
  manualSeed,
  models,
  nn,
  rand,
  randint,
  runtimeInfo,
  setRngState,
  tidy,
  type Device,
} from '../src/index.js';
import { STEPS, trainOn, type CudaRun, type WorkerResult } from './helpers/cuda-worker.js';
import { freePort } from './helpers/free-port.js';
import { onTwoRanks } from './helpers/two-ranks.js';

const worker = fileURLToPath(new URL('./helpers/cuda-worker.js', import.meta.url));
const device = (process.env.FINETUNE_SMOKE_DEVICE || (cudaIsAvailable() ? 'cuda:0' : undefined)) as Device | undefined;
const skip = device ? false : 'no CUDA device (this libtorch has no CUDA, or no GPU is visible)';
const gpus = device?.startsWith('cuda') ? runtimeInfo().cudaDevices : 0;

/** ‖a − b‖ ≤ tolerance · ‖b‖ for every tensor, and the same names. */
function assertClose(actual: CudaRun, expected: CudaRun, tolerance: number, who: string): void {
  assert.deepEqual(Object.keys(actual.weights), Object.keys(expected.weights), who);
  for (const [name, values] of Object.entries(expected.weights)) {
    let diff = 0;
    let norm = 0;
    values.forEach((v, i) => {
      diff += (actual.weights[name][i] - v) ** 2;
      norm += v * v;
    });
    assert.ok(Math.sqrt(diff) <= tolerance * Math.sqrt(norm) + 1e-9, `${who}: ${name} differs by ${Math.sqrt(diff)}`);
  }
}

/** The ranks' mean loss per step against the one-process run's. */
function assertSameLosses(ranks: CudaRun[], expected: CudaRun, tolerance: number): void {
  for (let step = 0; step < STEPS; step++) {
    const mean = ranks.reduce((sum, r) => sum + r.losses[step], 0) / ranks.length;
    const reference = expected.losses[step];
    assert.ok(Math.abs(mean - reference) <= tolerance * Math.abs(reference), `step ${step}: ${mean} vs ${reference}`);
  }
}

/** Runs cuda-worker.js on `worldSize` (1 or 2) processes and returns each rank's result. */
async function onRanks(worldSize: number, backend: distributed.Backend, rankDevice: string): Promise<WorkerResult[]> {
  if (worldSize === 2) return onTwoRanks<WorkerResult>(worker, [backend, rankDevice]);
  const port = await freePort();
  const run = spawnSync(process.execPath, [worker, backend, rankDevice, '0', '1', String(port)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = run.stdout.split('\n').find((l) => l.startsWith('{'));
  const result = line ? (JSON.parse(line) as WorkerResult & { error?: string }) : undefined;
  if (run.status !== 0 || !result || result.error)
    throw new Error(`rank 0 exited ${run.status}: ${run.stdout}${run.stderr}`);
  return [result];
}

test('a tiny BERT with LoRA trains on the GPU as on the CPU', { skip }, () => {
  const onDevice = trainOn(device!, 0, 1);
  const onCpu = trainOn('cpu', 0, 1);
  assert.equal(onDevice.device, device);
  // The training moved.
  assert.ok(Math.abs(onCpu.losses[0] - onCpu.losses[STEPS - 1]) > 1e-4, `${onCpu.losses}`);
  assertSameLosses([onDevice], onCpu, 1e-4);
  assertClose(onDevice, onCpu, 1e-4, device!);
});

test(
  'NCCL: allReduce on the GPUs and a DDP step with deviceIds [LOCAL_RANK], one GPU per rank',
  { skip: skip || (distributed.isNcclAvailable() ? false : 'this addon was built without NCCL') },
  async () => {
    // NCCL refuses two ranks on one GPU ("Duplicate GPU detected"): one rank per GPU, at most 2.
    const worldSize = Math.min(2, gpus);
    const ranks = await onRanks(worldSize, 'nccl', 'cuda:LOCAL');
    const total = (worldSize * (worldSize + 1)) / 2;
    ranks.forEach((rank, r) => {
      assert.deepEqual(rank.allReduced, [total, total, total, total], `rank ${r}`);
      assert.equal(rank.device, `cuda:${r}`);
    });
    const reference = trainOn('cuda:0', 0, 1);
    assertSameLosses(ranks, reference, 1e-4);
    ranks.forEach((rank, r) => assertClose(rank, reference, 1e-4, `rank ${r}`));
    console.log(`nccl: ${worldSize} rank(s) on ${worldSize} GPU(s) of ${gpus}`);
  },
);

test(
  'gloo on CUDA tensors: 2 processes on one GPU allReduce and take a DDP step as 1 process does',
  { skip: skip || (distributed.isGlooAvailable() ? false : 'this addon was built without Gloo') },
  async () => {
    const ranks = await onRanks(2, 'gloo', device!);
    ranks.forEach((rank, r) => {
      assert.deepEqual(rank.allReduced, [3, 3, 3, 3], `rank ${r}`);
      assert.equal(rank.device, device);
    });
    const reference = trainOn(device!, 0, 1);
    assertSameLosses(ranks, reference, 1e-4);
    ranks.forEach((rank, r) => assertClose(rank, reference, 1e-4, `rank ${r}`));
  },
);

test(
  "the GPU's generator: its state restores the same draws, and a checkpointed layer's dropout replays them in backward",
  { skip: skip || (device!.startsWith('cuda') ? false : `${device} has no generator of its own`) },
  () => {
    tidy(() => {
      manualSeed(7);
      const state = getRngState(device!);
      const first = rand([1000], { device: device! }).cpu();
      setRngState(state, device!);
      assert.deepEqual(
        [...(rand([1000], { device: device! }).cpu().data() as Float32Array)],
        [...(first.data() as Float32Array)],
      );
    });
    // A BERT layer with dropout, checkpointed or not: the same gradients when the GPU's generator is replayed.
    const gradients = (checkpointing: boolean) =>
      tidy(() => {
        manualSeed(3);
        const model = new models.BertModel({
          vocabSize: 64,
          hiddenSize: 32,
          numHiddenLayers: 2,
          numAttentionHeads: 4,
          intermediateSize: 64,
          hiddenDropoutProb: 0.3,
          attentionProbsDropoutProb: 0.3,
        }).to(device!);
        nn.setGradientCheckpointing(model, checkpointing);
        model.train();
        manualSeed(11);
        const inputIds = randint(0, 64, [4, 12], { device: device! });
        model.forward({ inputIds }).lastHiddenState.pow(2).mean().backward();
        return model.parameters().map((p) => [...(p.grad!.cpu().data() as Float32Array)]);
      });
    const plain = gradients(false);
    const checkpointed = gradients(true);
    // the same dropout masks: equal up to the GPU kernels' summation order (different masks differ by far more)
    plain.forEach((grad, i) => {
      const scale = grad.reduce((max, g) => Math.max(max, Math.abs(g)), 0);
      const diff = grad.reduce((max, g, j) => Math.max(max, Math.abs(g - checkpointed[i][j])), 0);
      assert.ok(diff <= 1e-5 * scale + 1e-9, `parameter ${i}: gradients differ by ${diff} (largest ${scale})`);
    });
  },
);
