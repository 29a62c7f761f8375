/**
 * IA3Config ((IA)³, Liu et al., 2022: "Few-Shot Parameter-Efficient Fine-Tuning is Better and
 * Cheaper than In-Context Learning"), PEFT's fields and defaults: each targeted layer learns one
 * vector ia3_l that rescales its output (attention keys and values), or, for the layers named in
 * feedforwardModules, its input. The vectors start at one, so training starts from the base model.
 */
import { checkFieldKinds, PeftConfig, type PeftConfigOptions } from '../../config.js';

export interface IA3ConfigOptions extends PeftConfigOptions {
  /**
   * Names to wrap: list → exact name or suffix after a dot; string → full-match regex; 'all-linear'.
   * null (the default): PEFT's defaults for the model type (bert: key, value, output.dense).
   */
  targetModules?: string[] | string | null;
  /** Names never to wrap, same forms as targetModules. */
  excludeModules?: string[] | string | null;
  /**
   * The targeted layers whose input (not output) is scaled, as the paper does for the second
   * feed-forward layer. List → name suffix (PEFT's plain `key.endswith(name)`); string → full-match
   * regex. A list must be a subset of a targetModules list. null: PEFT's default for the model type.
   */
  feedforwardModules?: string[] | string | null;
  /** Set for layers storing W as [in, out] (GPT-2's Conv1D); finetune's Linear layers never do. */
  fanInFanOut?: boolean;
  /** Modules trained and saved whole besides the adapter (a new head). SEQ_CLS adds the classifier. */
  modulesToSave?: string[] | null;
  /** true (default): the vectors start at 1 (the base model's outputs); false: N(0, 1) (tests only). */
  initIa3Weights?: boolean;
}

export class IA3Config extends PeftConfig {
  readonly peftType = 'IA3' as const;
  targetModules: string[] | string | null;
  excludeModules: string[] | string | null;
  feedforwardModules: string[] | string | null;
  fanInFanOut: boolean;
  modulesToSave: string[] | null;
  initIa3Weights: boolean;

  constructor(options: IA3ConfigOptions = {}) {
    super(options);
    // PEFT keeps the list forms as sets: duplicates go, order does not matter.
    this.targetModules = unique(options.targetModules ?? null);
    this.excludeModules = unique(options.excludeModules ?? null);
    this.feedforwardModules = unique(options.feedforwardModules ?? null);
    this.fanInFanOut = options.fanInFanOut ?? false;
    this.modulesToSave = options.modulesToSave ?? null;
    this.initIa3Weights = options.initIa3Weights ?? true;
    checkFieldKinds<IA3Config>(this, {
      targetModules: 'modulePatterns',
      excludeModules: 'modulePatterns',
      feedforwardModules: 'modulePatterns',
      fanInFanOut: 'boolean',
      modulesToSave: 'moduleNames',
      initIa3Weights: 'boolean',
    });
    // PEFT's check, run only when both are lists (a regex on either side is not compared).
    if (Array.isArray(this.feedforwardModules) && Array.isArray(this.targetModules)) {
      const targets = this.targetModules;
      const outside = this.feedforwardModules.filter((m) => !targets.includes(m));
      if (outside.length) {
        throw new Error(
          `IA3Config: feedforwardModules should be a subset of targetModules; ${JSON.stringify(outside)} not in targetModules ${JSON.stringify(targets)}`,
        );
      }
    }
  }
}

function unique<T extends string[] | string | null>(value: T): T {
  return (Array.isArray(value) ? [...new Set(value)] : value) as T;
}
