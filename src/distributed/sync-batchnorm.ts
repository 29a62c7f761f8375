/**
 * SyncBatchNorm (torch.nn.SyncBatchNorm): batch normalisation whose training statistics are those of
 * the whole global batch, every rank's rows together, so that N processes × batch B normalise, and
 * update the running statistics, as 1 process × batch N·B does. Under plain DDP each rank's BatchNorm
 * sees only its own rows.
 */
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import type { Module } from '../nn/module.js';
import { full, noGrad, stack, type Device, type Tensor } from '../tensor/index.js';
import { getWorldSize, isInitialized } from './index.js';
import { allGather } from './nn.js';

/**
 * BatchNorm2d's parameters, buffers and checkpoint keys (weight, bias, running_mean, running_var,
 * num_batches_tracked) over N×C×… input. In training with a process group of more than one rank, each
 * rank's per-channel count, mean and sum of squared deviations are gathered (differentiably, so the
 * gradient reaches every rank's rows), combined into the global mean and biased variance that
 * normalise, and the running statistics move towards the global mean and unbiased variance by
 * momentum, as torch. In eval, or without a group of several ranks, it is plain batch normalisation.
 * Unlike torch's (CUDA only), it runs on CPU tensors (the gloo backend).
 */
export class SyncBatchNorm extends BatchNorm2d {
  override forward(input: Tensor): Tensor {
    if (input.ndim < 2) throw new Error(`SyncBatchNorm expects N×C×… input, got shape [${input.shape}]`);
    if (input.shape[1] !== this.numFeatures) {
      throw new Error(`SyncBatchNorm(${this.numFeatures}) got input with ${input.shape[1]} channels: [${input.shape}]`);
    }
    if (!this.training || !isInitialized() || getWorldSize() === 1) return this.normalize(input);
    return this.#normalizeGlobally(input);
  }

  #normalizeGlobally(input: Tensor): Tensor {
    const momentum = this.countBatch();
    const channels = this.numFeatures;
    const reduced = [0, ...Array.from({ length: input.ndim - 2 }, (_, i) => i + 2)];
    const perChannel = [1, channels, ...Array<number>(input.ndim - 2).fill(1)];
    // Each rank's mean and sum of squared deviations, combined below as Chan et al.'s parallel variance:
    // no E[x²] − E[x]² cancellation. A rank with no rows adds zeros (a sum, not mean()'s NaN), and still
    // takes part in backward's collective through them.
    const count = input.numel() / channels;
    const localMean = input.sum(reduced).div(Math.max(count, 1));
    const localSquares = input.sub(localMean.view(perChannel)).square().sum(reduced);
    const local = stack([
      full([channels], count, { dtype: input.dtype, device: input.device as Device }),
      localMean,
      localSquares,
    ]);
    const ranks = stack(allGather(local)); // world × 3 × channels
    const [counts, means, squares] = [0, 1, 2].map((row) => ranks.select(1, row));
    const total = counts.sum(0);
    const mean = counts.mul(means).sum(0).div(total);
    const sumOfSquares = squares.add(counts.mul(means.sub(mean).square())).sum(0);
    // The same on every rank, so either all throw or none.
    const totalCount = total.select(0, 0).item();
    if (totalCount <= 1) {
      throw new Error(
        `SyncBatchNorm expects more than 1 value per channel over all ranks when training, got ${totalCount} ` +
          `(this rank's input: [${input.shape}])`,
      );
    }
    const { running_mean: runningMean, running_var: runningVar } = this;
    if (runningMean && runningVar) {
      noGrad(() => {
        runningMean.mul_(1 - momentum).add_(mean.mul(momentum));
        runningVar.mul_(1 - momentum).add_(sumOfSquares.div(total.sub(1)).mul(momentum));
      });
    }
    const invStd = sumOfSquares.div(total).add(this.eps).rsqrt();
    const normalized = input.sub(mean.view(perChannel)).mul(invStd.view(perChannel));
    if (this.weight === null || this.bias === null) return normalized;
    return normalized.mul(this.weight.view(perChannel)).add(this.bias.view(perChannel));
  }

  /**
   * `module` with every BatchNorm2d in its tree replaced by a SyncBatchNorm holding the same tensors
   * (torch.nn.SyncBatchNorm.convert_sync_batchnorm): the parameters, running statistics and training
   * mode carry over, so an optimizer made before still trains them. Returns the new module when
   * `module` itself is a BatchNorm2d, else `module`, changed in place. Convert before wrapping the model
   * in DistributedDataParallel.
   */
  static convertSyncBatchnorm<M extends Module>(module: M): M {
    return convert(module, new Map()) as M;
  }
}

/** Converts `module`'s tree; `converted` maps a BatchNorm2d met twice to one SyncBatchNorm. */
function convert(module: Module, converted: Map<BatchNorm2d, SyncBatchNorm>): Module {
  if (module instanceof BatchNorm2d && !(module instanceof SyncBatchNorm)) {
    let sync = converted.get(module);
    if (sync === undefined) {
      sync = synced(module);
      converted.set(module, sync);
    }
    return sync;
  }
  for (const [name, child] of module.namedChildren()) {
    const replacement = convert(child, converted);
    if (replacement !== child) (module as unknown as Record<string, Module>)[name] = replacement;
  }
  return module;
}

/** A SyncBatchNorm holding `norm`'s own parameters and buffers. */
function synced(norm: BatchNorm2d): SyncBatchNorm {
  // Made without tensors of its own, then given norm's.
  const sync = new SyncBatchNorm(norm.numFeatures, norm.eps, norm.momentum, {
    affine: false,
    trackRunningStats: false,
  });
  sync.weight = norm.weight;
  sync.bias = norm.bias;
  sync.registerBuffer('running_mean', norm.running_mean);
  sync.registerBuffer('running_var', norm.running_var);
  sync.registerBuffer('num_batches_tracked', norm.num_batches_tracked);
  sync.training = norm.training;
  return sync;
}
