#include "tensors.h"

#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "shared-buffers.h"
#include "slab.h"
#include "values.h"

namespace finetune {

namespace {

const at::Tensor& tensorAt(const Napi::Value& v) {
  if (!v.IsNumber()) throw std::runtime_error("expected a tensor handle");
  return slab().get(v.As<Napi::Number>().Int64Value());
}

Napi::Value handleOrNull(Napi::Env env, const at::Tensor& t) {
  if (!t.defined()) return env.Null();
  auto handle = slab().insert(t);
  slab().reportExternalMemory(env);
  return Napi::Number::New(env, handle);
}

// Storage for tensors whose dtype has no JavaScript typed array is widened to one that has.
at::ScalarType transferType(at::ScalarType type) {
  switch (type) {
    case at::kHalf:
    case at::kBFloat16: return at::kFloat;
    default: return type;
  }
}

}  // namespace

Napi::Value shape(const Napi::CallbackInfo& info) {
  const auto& t = tensorAt(info[0]);
  auto sizes = t.sizes();
  auto array = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) array.Set(i, Napi::Number::New(info.Env(), static_cast<double>(sizes[i])));
  return array;
}

Napi::Value dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), scalarTypeName(tensorAt(info[0]).scalar_type()));
}

Napi::Value device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tensorAt(info[0]).device().str());
}

// fromBuffer(typedArray, dtype, shape[]) copies JavaScript memory into a new CPU tensor.
Napi::Value fromBuffer(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (!info[0].IsTypedArray()) throw std::runtime_error("fromBuffer expects a typed array");
  auto array = info[0].As<Napi::TypedArray>();
  auto type = scalarTypeFromName(info[1].As<Napi::String>().Utf8Value());
  if (!info[2].IsArray()) throw std::runtime_error("fromBuffer expects the shape as an array of sizes");
  auto dims = info[2].As<Napi::Array>();
  std::vector<int64_t> sizes(dims.Length());
  auto itemSize = static_cast<int64_t>(c10::elementSize(type));
  // Bytes the shape needs, overflow-checked: a wrapped product could match a short buffer.
  int64_t bytes = itemSize;
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    Napi::Value dim = dims.Get(i);
    double size = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1;
    if (!(size >= 0 && size <= 9007199254740991.0 && size == std::floor(size))) {
      throw std::runtime_error("shape entry " + std::to_string(i) + " must be a non-negative integer, got " +
                               dim.ToString().Utf8Value());
    }
    sizes[i] = static_cast<int64_t>(size);
    if (__builtin_mul_overflow(bytes, sizes[i], &bytes)) {
      throw std::runtime_error("shape " + c10::str(c10::IntArrayRef(sizes.data(), i + 1)) + " of " +
                               scalarTypeName(type) + " has more bytes than memory can hold");
    }
  }
  if (static_cast<int64_t>(array.ByteLength()) != bytes) {
    throw std::runtime_error("data has " + std::to_string(array.ByteLength()) + " bytes but shape " +
                             c10::str(c10::IntArrayRef(sizes)) + " of " + scalarTypeName(type) + " needs " +
                             std::to_string(bytes));
  }
  at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(type));
  if (bytes > 0) {
    auto* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    std::memcpy(t.data_ptr(), data, bytes);
  }
  return handleOrNull(env, t);
}

// toBuffer(handle) -> [ArrayBuffer, dtypeOfBuffer]. A contiguous CPU tensor is shared,
// not copied: the buffer keeps the storage alive for as long as JavaScript holds it, and is
// detached when an operator reallocates that storage (shared-buffers.h).
Napi::Value toBuffer(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const at::Tensor& source = tensorAt(info[0]);
  at::Tensor t = source.detach();
  if (t.is_complex()) throw std::runtime_error("complex tensors have no JavaScript typed array");
  t = t.to(at::kCPU, transferType(t.scalar_type())).contiguous();
  auto result = Napi::Array::New(env, 2);
  result.Set(1u, scalarTypeName(t.scalar_type()));
  size_t bytes = t.numel() * t.element_size();
  if (bytes == 0) {
    result.Set(0u, Napi::ArrayBuffer::New(env, 0));
  } else if (source.has_storage() && t.storage().is_alias_of(source.storage())) {
    result.Set(0u, shareBuffer(env, t));
  } else {
    // A converted copy nothing else can reach: no operator can move its memory.
    auto* keeper = new at::Tensor(t);
    result.Set(0u, Napi::ArrayBuffer::New(env, t.data_ptr(), bytes,
                                          [](Napi::Env, void*, at::Tensor* kept) { delete kept; }, keeper));
  }
  return result;
}

Napi::Value item(const Napi::CallbackInfo& info) {
  return scalarToJs(info.Env(), tensorAt(info[0]).item());
}

Napi::Value dispose(const Napi::CallbackInfo& info) {
  if (info[0].IsArray()) {
    auto handles = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < handles.Length(); ++i) slab().release(handles.Get(i).As<Napi::Number>().Int64Value());
  } else {
    slab().release(info[0].As<Napi::Number>().Int64Value());
  }
  slab().reportExternalMemory(info.Env());
  return info.Env().Undefined();
}

Napi::Value memory(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("numTensors", static_cast<double>(slab().liveCount()));
  out.Set("numBytes", static_cast<double>(slab().liveStorageBytes()));
  return out;
}

Napi::Value sameTensor(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorAt(info[0]).is_same(tensorAt(info[1])));
}

Napi::Value requiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorAt(info[0]).requires_grad());
}

Napi::Value setRequiresGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = tensorAt(info[0]);
  t.requires_grad_(info[1].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value isLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorAt(info[0]).is_leaf());
}

namespace {

std::string describeTensor(const at::Tensor& t) {
  return scalarTypeName(t.scalar_type()) + " of shape " + c10::str(t.sizes()) + " on " + t.device().str();
}

// PyTorch's checks on assigning .grad (THPVariable_set_grad): the optimizers' fused kernels
// and clipping read the gradient with the parameter's shape, so a mismatch reads out of bounds.
void checkGradMatches(const at::Tensor& t, const at::Tensor& gradient, const char* context) {
  if (gradient.sizes() == t.sizes() && gradient.scalar_type() == t.scalar_type() && gradient.device() == t.device()) {
    return;
  }
  throw std::runtime_error(std::string(context) + ": the gradient (" + describeTensor(gradient) +
                           ") does not match its tensor (" + describeTensor(t) +
                           "); a gradient must have the tensor's shape, dtype and device");
}

}  // namespace

Napi::Value grad(const Napi::CallbackInfo& info) {
  const at::Tensor& t = tensorAt(info[0]);
  const at::Tensor& gradient = t.grad();
  // Assignment is checked, but the gradient may have been resized in place since.
  if (gradient.defined()) checkGradMatches(t, gradient, "reading .grad");
  return handleOrNull(info.Env(), gradient);
}

Napi::Value setGrad(const Napi::CallbackInfo& info) {
  at::Tensor t = tensorAt(info[0]);
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad() = at::Tensor();
  } else {
    const at::Tensor& gradient = tensorAt(info[1]);
    checkGradMatches(t, gradient, "assigning .grad");
    t.mutable_grad() = gradient;
  }
  return info.Env().Undefined();
}

Napi::Value retainGrad(const Napi::CallbackInfo& info) {
  tensorAt(info[0]).retain_grad();
  return info.Env().Undefined();
}

// backward(handle, gradHandle|null, retainGraph, createGraph)
Napi::Value backward(const Napi::CallbackInfo& info) {
  const at::Tensor& t = tensorAt(info[0]);
  at::Tensor gradient = info[1].IsNull() || info[1].IsUndefined() ? at::Tensor() : tensorAt(info[1]);
  bool createGraph = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  std::optional<bool> retainGraph;
  if (info[2].IsBoolean()) retainGraph = info[2].As<Napi::Boolean>().Value();
  t.backward(gradient, retainGraph, createGraph);
  slab().reportExternalMemory(info.Env());
  return info.Env().Undefined();
}

namespace {

std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw std::runtime_error(std::string(what) + " must be an array of tensor handles");
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    out.push_back(item.IsNull() || item.IsUndefined() ? at::Tensor() : tensorAt(item));
  }
  return out;
}

}  // namespace

// torch.autograd.grad: gradients of outputs with respect to inputs, returned rather than
// accumulated into .grad; with createGraph they are differentiable (GradNorm's second backward).
Napi::Value autogradGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto outputs = tensorList(info[0], "outputs");
  auto inputs = tensorList(info[1], "inputs");
  std::vector<at::Tensor> gradOutputs = info[2].IsArray() ? tensorList(info[2], "gradOutputs") : std::vector<at::Tensor>();
  std::optional<bool> retainGraph;
  if (info[3].IsBoolean()) retainGraph = info[3].As<Napi::Boolean>().Value();
  bool createGraph = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  bool allowUnused = info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();
  auto grads = torch::autograd::grad(outputs, inputs, gradOutputs, retainGraph, createGraph, allowUnused);
  auto out = Napi::Array::New(env, grads.size());
  for (size_t i = 0; i < grads.size(); ++i) out.Set(static_cast<uint32_t>(i), handleOrNull(env, grads[i]));
  return out;
}

// Autocast for one device type: ops on the autocast lists run in `dtype` (float16/bfloat16).
Napi::Value setAutocast(const Napi::CallbackInfo& info) {
  auto deviceType = c10::Device(info[0].As<Napi::String>().Utf8Value()).type();
  bool enabled = info[1].As<Napi::Boolean>().Value();
  if (info[2].IsString()) at::autocast::set_autocast_dtype(deviceType, scalarTypeFromName(info[2].As<Napi::String>().Utf8Value()));
  at::autocast::set_autocast_enabled(deviceType, enabled);
  // info[3]: +1 entering an autocast region, -1 leaving one. The weight-cast cache is cleared
  // when the outermost region closes, as torch.autocast does.
  int nesting = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  if (nesting > 0) at::autocast::increment_nesting();
  if (nesting < 0 && at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  return info.Env().Undefined();
}

Napi::Value autocastState(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto deviceType = c10::Device(info[0].As<Napi::String>().Utf8Value()).type();
  auto out = Napi::Object::New(env);
  out.Set("enabled", at::autocast::is_autocast_enabled(deviceType));
  out.Set("dtype", scalarTypeName(at::autocast::get_autocast_dtype(deviceType)));
  return out;
}

Napi::Value markUnscoped(const Napi::CallbackInfo& info) {
  slab().markUnscoped(info[0].As<Napi::Number>().Int64Value());
  slab().reportExternalMemory(info.Env());
  return info.Env().Undefined();
}

Napi::Value setGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value isGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

}  // namespace finetune
