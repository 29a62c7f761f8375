/** The nn layer: Module, parameters, initialisation and layers, after torch.nn. */
export { Module, type StateDict, type LoadResult } from './module.js';
export { parameter, isParameter } from './parameter.js';
export { GradientCheckpointingLayer, setGradientCheckpointing, isGradientCheckpointing } from './checkpointing.js';
export * as init from './init.js';
export { Linear, Identity } from './layers/linear.js';
export { Conv1D } from './layers/conv1d.js';
export { Conv2d, type Conv2dOptions } from './layers/conv.js';
export { LayerNorm, GroupNorm } from './layers/normalization.js';
export { BatchNorm2d } from './layers/batchnorm.js';
export { Embedding } from './layers/sparse.js';
export { Dropout } from './layers/dropout.js';
export {
  ReLU,
  GELU,
  Tanh,
  SiLU,
  Sigmoid,
  MultiheadAttention,
  type MultiheadAttentionOptions,
  type AttentionCall,
} from './layers/activation.js';
export { MaxPool2d, AdaptiveAvgPool2d } from './layers/pooling.js';
export { Flatten } from './layers/flatten.js';
export { Sequential, ModuleList, ModuleDict, ParameterDict, type TensorModule } from './layers/container.js';
export { ACT2FN, ACTIVATION_NAMES, isActivationName, type ActivationName } from './activations.js';
export { labelSmoothedCrossEntropy, type LabelSmoothingOptions } from './losses.js';
