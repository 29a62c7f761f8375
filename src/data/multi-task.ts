/**
 * Multi-task data: one input, several named targets, e.g. Fashion-MNIST with its class and
 * whether the garment is a top:
 *
 *     const data = new MultiTaskDataset(fashionMnist({ transform }), {
 *       tasks: {
 *         class: { target: (e) => e.label, numClasses: 10 },
 *         isTop: { target: (e) => ([0, 2, 4, 6].includes(e.label) ? 1 : 0), kind: 'binary' },
 *       },
 *     });
 *     const loader = new DataLoader(data, { batchSize: 64, collate: data.collate });
 *     // batch: { input: N×C×H×W, labels: { class: N int64, isTop: N float32 } }
 *
 * The label tensors are keyed by task name, as the multi-task losses in optim take them.
 */
import { Tensor, stack, tensor } from '../tensor/index.js';
import { checkIndex, setDatasetEpoch, type Dataset, type DatasetCapabilities } from './dataset.js';
import { tensorsIn } from './loader.js';

/**
 * classification: an integer class (int64 labels, for cross entropy); binary: 0/1 (float32, for
 * binary cross entropy with logits); regression: a number (float32).
 */
export type TaskKind = 'classification' | 'binary' | 'regression';

export interface TaskSpec<E> {
  /** The task's target for an example of the base dataset (and its index there). */
  target: (example: E, index: number) => number;
  kind?: TaskKind;
  /** Classification: the number of classes (checked), or classNames. */
  numClasses?: number;
  classNames?: readonly string[];
}

/** A task as the dataset describes it. */
export interface TaskInfo {
  name: string;
  kind: TaskKind;
  numClasses?: number;
  classNames?: readonly string[];
}

export interface MultiTaskExample<I = Tensor> {
  input: I;
  labels: Record<string, number>;
}

export interface MultiTaskBatch {
  input: Tensor;
  labels: Record<string, Tensor>;
}

export interface MultiTaskOptions<E, I> {
  tasks: Record<string, TaskSpec<E>>;
  /** The input of an example (default: its `image`). */
  input?: (example: E) => I;
}

/**
 * A dataset of `{ input, labels: { task: number } }` built from a base dataset's examples.
 * Tensors of the base example that the input does not hold are freed. Forwards setEpoch,
 * getAsync to the base dataset.
 */
export class MultiTaskDataset<E, I = Tensor> implements Dataset<MultiTaskExample<I>>, DatasetCapabilities<MultiTaskExample<I>> {
  readonly tasks: readonly TaskInfo[];
  private readonly specs: [string, TaskSpec<E>][];
  private readonly inputOf: (example: E) => I;

  constructor(
    readonly base: Dataset<E>,
    options: MultiTaskOptions<E, I>,
  ) {
    this.specs = Object.entries(options.tasks);
    if (this.specs.length === 0) throw new Error('MultiTaskDataset: no tasks');
    this.tasks = this.specs.map(([name, spec]) => {
      const kind = spec.kind ?? 'classification';
      if (!['classification', 'binary', 'regression'].includes(kind)) throw new Error(`MultiTaskDataset: task '${name}' has unknown kind '${kind}'`);
      const numClasses = spec.numClasses ?? spec.classNames?.length;
      return { name, kind, ...(numClasses !== undefined ? { numClasses } : {}), ...(spec.classNames ? { classNames: spec.classNames } : {}) };
    });
    this.inputOf =
      options.input ??
      ((example: E) => {
        const image = (example as { image?: I }).image;
        if (image === undefined) throw new Error('MultiTaskDataset: the base examples have no `image`; pass options.input');
        return image;
      });
  }

  get length(): number {
    return this.base.length;
  }

  private build(example: E, index: number): MultiTaskExample<I> {
    const labels: Record<string, number> = {};
    let input: I;
    try {
      this.specs.forEach(([name, spec], k) => {
        const value = spec.target(example, index);
        const task = this.tasks[k];
        if (typeof value !== 'number' || Number.isNaN(value)) throw new Error(`MultiTaskDataset: task '${name}' gave ${String(value)} for example ${index}`);
        if (task.kind === 'classification' && (!Number.isInteger(value) || value < 0 || (task.numClasses !== undefined && value >= task.numClasses))) {
          throw new Error(`MultiTaskDataset: task '${name}' gave class ${value} for example ${index}${task.numClasses !== undefined ? ` (numClasses ${task.numClasses})` : ''}`);
        }
        if (task.kind === 'binary' && value !== 0 && value !== 1) throw new Error(`MultiTaskDataset: binary task '${name}' gave ${value} for example ${index} (expected 0 or 1)`);
        labels[name] = value;
      });
      input = this.inputOf(example);
    } catch (error) {
      for (const t of tensorsIn(example)) t.dispose();
      throw error;
    }
    const held = tensorsIn(input);
    for (const t of tensorsIn(example)) if (!held.has(t)) t.dispose();
    return { input, labels };
  }

  get(index: number): MultiTaskExample<I> {
    checkIndex(index, this.length, 'MultiTaskDataset');
    return this.build(this.base.get(index), index);
  }

  async getAsync(index: number): Promise<MultiTaskExample<I>> {
    checkIndex(index, this.length, 'MultiTaskDataset');
    const base = this.base as Dataset<E> & DatasetCapabilities<E>;
    return this.build(base.getAsync ? await base.getAsync(index) : base.get(index), index);
  }

  setEpoch(epoch: number): void {
    setDatasetEpoch(this.base, epoch);
  }

  /** The base dataset's targets (e.g. for a split stratified by the base class). */
  get targets(): ArrayLike<number> | undefined {
    return (this.base as DatasetCapabilities).targets;
  }

  /**
   * Batches: inputs stacked, labels per task name (int64 for classification, float32 for binary
   * and regression). A bound function, to pass as DataLoader's collate.
   */
  readonly collate = (examples: readonly MultiTaskExample<I>[]): MultiTaskBatch => {
    if (examples.length === 0) throw new Error('MultiTaskDataset.collate: no examples');
    const inputs = examples.map((e) => e.input);
    if (!inputs.every((x) => x instanceof Tensor)) throw new Error('MultiTaskDataset.collate: inputs must be tensors (use DataLoader with defaultCollate for other inputs)');
    const labels: Record<string, Tensor> = {};
    for (const task of this.tasks) {
      const values = examples.map((e) => e.labels[task.name]);
      labels[task.name] = tensor(values, { dtype: task.kind === 'classification' ? 'int64' : 'float32' });
    }
    return { input: stack(inputs as unknown as Tensor[], 0), labels };
  };
}
