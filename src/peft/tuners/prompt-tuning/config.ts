/**
 * Prompt tuning (Lester et al., 2021; PEFT's tuners/prompt_tuning): the model stays frozen and
 * learns `numVirtualTokens` input embeddings that are put before every sequence.
 */
import {
  PeftConfig,
  PeftConfigFieldError,
  peftField,
  requiredPeftField,
  type PeftConfigOptions,
  type PeftFieldsOf,
  type PeftOptionsOf,
} from '../../config.js';

/** RANDOM: N(0, 1) like a fresh Embedding; SAMPLE_VOCAB: copies of random rows of the word embeddings; TEXT: needs a tokenizer. */
export type PromptTuningInit = 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT';

/** PromptTuningConfig's fields, in adapter_config.json's order (PeftConfig's come first). */
export const PROMPT_TUNING_FIELDS = {
  /** The learned tokens put before every sequence (required). */
  numVirtualTokens: requiredPeftField<number>({ kind: 'positiveInteger' }),
  /** The embedding size; null takes the model's hidden size. */
  tokenDim: peftField<number | null>({ kind: 'optionalPositiveInteger', default: null }),
  /** 1 for encoder-only models (2 for encoder-decoder, which finetune has none of). */
  numTransformerSubmodules: peftField<number | null>({ kind: 'optionalPositiveInteger', default: null }),
  /** The base model's attention heads (PEFT records them; null: the model's). */
  numAttentionHeads: peftField<number | null>({ kind: 'optionalPositiveInteger', default: null }),
  /** The base model's layers (PEFT records them; null: the model's). */
  numLayers: peftField<number | null>({ kind: 'optionalPositiveInteger', default: null }),
  /** Modules trained and saved whole besides the prompt (a new head). SEQ_CLS adds the classifier. */
  modulesToSave: peftField<string[] | null>({ kind: 'moduleNames', default: null }),
  /** How the prompt starts: RANDOM (default), SAMPLE_VOCAB or TEXT. */
  promptTuningInit: peftField<PromptTuningInit>({ default: 'RANDOM' }),
  /** The text whose token embeddings start the prompt, for TEXT. */
  promptTuningInitText: peftField<string | null>({ kind: 'optionalString', default: null }),
  /** The tokenizer for TEXT. */
  tokenizerNameOrPath: peftField<string | null>({ kind: 'optionalString', default: null }),
  /** Options for that tokenizer (kept as given). */
  tokenizerKwargs: peftField<Record<string, unknown> | null>({ default: null }),
};

export type PromptTuningConfigOptions = PeftConfigOptions & PeftOptionsOf<typeof PROMPT_TUNING_FIELDS>;

// The fields are PROMPT_TUNING_FIELDS', assigned by PeftConfig's constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface PromptTuningConfig extends PeftFieldsOf<typeof PROMPT_TUNING_FIELDS> {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class PromptTuningConfig extends PeftConfig {
  readonly peftType = 'PROMPT_TUNING' as const;
  override readonly isPromptLearning = true;

  constructor(options: PromptTuningConfigOptions) {
    super(options, PROMPT_TUNING_FIELDS);
    if (!['RANDOM', 'SAMPLE_VOCAB', 'TEXT'].includes(this.promptTuningInit)) {
      throw new PeftConfigFieldError(
        'PromptTuningConfig',
        'promptTuningInit',
        "must be 'RANDOM', 'SAMPLE_VOCAB' or 'TEXT'",
        this.promptTuningInit,
      );
    }
    if ((this.numTransformerSubmodules ?? 1) !== 1) {
      throw new Error('PromptTuningConfig: numTransformerSubmodules must be 1 (encoder-only models)');
    }
  }

  /** Rows of the prompt table: virtual tokens × transformer submodules. */
  get totalVirtualTokens(): number {
    return this.numVirtualTokens * (this.numTransformerSubmodules ?? 1);
  }
}
