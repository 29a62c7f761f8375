/** The tensor layer: libtorch tensors, operators, autograd and scoped memory for TypeScript. */
export { Tensor, type AnyTypedArray, type BackwardOptions } from './tensor.js';
export type { DType, Device, Layout, MemoryFormat, NestedArray, Scalar, Shape, TensorOptions } from './types.js';
export { isDevice, isFloatingDType } from './types.js';
export { tidy, tidyAsync, keep, dispose, memory } from './scope.js';
export { callOp, opSchema, listOps } from './dispatch.js';
export type { OpInfo, OpArgInfo, OpReturnInfo } from './native.js';
export { aten } from './aten.js';
export * from './creation.js';
export * from './math.js';
export * from './reduce.js';
export * from './shape.js';
export * from './indexing.js';
export * from './comparison.js';
export * from './linalg.js';
export * as functional from './functional.js';
export { noGrad, enableGrad, isGradEnabled, grad, type GradOptions } from './autograd.js';
export { AutogradFunction, FunctionCtx, type FunctionClass } from './autograd-function.js';
export { checkpoint, type CheckpointOptions } from './checkpoint.js';
export { autocast, autocastState, type AutocastOptions } from './autocast.js';
export {
  manualSeed,
  getRngState,
  setRngState,
  setNumThreads,
  getNumThreads,
  MAX_THREADS,
  cudaIsAvailable,
  cudaDeviceCount,
  initLazyDevice,
  runtimeInfo,
  type RuntimeInfo,
} from './runtime.js';
