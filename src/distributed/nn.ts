/**
 * Collectives autograd differentiates through (torch.distributed.nn): a loss computed from every rank's
 * tensors sends each rank the gradient of its own tensor. What SyncBatchNorm gathers its statistics with.
 */
import { native } from '../tensor/native.js';
import { Tensor } from '../tensor/index.js';
import { onDefaultGroup } from './index.js';

/** The addon's autograd collectives (native/src/distributed-autograd.h). */
interface AutogradCollectives {
  autogradAllGather(group: number, tensor: number): number[];
}

/**
 * Every rank's `tensor`, rank r's at index r (torch.distributed.nn.functional.all_gather): each rank
 * passes a tensor of the same shape and dtype. Differentiable: in backward, each rank's `tensor` gets
 * the sum over all ranks of the gradients that reached its slice, so every rank must run backward
 * through the result (a collective runs there), in the same order as the others.
 */
export function allGather(tensor: Tensor): Tensor[] {
  return onDefaultGroup('nn.allGather', (group, handleOf) => {
    const collectives = native as unknown as AutogradCollectives;
    return collectives.autogradAllGather(group, handleOf(tensor)).map((handle) => Tensor.fromHandle(handle));
  });
}
