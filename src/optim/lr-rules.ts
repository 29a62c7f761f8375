/**
 * The default fine-tuning learning rate: a tenth of the pretraining learning rate when the
 * checkpoint's config.json records it (for the methods that update the pretrained weights), else the
 * method's default, with its source, as the method registered it (peft's registerMethod). Returns the
 * lr and a line a CLI can print:
 *
 *   defaultFineTuneLr({ method: 'full', config: { model_type: 'bert' } })
 *   // { lr: 2e-5, reason: 'lr 2e-5: BERT full fine-tuning default (Devlin et al. 2019)', … }
 *   defaultFineTuneLr({ method: 'full', config: { model_type: 'bert', learning_rate: 1e-4 } })
 *   // { lr: 1e-5, reason: 'lr 1e-5 = pretraining lr 1e-4 / 10 (config.json learning_rate)', … }
 */
import type { HfConfig } from '../models/index.js';
import { getMethod } from '../peft/index.js';

/**
 * config.json keys read as the pretraining learning rate, in this order (top level only, a
 * positive finite number): `pretraining_learning_rate`, `pretrain_learning_rate`, `learning_rate`,
 * `pretraining_lr`, `lr`. Hugging Face configs do not record it by default; some training scripts
 * and converted checkpoints do.
 */
export const PRETRAINING_LR_KEYS: readonly string[] = [
  'pretraining_learning_rate',
  'pretrain_learning_rate',
  'learning_rate',
  'pretraining_lr',
  'lr',
];

export interface FineTuneLrOptions {
  /** A registered fine-tuning method's name or alias ('full', 'lora', 'adapters'; peft's registerMethod). */
  method: string;
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

/**
 * The default fine-tuning learning rate for `method` (see FineTuneLrOptions, PRETRAINING_LR_KEYS and each
 * method's `defaultLr`). The pretraining lr ÷ 10 applies to the methods that update the pretrained
 * weights (full, top-k, gradual); the others train new parameters (head, adapters, LoRA, IA3, prompts)
 * or a sliver of the old ones (BitFit, LayerNorm tuning), whose useful rates are higher and unrelated to it.
 */
export function defaultFineTuneLr(options: FineTuneLrOptions): FineTuneLr {
  const { method, config, usePretrainingLr = 'auto' } = options;
  const modelType = options.modelType ?? (typeof config?.model_type === 'string' ? config.model_type : undefined);
  const registered = getMethod(method);
  const fallback = registered.defaultLr(modelType);
  const pretraining = usePretrainingLr === 'never' ? undefined : pretrainingLrOf(config);
  if (pretraining && (usePretrainingLr === 'always' || registered.updatesPretrainedWeights)) {
    const lr = Number((pretraining.lr / 10).toPrecision(12));
    return {
      lr,
      reason: `lr ${formatLr(lr)} = pretraining lr ${formatLr(pretraining.lr)} / 10 (config.json ${pretraining.key})`,
      source: 'config',
      configKey: pretraining.key,
    };
  }
  const ignored = pretraining
    ? `; config.json ${pretraining.key} ${formatLr(pretraining.lr)} not used: ${method} trains new or few parameters`
    : '';
  return { lr: fallback.lr, reason: `lr ${formatLr(fallback.lr)}: ${fallback.why}${ignored}`, source: 'default' };
}
