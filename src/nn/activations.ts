/**
 * Activation functions by the names config.json files give them (`hidden_act`, `pooler_act`), after
 * transformers' activations.py ACT2FN: one table for every model family.
 */
import { aten, functional as F, type Tensor } from '../tensor/index.js';

/** The activation names transformers' ACT2FN maps (the ones with a libtorch kernel here). */
export type ActivationName =
  | 'gelu'
  | 'gelu_python'
  | 'gelu_new'
  | 'gelu_fast'
  | 'gelu_pytorch_tanh'
  | 'quick_gelu'
  | 'relu'
  | 'silu'
  | 'swish'
  | 'mish'
  | 'tanh'
  | 'sigmoid'
  | 'linear';

/** Name → function, as transformers' ACT2FN (gelu_new and gelu_fast are the tanh approximation). */
export const ACT2FN: Readonly<Record<ActivationName, (x: Tensor) => Tensor>> = Object.freeze({
  gelu: (x: Tensor) => F.gelu(x),
  gelu_python: (x: Tensor) => F.gelu(x),
  gelu_new: (x: Tensor) => F.gelu(x, 'tanh'),
  gelu_fast: (x: Tensor) => F.gelu(x, 'tanh'),
  gelu_pytorch_tanh: (x: Tensor) => F.gelu(x, 'tanh'),
  quick_gelu: (x: Tensor) => x.mul(x.mul(1.702).sigmoid()),
  relu: (x: Tensor) => F.relu(x),
  silu: (x: Tensor) => F.silu(x),
  swish: (x: Tensor) => F.silu(x),
  mish: (x: Tensor) => aten.mish(x),
  tanh: (x: Tensor) => x.tanh(),
  sigmoid: (x: Tensor) => x.sigmoid(),
  linear: (x: Tensor) => x,
});

/** Every name ACT2FN knows, in its order. */
export const ACTIVATION_NAMES = Object.freeze(Object.keys(ACT2FN) as ActivationName[]);

/** Whether `name` is a key of ACT2FN (own keys only: 'constructor' or 'toString' name no activation). */
export function isActivationName(name: unknown): name is ActivationName {
  return typeof name === 'string' && Object.hasOwn(ACT2FN, name);
}
