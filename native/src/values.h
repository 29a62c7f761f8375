// Conversions between JavaScript values and libtorch's enums and scalars that more
// than one part of the addon needs.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <string>

namespace finetune {

// dtype names as finetune spells them ('float32', 'int64', …); PyTorch aliases are accepted.
c10::ScalarType scalarTypeFromName(const std::string& name);
std::string scalarTypeName(c10::ScalarType type);
c10::Layout layoutFromName(const std::string& name);
c10::MemoryFormat memoryFormatFromName(const std::string& name);

// The JS object that tensors carry their handle on, under a key only finetune holds.
void setHandleKey(Napi::Env env, Napi::Value key);
// Reads the handle from a finetune Tensor object; throws a TypeError-like message otherwise.
bool readHandle(Napi::Env env, const Napi::Value& value, int64_t* handle);

Napi::Value scalarToJs(Napi::Env env, const c10::Scalar& scalar);

}  // namespace finetune
