/**
 * Prompt tuning (Lester et al., 2021; PEFT's tuners/prompt_tuning): the model stays frozen and
 * learns `numVirtualTokens` input embeddings that are put before every sequence.
 */
import { checkFieldKinds, PeftConfig, PeftConfigFieldError, type PeftConfigOptions } from '../../config.js';

/** RANDOM: N(0, 1) like a fresh Embedding; SAMPLE_VOCAB: copies of random rows of the word embeddings; TEXT: needs a tokenizer. */
export type PromptTuningInit = 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT';

export interface PromptTuningConfigOptions extends PeftConfigOptions {
  numVirtualTokens: number;
  /** The embedding size; null takes the model's hidden size. */
  tokenDim?: number | null;
  /** 1 for encoder-only models (2 for encoder-decoder, which finetune has none of). */
  numTransformerSubmodules?: number | null;
  numAttentionHeads?: number | null;
  numLayers?: number | null;
  modulesToSave?: string[] | null;
  promptTuningInit?: PromptTuningInit;
  promptTuningInitText?: string | null;
  tokenizerNameOrPath?: string | null;
  tokenizerKwargs?: Record<string, unknown> | null;
}

export class PromptTuningConfig extends PeftConfig {
  readonly peftType = 'PROMPT_TUNING' as const;
  override readonly isPromptLearning = true;
  numVirtualTokens: number;
  tokenDim: number | null;
  numTransformerSubmodules: number | null;
  numAttentionHeads: number | null;
  numLayers: number | null;
  modulesToSave: string[] | null;
  promptTuningInit: PromptTuningInit;
  promptTuningInitText: string | null;
  tokenizerNameOrPath: string | null;
  tokenizerKwargs: Record<string, unknown> | null;

  constructor(options: PromptTuningConfigOptions) {
    super(options);
    this.numVirtualTokens = options.numVirtualTokens;
    this.tokenDim = options.tokenDim ?? null;
    this.numTransformerSubmodules = options.numTransformerSubmodules ?? null;
    this.numAttentionHeads = options.numAttentionHeads ?? null;
    this.numLayers = options.numLayers ?? null;
    this.modulesToSave = options.modulesToSave ?? null;
    this.promptTuningInit = options.promptTuningInit ?? 'RANDOM';
    this.promptTuningInitText = options.promptTuningInitText ?? null;
    this.tokenizerNameOrPath = options.tokenizerNameOrPath ?? null;
    this.tokenizerKwargs = options.tokenizerKwargs ?? null;
    checkFieldKinds<PromptTuningConfig>(this, {
      numVirtualTokens: 'positiveInteger',
      tokenDim: 'optionalPositiveInteger',
      numTransformerSubmodules: 'optionalPositiveInteger',
      numAttentionHeads: 'optionalPositiveInteger',
      numLayers: 'optionalPositiveInteger',
      modulesToSave: 'moduleNames',
      promptTuningInitText: 'optionalString',
      tokenizerNameOrPath: 'optionalString',
    });
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
