/**
 * Cached frozen features (TrainingArguments.cacheFrozenFeatures): when what trains sits on top of
 * frozen layer groups, their outputs never change, so train() computes them once per example (in
 * eval mode, without gradients) and trains the rest of the model on them. The cut is the first layer
 * group holding a trainable parameter; the model's family runs the prefix and the rest
 * (models' FrozenPrefixSplit). The run then equals an uncached run whose frozen part is in eval mode:
 * dropout off there and BatchNorm on its running statistics (transformers' head-only run keeps the
 * frozen part's dropout on), which the plan line says.
 *
 * The features are stored per example (feature-store.ts: in memory up to a budget, else in a file
 * under the output folder, removed when train() ends) and batched again in the order the training
 * data would be, so the steps see the same examples as without the cache.
 */
import { fromTypedArray, noGrad, tidy, type DType, type Tensor } from '../tensor/index.js';
import { BatchNorm2d, Dropout, type Module } from '../nn/index.js';
import {
  frozenPrefixSplitOf,
  hasLayerGroups,
  parameterGroupsOf,
  type FrozenPrefixSplit,
  type PrefixFeatures,
} from '../models/index.js';
import { familyOfModel } from '../models/registry.js';
import { PeftConfig, PeftModel } from '../peft/index.js';
import { DataLoader, randomAugmentationOf, type Dataset } from '../data/index.js';
import { formatInteger } from '../format/numbers.js';
import { forwardArgument, labelsOf } from './model-io.js';
import { FeatureStore, featureCacheMemoryBudget } from './feature-store.js';
import type { TrainingArguments } from './training-args.js';

/** The key that holds the features in a batch of cached features (a plain object: the DataLoader frees its tensors). */
const FEATURES_KEY = 'frozenFeatures';
/** The feature that marks sequences (see PrefixFeatures). */
const MASK_KEY = 'attentionMask';

/** What the Trainer knows when it decides whether to cache. */
export interface FeatureCacheContext {
  /** The model being trained (a PeftModel for a PEFT strategy). */
  model: Module;
  args: TrainingArguments;
  trainDataset: Dataset<unknown>;
  worldSize: number;
  /** The device the model trains on (the cache is built and read on the CPU). */
  device: string;
  /** TrainerOptions.forward or computeLoss was given (they see the batch's inputs). */
  customForward: boolean;
  /** How many times the run reads the training data (maxSteps' batches over the batches of an epoch). */
  epochs: number;
}

/** Where to cut, when caching applies. */
export interface FeatureCachePlan {
  split: FrozenPrefixSplit;
  /** Layer groups in the frozen prefix. */
  groups: number;
  /** The prefix in words: "bert embeddings … encoder.layer.3". */
  prefix: string;
  /** What eval mode changes in the prefix, for the plan line ('' when nothing). */
  evalModeNote: string;
}

/**
 * Whether to cache: the plan, or why not. With cacheFrozenFeatures true a reason throws (naming it),
 * with 'auto' it goes in the plan line; false gives null (nothing said).
 */
export function chooseFeatureCache(context: FeatureCacheContext): FeatureCachePlan | { off: string } | null {
  const setting = context.args.cacheFrozenFeatures;
  if (setting === false) return null;
  const reason = whyNotCache(context);
  if (typeof reason !== 'string') return reason;
  if (setting === true) throw new Error(`cacheFrozenFeatures (--cache-frozen-features): ${reason}`);
  return { off: reason };
}

function whyNotCache(context: FeatureCacheContext): FeatureCachePlan | string {
  const { model, args, worldSize } = context;
  const strategy = args.strategy;
  if (worldSize > 1) return 'not supported with several processes yet';
  if (context.device !== 'cpu')
    return `not supported on ${context.device} yet (the cache is built and read on the CPU)`;
  if (model instanceof PeftModel || strategy instanceof PeftConfig)
    return 'a PEFT method puts trainable adapters inside the layers: no frozen part below them to cache';
  if (strategy?.kind === 'gradual-unfreezing') return 'gradual unfreezing changes the frozen part while training';
  if (context.customForward) return 'a custom forward or computeLoss (TrainerOptions) reads the batch inputs';
  const split = frozenPrefixSplitOf(model);
  const architecture = model.constructor.name;
  if (!split || !split.supports(model) || !hasLayerGroups(model))
    return `${architecture} cannot run from cached features (BERT sequence classification, ViT image classification, ResNet and AlexNet can)`;
  const groups = parameterGroupsOf(model);
  const firstTrainable = groups.findIndex((g) => g.parameters.some(([, p]) => p.requiresGrad));
  if (firstTrainable < 0) return 'no parameter trains';
  if (firstTrainable === 0) {
    const batchNorm = args.trainBatchNorm && model.modules().some((m) => m instanceof BatchNorm2d);
    return `nothing is frozen: layer group '${groups[0].name}', the first, trains${batchNorm ? ' (its BatchNorm weights train with trainBatchNorm: --train-bn false freezes them)' : ''}`;
  }
  const augmentation = randomAugmentationOf(context.trainDataset);
  if (augmentation) return `the training examples change every epoch: ${augmentation}`;
  if (args.cacheFrozenFeatures === 'auto' && context.epochs <= 1)
    return 'the run reads each training example at most once: nothing to reuse';
  const prefixModules = groupModules(model, firstTrainable);
  const notes = [
    prefixModules.some((m) => m instanceof Dropout && m.p > 0)
      ? "dropout off there (transformers' head-only run keeps it on)"
      : '',
    prefixModules.some((m) => m instanceof BatchNorm2d) ? 'BatchNorm on its running statistics' : '',
  ].filter(Boolean);
  const names = groups.slice(0, firstTrainable).map((g) => g.name);
  return {
    split,
    groups: firstTrainable,
    prefix: `${familyOfModel(model).family.modelType} ${names.length > 1 ? `${names[0]} … ${names[names.length - 1]}` : names[0]}`,
    evalModeNote: notes.length ? `; the frozen part runs in eval mode: ${notes.join(', ')}` : '',
  };
}

/** The modules (and everything under them) of the first `count` layer groups. */
function groupModules(model: Module, count: number): Module[] {
  const { family } = familyOfModel(model);
  return family.layerGroups!(model)
    .slice(0, count)
    .flatMap((g) => g.modules.flatMap((m) => m.modules()));
}

/** How each feature is stored: its dtype, the shape of one example's row past the sequence, whether it is a sequence. */
interface FeatureLayout {
  name: string;
  dtype: DType;
  /** The row's shape after the batch (and, for a sequence, the length) dimension. */
  inner: number[];
  sequence: boolean;
  /** Bytes per row position: the product of `inner` × the element size. */
  bytesPerPosition: number;
}

/**
 * The frozen prefix's outputs for every training example, as a dataset of example indices whose
 * collate gives batches of features ({ frozenFeatures, labels }) for forward().
 */
export class FrozenFeatureCache implements Dataset<number> {
  readonly #store: FeatureStore;
  readonly #layout: FeatureLayout[];
  /** Each example's length (1 when there are no sequences). */
  readonly #lengths: Int32Array;

  private constructor(
    readonly plan: FeatureCachePlan,
    store: FeatureStore,
    layout: FeatureLayout[],
    lengths: Int32Array,
  ) {
    this.#store = store;
    this.#layout = layout;
    this.#lengths = lengths;
  }

  /**
   * Runs the prefix of `model` over `dataset` in order, `batchSize` examples at a time through
   * `collate`, in eval mode without gradients, and stores each example's features (and labels).
   */
  static async build(
    model: Module,
    plan: FeatureCachePlan,
    dataset: Dataset<unknown>,
    options: { batchSize: number; collate?: (examples: unknown[]) => unknown; outputDir: string },
  ): Promise<FrozenFeatureCache> {
    const store = new FeatureStore(dataset.length, featureCacheMemoryBudget(), options.outputDir);
    const lengths = new Int32Array(dataset.length);
    let layout: FeatureLayout[] | null = null;
    const loader = new DataLoader<unknown, unknown>(dataset, {
      batchSize: options.batchSize,
      collate: options.collate,
    });
    const wasTraining = model.training;
    model.eval();
    try {
      for await (const batch of loader.epoch(0)) {
        const { chunk, recordLengths } = tidy(() =>
          noGrad(() => {
            const features = plan.split.forwardFrozenPrefix(model, forwardArgument(model, batch, false), plan.groups);
            const labels = labelsOf(batch);
            const all: PrefixFeatures = labels ? { ...features, labels } : features;
            layout ??= layoutOf(all);
            return records(all, layout, lengths, store.count);
          }),
        );
        store.append(chunk, recordLengths);
      }
    } catch (error) {
      store.close();
      throw error;
    } finally {
      model.train(wasTraining);
    }
    return new FrozenFeatureCache(plan, store, layout ?? [], lengths);
  }

  get length(): number {
    return this.#store.count;
  }

  get(index: number): number {
    return index;
  }

  /** The plan line: what is cached and where (with the cache of the evaluation data, when there is one). */
  describe(evaluation: FrozenFeatureCache | null = null): string {
    const examples = evaluation
      ? `${formatInteger(this.length)} training examples, ${this.#store.describe()}; ${formatInteger(evaluation.length)} evaluation examples, ${evaluation.#store.describe()}`
      : `${formatInteger(this.length)} examples, ${this.#store.describe()}`;
    return `frozen features: cached (${this.plan.prefix}, ${examples})${this.plan.evalModeNote}`;
  }

  /** A batch of examples' features, sequences padded with zeros to the longest; the labels as `labels`. */
  collate(indices: number[]): Record<string, unknown> {
    const maxLength = indices.reduce((m, i) => Math.max(m, this.#lengths[i]), 1);
    const buffers = this.#layout.map(
      (f) => new Uint8Array(indices.length * (f.sequence ? maxLength : 1) * f.bytesPerPosition),
    );
    indices.forEach((index, row) => {
      const bytes = this.#store.read(index);
      let offset = 0;
      this.#layout.forEach((f, k) => {
        const size = (f.sequence ? this.#lengths[index] : 1) * f.bytesPerPosition;
        buffers[k].set(bytes.subarray(offset, offset + size), row * (f.sequence ? maxLength : 1) * f.bytesPerPosition);
        offset += size;
      });
    });
    const tensors: Record<string, Tensor> = {};
    this.#layout.forEach((f, k) => {
      const shape = [indices.length, ...(f.sequence ? [maxLength] : []), ...f.inner];
      tensors[f.name] = fromTypedArray(buffers[k], shape, { dtype: f.dtype });
    });
    const { labels, ...features } = tensors;
    return labels ? { [FEATURES_KEY]: features, labels } : { [FEATURES_KEY]: features };
  }

  /** Whether a batch is one of this cache's. */
  static isBatch(batch: unknown): batch is { [FEATURES_KEY]: PrefixFeatures } {
    return typeof batch === 'object' && batch !== null && FEATURES_KEY in batch;
  }

  /** The model's logits on a batch of cached features (the layer groups after the prefix). */
  forward(model: Module, batch: { [FEATURES_KEY]: PrefixFeatures }): Tensor {
    return this.plan.split.forwardFromCache(model, batch[FEATURES_KEY], this.plan.groups);
  }

  /** Frees the features (and removes their file). */
  close(): void {
    this.#store.close();
  }
}

/** The layout of a prefix's features (every tensor batch first; with an attention mask, [batch, length, …] ones are sequences). */
function layoutOf(features: PrefixFeatures): FeatureLayout[] {
  const mask = features[MASK_KEY];
  const length = mask && mask.ndim === 2 ? mask.shape[1] : null;
  return Object.entries(features).map(([name, t]) => {
    const sequence = length !== null && t.ndim >= 2 && t.shape[1] === length;
    const inner = t.shape.slice(sequence ? 2 : 1);
    const elementBytes = t.numel() ? t.data().byteLength / t.numel() : 4;
    return { name, dtype: t.dtype, inner, sequence, bytesPerPosition: inner.reduce((n, d) => n * d, elementBytes) };
  });
}

/**
 * One batch's records: for each example its features' rows, a sequence's up to its last real token
 * (its length is written to `lengths` at `first` + the row).
 */
function records(
  features: PrefixFeatures,
  layout: FeatureLayout[],
  lengths: Int32Array,
  first: number,
): { chunk: Uint8Array; recordLengths: number[] } {
  const batch = features[layout[0].name].shape[0];
  const mask = layout.some((f) => f.sequence) ? features[MASK_KEY] : null;
  const maskValues = mask ? mask.contiguous().data() : null;
  const padded = mask ? mask.shape[1] : 1;
  const rowLengths = Array.from({ length: batch }, (_, row) => {
    if (!maskValues) return 1;
    let last = padded;
    while (last > 1 && Number(maskValues[row * padded + last - 1]) === 0) last--;
    return last;
  });
  const bytes = layout.map((f) => {
    const t = features[f.name];
    if (t.shape[0] !== batch || (f.sequence && t.shape[1] !== padded) || t.dtype !== f.dtype)
      throw new Error(`cached features: '${f.name}' has shape [${t.shape}] (${t.dtype}), unlike the first batch's`);
    const data = t.contiguous().data();
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  });
  const recordLengths = rowLengths.map((length) =>
    layout.reduce((n, f) => n + (f.sequence ? length : 1) * f.bytesPerPosition, 0),
  );
  const chunk = new Uint8Array(recordLengths.reduce((a, b) => a + b, 0));
  let offset = 0;
  rowLengths.forEach((length, row) => {
    lengths[first + row] = length;
    layout.forEach((f, k) => {
      const rowBytes = (f.sequence ? padded : 1) * f.bytesPerPosition;
      const size = (f.sequence ? length : 1) * f.bytesPerPosition;
      chunk.set(bytes[k].subarray(row * rowBytes, row * rowBytes + size), offset);
      offset += size;
    });
  });
  return { chunk, recordLengths };
}
