/**
 * LoraConfig (Hu et al., 2021), PEFT's fields and defaults: W x + (α/r)·B A x with A [r, in]
 * and B [out, r]; B starts at zero so training starts from the base model.
 */
import { checkFieldKinds, PeftConfig, PeftConfigFieldError, type PeftConfigOptions } from '../../config.js';

export type LoraBias = 'none' | 'all' | 'lora_only';

export interface LoraConfigOptions extends PeftConfigOptions {
  /** Rank of the update (8). */
  r?: number;
  /** Names to wrap: list → exact name or suffix after a dot; string → full-match regex; 'all-linear'. */
  targetModules?: string[] | string | null;
  /** Names never to wrap, same forms as targetModules. */
  excludeModules?: string[] | string | null;
  /** α: the update is scaled by α / r (α / √r with useRslora). Default 8. */
  loraAlpha?: number;
  loraDropout?: number;
  /** Set for layers storing W as [in, out] (GPT-2's Conv1D); finetune's Linear layers never do. */
  fanInFanOut?: boolean;
  /** Which biases train: none, all, or those of wrapped layers. */
  bias?: LoraBias;
  /** Rank-stabilised scaling α / √r (Kalajdzievski, 2023). */
  useRslora?: boolean;
  /** Modules trained and saved whole besides the adapter (a new head). SEQ_CLS adds the classifier. */
  modulesToSave?: string[] | null;
  /** true: kaiming-uniform A, zero B (PEFT's default); 'gaussian': N(0, 1/r) A; false: random B too (tests only). */
  initLoraWeights?: boolean | 'gaussian';
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  /** Per-module rank by name pattern, e.g. { value: 4 }. */
  rankPattern?: Record<string, number>;
  /** Per-module α by name pattern. */
  alphaPattern?: Record<string, number>;
  /** DoRA (Liu et al., 2024): a learned magnitude per output times the normalised direction W + ΔW. */
  useDora?: boolean;
}

export class LoraConfig extends PeftConfig {
  readonly peftType = 'LORA' as const;
  r: number;
  targetModules: string[] | string | null;
  excludeModules: string[] | string | null;
  loraAlpha: number;
  loraDropout: number;
  fanInFanOut: boolean;
  bias: LoraBias;
  useRslora: boolean;
  modulesToSave: string[] | null;
  initLoraWeights: boolean | 'gaussian';
  layersToTransform: number[] | number | null;
  layersPattern: string[] | string | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useDora: boolean;

  constructor(options: LoraConfigOptions = {}) {
    super(options);
    this.r = options.r ?? 8;
    this.targetModules = options.targetModules ?? null;
    this.excludeModules = options.excludeModules ?? null;
    this.loraAlpha = options.loraAlpha ?? 8;
    this.loraDropout = options.loraDropout ?? 0;
    this.fanInFanOut = options.fanInFanOut ?? false;
    this.bias = options.bias ?? 'none';
    this.useRslora = options.useRslora ?? false;
    this.modulesToSave = options.modulesToSave ?? null;
    this.initLoraWeights = options.initLoraWeights ?? true;
    this.layersToTransform = options.layersToTransform ?? null;
    this.layersPattern = options.layersPattern ?? null;
    this.rankPattern = options.rankPattern ?? {};
    this.alphaPattern = options.alphaPattern ?? {};
    this.useDora = options.useDora ?? false;
    checkFieldKinds<LoraConfig>(this, {
      r: 'positiveInteger',
      targetModules: 'modulePatterns',
      excludeModules: 'modulePatterns',
      loraAlpha: 'number',
      loraDropout: 'dropout',
      fanInFanOut: 'boolean',
      useRslora: 'boolean',
      modulesToSave: 'moduleNames',
      layersToTransform: 'layerIndices',
      layersPattern: 'modulePatterns',
      rankPattern: 'patternRanks',
      alphaPattern: 'patternNumbers',
      useDora: 'boolean',
    });
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
