/**
 * IA3Config ((IA)³, Liu et al., 2022: "Few-Shot Parameter-Efficient Fine-Tuning is Better and
 * Cheaper than In-Context Learning"), PEFT's fields and defaults: each targeted layer learns one
 * vector ia3_l that rescales its output (attention keys and values), or, for the layers named in
 * feedforwardModules, its input. The vectors start at one, so training starts from the base model.
 */
import { PeftConfig, peftField, type PeftConfigOptions, type PeftFieldsOf, type PeftOptionsOf } from '../../config.js';

/** A module-names field kept as PEFT keeps it, a set: repeated names go, order does not matter. */
const modulePatternSet = () =>
  peftField<string[] | string | null>({ kind: 'modulePatterns', default: null, from: unique });

/** IA3Config's fields, in adapter_config.json's order (PeftConfig's come first). */
export const IA3_FIELDS = {
  /**
   * Names to wrap: list → exact name or suffix after a dot; string → full-match regex; 'all-linear'.
   * null (the default): PEFT's defaults for the model type (bert: key, value, output.dense).
   */
  targetModules: modulePatternSet(),
  /** Names never to wrap, same forms as targetModules. */
  excludeModules: modulePatternSet(),
  /**
   * The targeted layers whose input (not output) is scaled, as the paper does for the second
   * feed-forward layer. List → name suffix (PEFT's plain `key.endswith(name)`); string → full-match
   * regex. A list must be a subset of a targetModules list. null: PEFT's default for the model type.
   */
  feedforwardModules: modulePatternSet(),
  /** Set for layers storing W as [in, out] (GPT-2's Conv1D); finetune's Linear layers never do. */
  fanInFanOut: peftField<boolean>({ kind: 'boolean', default: false }),
  /** Modules trained and saved whole besides the adapter (a new head). SEQ_CLS adds the classifier. */
  modulesToSave: peftField<string[] | null>({ kind: 'moduleNames', default: null }),
  /** true (default): the vectors start at 1 (the base model's outputs); false: N(0, 1) (tests only). */
  initIa3Weights: peftField<boolean>({ kind: 'boolean', default: true }),
};

export type IA3ConfigOptions = PeftConfigOptions & PeftOptionsOf<typeof IA3_FIELDS>;

// The fields are IA3_FIELDS', assigned by PeftConfig's constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface IA3Config extends PeftFieldsOf<typeof IA3_FIELDS> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class IA3Config extends PeftConfig {
  readonly peftType = 'IA3' as const;

  constructor(options: IA3ConfigOptions = {}) {
    super(options, IA3_FIELDS);
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

function unique(value: string[] | string): string[] | string {
  return Array.isArray(value) ? [...new Set(value)] : value;
}
