// Tensor metadata, data in and out of JavaScript memory, disposal and autograd
// entry points that are not ATen operators.
#pragma once

#include <napi.h>

namespace finetune {

Napi::Value shape(const Napi::CallbackInfo& info);
Napi::Value dtype(const Napi::CallbackInfo& info);
Napi::Value device(const Napi::CallbackInfo& info);
Napi::Value fromBuffer(const Napi::CallbackInfo& info);
Napi::Value toBuffer(const Napi::CallbackInfo& info);
Napi::Value item(const Napi::CallbackInfo& info);
Napi::Value dispose(const Napi::CallbackInfo& info);
Napi::Value memory(const Napi::CallbackInfo& info);
Napi::Value sameTensor(const Napi::CallbackInfo& info);

Napi::Value requiresGrad(const Napi::CallbackInfo& info);
Napi::Value setRequiresGrad(const Napi::CallbackInfo& info);
Napi::Value isLeaf(const Napi::CallbackInfo& info);
Napi::Value grad(const Napi::CallbackInfo& info);
Napi::Value setGrad(const Napi::CallbackInfo& info);
Napi::Value retainGrad(const Napi::CallbackInfo& info);
Napi::Value backward(const Napi::CallbackInfo& info);
Napi::Value autogradGrad(const Napi::CallbackInfo& info);
Napi::Value setAutocast(const Napi::CallbackInfo& info);
Napi::Value autocastState(const Napi::CallbackInfo& info);
Napi::Value markUnscoped(const Napi::CallbackInfo& info);
Napi::Value setGradEnabled(const Napi::CallbackInfo& info);
Napi::Value isGradEnabled(const Napi::CallbackInfo& info);

}  // namespace finetune
