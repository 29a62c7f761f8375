/** BatchNorm2d (torch/nn/modules/batchnorm.py). */
import { functional as F, noGrad, ones, tensor, zeros, type Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';
import { parameter } from '../parameter.js';

/**
 * Batch normalisation over N×C×H×W. Training uses batch statistics and updates the running
 * ones (momentum 0.1, or a cumulative average when momentum is null); eval uses the running ones.
 */
export class BatchNorm2d extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  // Attribute names are the checkpoint keys, hence snake_case.
  declare running_mean: Tensor | null;
  declare running_var: Tensor | null;
  declare num_batches_tracked: Tensor | null;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum: number | null = 0.1,
    options: { affine?: boolean; trackRunningStats?: boolean } = {},
  ) {
    super();
    const affine = options.affine ?? true;
    this.weight = affine ? parameter(ones([numFeatures])) : null;
    this.bias = affine ? parameter(zeros([numFeatures])) : null;
    const track = options.trackRunningStats ?? true;
    this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', track ? tensor(0, { dtype: 'int64' }) : null);
  }

  forward(input: Tensor): Tensor {
    if (input.ndim !== 4) throw new Error(`BatchNorm2d expects N×C×H×W input, got shape [${input.shape}]`);
    return this.normalize(input);
  }

  /**
   * Counts a training batch in num_batches_tracked; returns the momentum its statistics move the
   * running ones by (1/n, a cumulative average, when momentum is null).
   */
  protected countBatch(): number {
    const tracked = this.num_batches_tracked;
    let momentum = this.momentum ?? 0;
    if (this.training && tracked) {
      noGrad(() => tracked.add_(1));
      if (this.momentum === null) momentum = 1 / tracked.item();
    }
    return momentum;
  }

  /** Batch normalisation over dimension 1 of N×C×… input, this rank's batch alone (SyncBatchNorm's local case). */
  protected normalize(input: Tensor): Tensor {
    const momentum = this.countBatch();
    // Batch statistics in training, or when there are no running ones to use
    const useBatchStats = this.training || this.running_mean === null;
    const updateRunning = this.training || !useBatchStats;
    return F.batchNorm(input, updateRunning ? this.running_mean : null, updateRunning ? this.running_var : null, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum,
      eps: this.eps,
    });
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}`;
  }
}
