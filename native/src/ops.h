// The generic operator call: any ATen operator, by name and overload, through
// c10::Dispatcher, with JavaScript arguments converted by the operator's schema.
#pragma once

#include <napi.h>

namespace finetune {

// resolveOp(name, overload) -> op id, cached; throws for unknown operators.
Napi::Value resolveOp(const Napi::CallbackInfo& info);
// callOp(id, kwargs, ...positional) -> returns (see ops.cc for the shapes).
Napi::Value callOp(const Napi::CallbackInfo& info);
// opInfo(id) -> { name, overload, args[], returns[] } for typings and result wrapping.
Napi::Value opInfo(const Napi::CallbackInfo& info);
// listOps() -> [[name, overload], …] for every registered operator.
Napi::Value listOps(const Napi::CallbackInfo& info);

}  // namespace finetune
