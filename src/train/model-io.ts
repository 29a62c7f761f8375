/**
 * How the Trainer talks to a model: a batch in (each model family declares how it takes one, see
 * models.BatchInput), logits and an optional loss out; the labels of a batch; what the model's
 * config says (problem type, config.json form); the FLOs a batch costs.
 */
import { Tensor } from '../tensor/index.js';
import { Embedding, type Module } from '../nn/index.js';
import { ViTPatchEmbeddings, batchInputOf, type HfConfig, type ProblemType } from '../models/index.js';
import { familyOfModel } from '../models/registry.js';
import { isPretrainedModel } from '../models/pretrained-model.js';
import { PeftModel } from '../peft/index.js';
import { DistributedDataParallel } from '../distributed/index.js';
import { loadedConfigOf } from '../io/index.js';

/** What a model's forward returns, as the Trainer uses it. */
export interface ModelOutput {
  logits: Tensor;
  loss?: Tensor;
}

/**
 * What a multi-head model returns for multi-task training: logits per task name (a plain record of
 * tensors keyed by the task names is read as the logits too).
 */
export interface MultiTaskModelOutput {
  logits: Record<string, Tensor>;
  loss?: Tensor;
}

/** A batch's label keys: never passed to a model as inputs under their own name. */
const LABEL_KEYS = new Set(['label', 'labels']);

export function isIntegerDtype(t: Tensor): boolean {
  return /int/.test(t.dtype);
}

/** The batch's labels tensor: `labels`, else `label`. */
export function labelsOf(batch: unknown): Tensor | undefined {
  if (typeof batch !== 'object' || batch === null || batch instanceof Tensor) return undefined;
  const b = batch as Record<string, unknown>;
  const labels = b.labels ?? b.label;
  return labels instanceof Tensor ? labels : undefined;
}

export function callForward(model: Module, ...inputs: unknown[]): unknown {
  const forward = (model as unknown as { forward?: (...a: unknown[]) => unknown }).forward;
  if (typeof forward !== 'function') throw new Error(`${model.constructor.name} has no forward()`);
  return forward.apply(model, inputs);
}

/** The model inside a PeftModel or a DistributedDataParallel (or the model). */
export function innerModel(model: Module): Module {
  if (model instanceof DistributedDataParallel) return innerModel(model.module);
  return model instanceof PeftModel ? model.model : model;
}

/** Whether a batch holds exactly one input (besides its labels) and it is a tensor: what a module that declares no BatchInput gets as a tensor. */
function holdsOneInputTensor(batch: Record<string, unknown>): boolean {
  const inputs = Object.keys(batch).filter((key) => !LABEL_KEYS.has(key));
  return inputs.length === 1 && batch[inputs[0]] instanceof Tensor;
}

/**
 * Runs the model on a batch the way its class declares (models.BatchInput): 'tensor' models get the
 * batch's `pixelValues`, `image` or `input` tensor; 'inputs' models the batch's tensors by name, an
 * `image` as `pixelValues` and, with includeLabels, the labels as `labels`. A module that declares
 * nothing gets the tensor when the batch holds one input tensor, else the named inputs.
 */
export function defaultForward(model: Module, batch: unknown, includeLabels: boolean): ModelOutput | Tensor {
  return callForward(model, forwardArgument(model, batch, includeLabels)) as ModelOutput | Tensor;
}

/** What defaultForward passes to the model's forward for a batch: a tensor, or the named inputs. */
export function forwardArgument(model: Module, batch: unknown, includeLabels: boolean): unknown {
  if (batch instanceof Tensor) return batch;
  if (typeof batch !== 'object' || batch === null)
    throw new Error(`the Trainer expects batches that are objects of tensors, got ${typeof batch}`);
  const b = batch as Record<string, unknown>;
  const inner = innerModel(model);
  const declared = batchInputOf(inner);
  if (declared === 'tensor' || (declared === null && holdsOneInputTensor(b))) {
    const x = b.pixelValues ?? b.image ?? b.input ?? b[Object.keys(b).find((key) => !LABEL_KEYS.has(key)) ?? ''];
    if (!(x instanceof Tensor))
      throw new Error(
        `${inner.constructor.name} takes an image tensor: the batch needs 'image' or 'pixelValues' (it has ${Object.keys(b).join(', ')})`,
      );
    return x;
  }
  const inputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(b)) {
    if (LABEL_KEYS.has(key) || key === 'image') continue;
    inputs[key] = value;
  }
  if (b.image instanceof Tensor && !('pixelValues' in b)) inputs.pixelValues = b.image;
  const labels = labelsOf(batch);
  if (includeLabels && labels) inputs.labels = labels;
  return inputs;
}

/** A model's output as { logits, loss? } (a tensor is the logits). */
export function asOutput(value: ModelOutput | MultiTaskModelOutput | Tensor, model: Module): ModelOutput {
  if (value instanceof Tensor) return { logits: value };
  if (typeof value === 'object' && value !== null && (value as ModelOutput).logits instanceof Tensor)
    return value as ModelOutput;
  if (typeof value === 'object' && value !== null && typeof value.logits === 'object' && value.logits !== null) {
    throw new Error(
      `${model.constructor.name}.forward returned logits per task (${Object.keys(value.logits).join(', ')}): give the Trainer multiTask: { loss: new optim.MultiTaskLoss([...tasks], strategy) }`,
    );
  }
  throw new Error(`${model.constructor.name}.forward returned neither logits nor { logits, loss? }`);
}

/**
 * The model's config.json form (snake_case, model_type), when it is a registered family, over the
 * keys of the config.json it was loaded from that its typed config does not keep (the pretraining lr).
 */
export function hfConfigOf(model: Module): HfConfig | null {
  const inner = innerModel(model);
  try {
    const { family } = familyOfModel(inner);
    return {
      ...loadedConfigOf(inner),
      ...(isPretrainedModel(inner) ? inner.toConfigJson() : { model_type: family.modelType }),
    };
  } catch {
    return null;
  }
}

export function problemTypeOf(model: Module): ProblemType | null {
  const inner = innerModel(model);
  return isPretrainedModel(inner) ? inner.headLabels().problemType : null;
}

/**
 * total_flos as transformers estimates it (PreTrainedModel.floating_point_ops, after Kaplan et al. 2020,
 * section 2.1): 6 × tokens × non-embedding parameters per forward + backward pass — a multiply-add per
 * parameter and token forward, two backward. The parameters are all of the model's (frozen and adapter
 * ones included, as num_parameters(exclude_embeddings=True)) less the weights of its Embedding layers;
 * the tokens are a batch's input ids, padding included (input_ids.numel()). For a ViT they are its
 * patches and [CLS] per image: transformers counts pixel_values' elements there, which are not tokens.
 * A model that takes an image tensor (a CNN, BatchInput 'tensor') gets no estimate (null; 0 in
 * trainer_state.json, as transformers records for a model it cannot estimate): its weights are reused
 * at every position, so 6 × parameters × tokens describes nothing.
 */
export class FlosEstimate {
  readonly #flosPerToken: number;
  /** Tokens per image (ViT), null for models whose inputs are token ids. */
  readonly #tokensPerImage: number | null;

  private constructor(flosPerToken: number, tokensPerImage: number | null) {
    this.#flosPerToken = flosPerToken;
    this.#tokensPerImage = tokensPerImage;
  }

  static of(model: Module): FlosEstimate | null {
    if (batchInputOf(innerModel(model)) === 'tensor') return null;
    const embeddingWeights = new Set(model.modules().flatMap((m) => (m instanceof Embedding ? [m.weight] : [])));
    const params = model.parameters().reduce((n, p) => n + (embeddingWeights.has(p) ? 0 : p.numel()), 0);
    const patches = model.modules().find((m): m is ViTPatchEmbeddings => m instanceof ViTPatchEmbeddings);
    return new FlosEstimate(6 * params, patches ? patches.numPatches + 1 : null);
  }

  /** The FLOs of a forward + backward pass over `batch` (0 when it holds neither input ids nor images). */
  of(batch: unknown): number {
    if (typeof batch !== 'object' || batch === null || batch instanceof Tensor) return 0;
    const b = batch as Record<string, unknown>;
    if (this.#tokensPerImage === null)
      return b.inputIds instanceof Tensor ? this.#flosPerToken * b.inputIds.numel() : 0;
    const images = b.pixelValues ?? b.image;
    return images instanceof Tensor ? this.#flosPerToken * this.#tokensPerImage * images.shape[0] : 0;
  }
}
