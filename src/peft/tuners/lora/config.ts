/**
 * LoraConfig (Hu et al., 2021), PEFT's fields and defaults: W x + (α/r)·B A x with A [r, in]
 * and B [out, r]; B starts at zero so training starts from the base model.
 */
import {
  PeftConfig,
  PeftConfigFieldError,
  peftField,
  type PeftConfigOptions,
  type PeftFieldsOf,
  type PeftOptionsOf,
} from '../../config.js';

export type LoraBias = 'none' | 'all' | 'lora_only';

/** LoraConfig's fields, in adapter_config.json's order (PeftConfig's come first). */
export const LORA_FIELDS = {
  /** Rank of the update (8). */
  r: peftField<number>({ kind: 'positiveInteger', default: 8 }),
  /** Names to wrap: list → exact name or suffix after a dot; string → full-match regex; 'all-linear'. */
  targetModules: peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
  /** Names never to wrap, same forms as targetModules. */
  excludeModules: peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
  /** α: the update is scaled by α / r (α / √r with useRslora). Default 8. */
  loraAlpha: peftField<number>({ kind: 'number', default: 8 }),
  /** Dropout on the adapter's input (0). */
  loraDropout: peftField<number>({ kind: 'dropout', default: 0 }),
  /** Set for layers storing W as [in, out] (GPT-2's Conv1D); finetune's Linear layers never do. */
  fanInFanOut: peftField<boolean>({ kind: 'boolean', default: false }),
  /** Which biases train: none, all, or those of wrapped layers. */
  bias: peftField<LoraBias>({ default: 'none' }),
  /** Rank-stabilised scaling α / √r (Kalajdzievski, 2023). */
  useRslora: peftField<boolean>({ kind: 'boolean', default: false }),
  /** Modules trained and saved whole besides the adapter (a new head). SEQ_CLS adds the classifier. */
  modulesToSave: peftField<string[] | null>({ kind: 'moduleNames', default: null }),
  /** true: kaiming-uniform A, zero B (PEFT's default); 'gaussian': N(0, 1/r) A; false: random B too (tests only). */
  initLoraWeights: peftField<boolean | 'gaussian'>({ default: true }),
  /** Layer indexes to adapt (with a list of targetModules); null for all. */
  layersToTransform: peftField<number[] | number | null>({ kind: 'layerIndices', default: null }),
  /** The name of the layer list that layersToTransform indexes ('layer'); null: found by PEFT's rule. */
  layersPattern: peftField<string[] | string | null>({ kind: 'modulePatterns', default: null }),
  /** Per-module rank by name pattern, e.g. { value: 4 }. */
  rankPattern: peftField<Record<string, number>>({ kind: 'patternRanks', default: {} }),
  /** Per-module α by name pattern. */
  alphaPattern: peftField<Record<string, number>>({ kind: 'patternNumbers', default: {} }),
  /** DoRA (Liu et al., 2024): a learned magnitude per output times the normalised direction W + ΔW. */
  useDora: peftField<boolean>({ kind: 'boolean', default: false }),
};

export type LoraConfigOptions = PeftConfigOptions & PeftOptionsOf<typeof LORA_FIELDS>;

// The fields are LORA_FIELDS', assigned by PeftConfig's constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface LoraConfig extends PeftFieldsOf<typeof LORA_FIELDS> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class LoraConfig extends PeftConfig {
  readonly peftType = 'LORA' as const;

  constructor(options: LoraConfigOptions = {}) {
    super(options, LORA_FIELDS);
    if (!['none', 'all', 'lora_only'].includes(this.bias))
      throw new PeftConfigFieldError('LoraConfig', 'bias', "must be 'none', 'all' or 'lora_only'", this.bias);
    if (![true, false, 'gaussian'].includes(this.initLoraWeights)) {
      throw new PeftConfigFieldError(
        'LoraConfig',
        'initLoraWeights',
        "must be true, false or 'gaussian'",
        this.initLoraWeights,
      );
    }
    if (this.layersPattern !== null && this.layersToTransform === null) {
      throw new Error('LoraConfig: layersPattern only applies together with layersToTransform');
    }
    if (typeof this.targetModules === 'string' && this.layersToTransform !== null) {
      throw new Error('LoraConfig: layersToTransform needs targetModules as a list, not a regex string');
    }
  }
}
