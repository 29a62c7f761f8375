/**
 * The default fine-tuning learning rate: a tenth of the pretraining learning rate when the
 * checkpoint's config.json records it, else a documented per-method default. Returns the lr and a
 * line a CLI can print:
 *
 *   defaultFineTuneLr({ method: 'full', config: { model_type: 'bert' } })
 *   // { lr: 2e-5, reason: 'lr 2e-5: BERT full fine-tuning default (Devlin et al. 2019)', … }
 *   defaultFineTuneLr({ method: 'full', config: { model_type: 'bert', learning_rate: 1e-4 } })
 *   // { lr: 1e-5, reason: 'lr 1e-5 = pretraining lr 1e-4 / 10 (config.json learning_rate)', … }
 */
import type { HfConfig } from '../models/index.js';

/** Fine-tuning methods, by the names `finetune inspect` uses. */
export type FineTuneMethod =
  | 'full'
  | 'head'
  | 'top-k'
  | 'gradual'
  | 'bitfit'
  | 'ln'
  | 'adapters'
  | 'houlsby'
  | 'pfeiffer'
  | 'lora'
  | 'dora'
  | 'ia3'
  | 'prompt-tuning';

/**
 * config.json keys read as the pretraining learning rate, in this order (top level only, a
 * positive finite number): `pretraining_learning_rate`, `pretrain_learning_rate`, `learning_rate`,
 * `pretraining_lr`, `lr`. Hugging Face configs do not record it by default; some training scripts
 * and converted checkpoints do.
 */
export const PRETRAINING_LR_KEYS: readonly string[] = ['pretraining_learning_rate', 'pretrain_learning_rate', 'learning_rate', 'pretraining_lr', 'lr'];

/**
 * Methods that update the pretrained weights themselves, where "a tenth of the pretraining lr"
 * applies. The others train new parameters (head, adapters, LoRA, IA3, prompts) or a sliver of
 * the old ones (BitFit, LayerNorm tuning), whose useful rates are higher and unrelated to it.
 */
const UPDATES_PRETRAINED_WEIGHTS: ReadonlySet<FineTuneMethod> = new Set(['full', 'top-k', 'gradual']);

/** CNN families (torchvision-style training recipes); everything else is treated as a transformer. */
const CNN_MODEL_TYPES: ReadonlySet<string> = new Set(['resnet', 'alexnet', 'vgg', 'densenet', 'mobilenet', 'mobilenet_v2', 'efficientnet', 'convnext', 'regnet']);

const FAMILY_NAMES: Record<string, string> = { bert: 'BERT', vit: 'ViT', resnet: 'ResNet', alexnet: 'AlexNet', roberta: 'RoBERTa' };

export interface FineTuneLrOptions {
  method: FineTuneMethod;
  /** The checkpoint's config.json (snake_case keys); `model_type` picks the family's default. */
  config?: HfConfig | null;
  /** Overrides config.model_type ('bert', 'vit', 'resnet', 'alexnet', …). */
  modelType?: string;
  /**
   * Whether to use config.json's pretraining lr (÷ 10): 'auto' (default) for the methods that update
   * the pretrained weights (full, top-k, gradual), 'always', or 'never'.
   */
  usePretrainingLr?: 'auto' | 'always' | 'never';
}

export interface FineTuneLr {
  lr: number;
  /** A printable line: 'lr 2e-5: BERT full fine-tuning default (Devlin et al. 2019)'. */
  reason: string;
  /** Where the lr comes from. */
  source: 'config' | 'default';
  /** The config.json key read, when source is 'config'. */
  configKey?: string;
}

interface MethodDefault {
  lr: number;
  /** What the default is and where it comes from. */
  why: string;
}

/**
 * Per-method defaults (AdamW unless said otherwise), with their sources:
 *
 * - full / top-k / gradual, transformers: 2e-5 — BERT (Devlin et al. 2019, "BERT", appendix A.3)
 *   fine-tunes with Adam at {5e-5, 3e-5, 2e-5}; the low end is the safe default (also the usual ViT
 *   fine-tuning rate with AdamW).
 * - full / top-k / gradual, CNNs: 1e-3 — PyTorch's transfer-learning tutorial (SGD, momentum 0.9,
 *   lr 0.001 to fine-tune all of a ResNet-18).
 * - head (linear probe / new head on a frozen body): 1e-3 — Adam's default, as in Keras's
 *   transfer-learning guide for training the new classifier on a frozen base.
 * - bitfit / ln: 1e-3 — BitFit (Ben Zaken et al. 2022) sweeps 1e-4…1e-3 and needs rates at the
 *   high end of that range; LayerNorm-only tuning trains a similar sliver of parameters.
 * - adapters / houlsby / pfeiffer: 1e-4 — Houlsby et al. 2019 sweep {3e-5, 1e-4, 3e-4, 1e-3};
 *   AdapterHub's Pfeiffer adapters train at 1e-4 (Pfeiffer et al. 2020).
 * - lora / dora: 2e-4 — QLoRA (Dettmers et al. 2023) and the PEFT / Hugging Face LoRA guides; Hu et
 *   al. 2021 used 4e-4–5e-4 for RoBERTa. DoRA trains the same factors plus a magnitude, at LoRA's rate.
 * - ia3: 3e-3 — T-Few (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and
 *   Cheaper than In-Context Learning"), (IA)³ trained with lr 3e-3.
 * - prompt-tuning: 3e-2 — the PEFT docs' prompt-tuning guide (Lester et al. 2021 used 0.3 with Adafactor).
 */
function methodDefault(method: FineTuneMethod, modelType: string | undefined): MethodDefault {
  const family = modelType ? (Object.hasOwn(FAMILY_NAMES, modelType) ? FAMILY_NAMES[modelType] : modelType) : undefined;
  const cnn = modelType !== undefined && CNN_MODEL_TYPES.has(modelType);
  switch (method) {
    case 'full':
    case 'top-k':
    case 'gradual': {
      const what = method === 'full' ? 'full fine-tuning' : method === 'top-k' ? 'top-k fine-tuning' : 'gradual unfreezing';
      if (cnn) return { lr: 1e-3, why: `${family} ${what} default (PyTorch transfer-learning tutorial: SGD, momentum 0.9)` };
      if (!family || modelType === 'bert') return { lr: 2e-5, why: `${family ?? 'transformer'} ${what} default (Devlin et al. 2019)` };
      return { lr: 2e-5, why: `${family} ${what} default (as BERT, Devlin et al. 2019)` };
    }
    case 'head':
      return { lr: 1e-3, why: 'head-only training default (Adam default; Keras transfer-learning guide)' };
    case 'bitfit':
      return { lr: 1e-3, why: 'BitFit default (Ben Zaken et al. 2022: 1e-4 to 1e-3)' };
    case 'ln':
      return { lr: 1e-3, why: 'LayerNorm tuning default (as BitFit, Ben Zaken et al. 2022)' };
    case 'adapters':
    case 'houlsby':
    case 'pfeiffer':
      return { lr: 1e-4, why: `bottleneck adapter default (Houlsby et al. 2019; Pfeiffer et al. 2020)` };
    case 'lora':
      return { lr: 2e-4, why: 'LoRA default (QLoRA, Dettmers et al. 2023; PEFT guides)' };
    case 'dora':
      return { lr: 2e-4, why: 'DoRA default (as LoRA: QLoRA, Dettmers et al. 2023; PEFT guides)' };
    case 'ia3':
      return { lr: 3e-3, why: 'IA3 default (T-Few, Liu et al. 2022)' };
    case 'prompt-tuning':
      return { lr: 3e-2, why: 'prompt tuning default (PEFT docs; Lester et al. 2021)' };
    default:
      throw new Error(`unknown fine-tuning method '${String(method)}' (known: full, head, top-k, gradual, bitfit, ln, adapters, houlsby, pfeiffer, lora, dora, ia3, prompt-tuning)`);
  }
}

/** The pretraining lr config.json records, and under which key (PRETRAINING_LR_KEYS, first found). */
export function pretrainingLrOf(config: HfConfig | null | undefined): { lr: number; key: string } | undefined {
  if (!config) return undefined;
  for (const key of PRETRAINING_LR_KEYS) {
    const value = config[key];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) return { lr: value, key };
  }
  return undefined;
}

/** An lr as people write it: 2e-5, 1e-3, 3e-2, 1.5e-4. */
export function formatLr(lr: number): string {
  return Number(lr.toPrecision(10)).toExponential();
}

/** The default fine-tuning learning rate for `method` (see FineTuneLrOptions, PRETRAINING_LR_KEYS and the per-method defaults above). */
export function defaultFineTuneLr(options: FineTuneLrOptions): FineTuneLr {
  const { method, config, usePretrainingLr = 'auto' } = options;
  const modelType = options.modelType ?? (typeof config?.model_type === 'string' ? config.model_type : undefined);
  const fallback = methodDefault(method, modelType);
  const pretraining = usePretrainingLr === 'never' ? undefined : pretrainingLrOf(config);
  if (pretraining && (usePretrainingLr === 'always' || UPDATES_PRETRAINED_WEIGHTS.has(method))) {
    const lr = Number((pretraining.lr / 10).toPrecision(12));
    return {
      lr,
      reason: `lr ${formatLr(lr)} = pretraining lr ${formatLr(pretraining.lr)} / 10 (config.json ${pretraining.key})`,
      source: 'config',
      configKey: pretraining.key,
    };
  }
  const ignored = pretraining ? `; config.json ${pretraining.key} ${formatLr(pretraining.lr)} not used: ${method} trains new or few parameters` : '';
  return { lr: fallback.lr, reason: `lr ${formatLr(fallback.lr)}: ${fallback.why}${ignored}`, source: 'default' };
}
