/**
 * The configs of the tiny BERT and ViT classifiers (hidden 32, 2 layers, 3 labels) that the layer-group,
 * freezing and parameter-group tests build: small enough to build in milliseconds, with every module
 * kind of the full-size models.
 */
import type { models } from 'finetune';

export const TINY_BERT_CONFIG: Partial<models.BertConfig> = {
  vocabSize: 100,
  hiddenSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 64,
  maxPositionEmbeddings: 32,
  numLabels: 3,
};

export const TINY_VIT_CONFIG: Partial<models.ViTConfig> = {
  hiddenSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 64,
  imageSize: 32,
  patchSize: 8,
  numLabels: 3,
};
