/** PromptEmbedding (PEFT's prompt_tuning/model.py): the table of virtual-token embeddings. */
import { noGrad, randint, tidy, type Device, type Tensor } from '../../../tensor/index.js';
import { Embedding, Module } from '../../../nn/index.js';
import type { PromptTuningConfig } from './config.js';

export class PromptEmbedding extends Module {
  readonly embedding: Embedding;

  /** `wordEmbeddings` is the model's input embedding table, used by SAMPLE_VOCAB and for the size. */
  constructor(config: PromptTuningConfig, wordEmbeddings: Embedding) {
    super();
    const tokenDim = config.tokenDim ?? wordEmbeddings.embeddingDim;
    if (tokenDim !== wordEmbeddings.embeddingDim) {
      throw new Error(
        `PromptTuningConfig: tokenDim ${tokenDim} differs from the model's embedding size ${wordEmbeddings.embeddingDim}`,
      );
    }
    config.tokenDim = tokenDim;
    this.embedding = new Embedding(config.totalVirtualTokens, tokenDim);
    if (config.promptTuningInit === 'TEXT') {
      throw new Error(
        "PromptTuningConfig: promptTuningInit 'TEXT' needs a tokenizer, which finetune does not have yet; use 'RANDOM' or 'SAMPLE_VOCAB'",
      );
    }
    if (config.promptTuningInit === 'SAMPLE_VOCAB') {
      noGrad(() =>
        tidy(() => {
          // Drawn on the CPU (the same rows whatever the device), then indexing the table where it is.
          const device = wordEmbeddings.weight.device as Device;
          const rows = randint(0, wordEmbeddings.numEmbeddings, [config.totalVirtualTokens]).to(device);
          this.embedding.weight.copy_(wordEmbeddings.weight.indexSelect(0, rows));
        }),
      );
    }
  }

  /** [tokens] virtual-token indexes → [tokens, tokenDim]. */
  forward(indices: Tensor): Tensor {
    return this.embedding.forward(indices);
  }
}
