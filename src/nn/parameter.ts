/**
 * Parameters are tensors a Module trains. Marking a tensor as one keeps it out of every
 * memory scope (it lives as long as its module) and turns on requiresGrad, like
 * torch.nn.Parameter.
 */
import { keep, type Tensor } from '../tensor/index.js';

const parameters = new WeakSet<Tensor>();

/** Marks `tensor` as a trainable parameter (requiresGrad unless told otherwise) and returns it. */
export function parameter(tensor: Tensor, requiresGrad = true): Tensor {
  keep(tensor);
  if (tensor.requiresGrad !== requiresGrad) tensor.requiresGrad_(requiresGrad);
  parameters.add(tensor);
  return tensor;
}

export function isParameter(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && parameters.has(value as Tensor);
}
