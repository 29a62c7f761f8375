// Custom autograd Functions whose forward and backward are JavaScript functions (torch.autograd.Function):
// what src/tensor/autograd-function.ts and gradient checkpointing build on.
#pragma once

#include <napi.h>

namespace finetune {

// autogradFunctionApply(inputs, forward, backward, release) -> output handles.
//   inputs: tensor handles, the Function's differentiable inputs in order.
//   forward(): runs with grad mode off and returns [outputHandles, savedHandles, nonDifferentiableIndices].
//   backward(gradHandles, savedHandles): one handle or null per input; called synchronously on the
//     JavaScript thread by the autograd engine's backward, with new handles the callee owns.
//   release(): called once the engine has read backward's result, so JavaScript can free those tensors.
Napi::Value autogradFunctionApply(const Napi::CallbackInfo& info);

}  // namespace finetune
