#include "js-function.h"

// A torch::autograd::Function whose forward and backward call JavaScript. On the CPU, libtorch's
// autograd engine runs backward on the thread that called backward()/grad() — here the JavaScript
// thread, inside a native call — so backward can call the JavaScript function synchronously, like
// Python's autograd.Function calls Python. The engine's device threads (CUDA) are other threads, where
// no JavaScript may run: backward refuses them with an error instead of crashing.
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "slab.h"

namespace finetune {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Set when Node tears the environment down: tensors that outlive it (the slab is a process-wide static)
// may still hold a Function's callbacks, whose JavaScript references must then be left alone.
std::atomic<bool> environmentClosed{false};

// The JavaScript side of one application of a Function, kept by its graph node until the node dies.
struct JsCallbacks : torch::CustomClassHolder {
  JsCallbacks(Napi::Env env, const Napi::Function& backward, const Napi::Function& release)
      : env(env), thread(std::this_thread::get_id()) {
    static std::once_flag cleanupHook;
    std::call_once(cleanupHook, [&] {
      napi_add_env_cleanup_hook(env, [](void*) { environmentClosed = true; }, nullptr);
    });
    napi_create_reference(env, backward, 1, &backwardRef);
    napi_create_reference(env, release, 1, &releaseRef);
  }
  // A reference may only be deleted on its environment's thread: a node freed elsewhere leaks two
  // small references rather than corrupting V8.
  ~JsCallbacks() override {
    if (environmentClosed || std::this_thread::get_id() != thread) return;
    napi_delete_reference(env, backwardRef);
    napi_delete_reference(env, releaseRef);
  }
  Napi::Function get(napi_ref ref) const {
    napi_value fn;
    napi_get_reference_value(env, ref, &fn);
    return Napi::Function(env, fn);
  }

  napi_env env;
  std::thread::id thread;
  napi_ref backwardRef = nullptr;
  napi_ref releaseRef = nullptr;
};

struct JsCall {
  Napi::Env env;
  Napi::Function forward;
  Napi::Function backward;
  Napi::Function release;
};

std::vector<int64_t> handleList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw std::runtime_error(std::string(what) + " must be an array of tensor handles");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> handles;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value element = array.Get(i);
    if (!element.IsNumber()) throw std::runtime_error(std::string(what) + " must hold tensor handles");
    handles.push_back(element.As<Napi::Number>().Int64Value());
  }
  return handles;
}

Napi::Array handleArray(Napi::Env env, const variable_list& tensors) {
  auto array = Napi::Array::New(env, tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) {
    array.Set(i, tensors[i].defined() ? Napi::Value(Napi::Number::New(env, slab().insert(tensors[i])))
                                      : env.Null());
  }
  return array;
}

struct JsFunction : public torch::autograd::Function<JsFunction> {
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, JsCall* call) {
    Napi::HandleScope scope(call->env);
    Napi::Value result = call->forward.Call({});
    if (!result.IsArray() || result.As<Napi::Array>().Length() != 3) {
      throw std::runtime_error("a Function's forward callback must return [outputs, saved, nonDifferentiable]");
    }
    auto parts = result.As<Napi::Array>();
    variable_list outputs;
    for (int64_t handle : handleList(parts.Get(0u), "forward's outputs")) outputs.push_back(slab().get(handle));
    variable_list saved;
    for (int64_t handle : handleList(parts.Get(1u), "the saved tensors")) saved.push_back(slab().get(handle));
    ctx->save_for_backward(saved);
    variable_list nonDifferentiable;
    for (int64_t index : handleList(parts.Get(2u), "the non-differentiable outputs")) {
      nonDifferentiable.push_back(outputs.at(index));
    }
    ctx->mark_non_differentiable(nonDifferentiable);
    ctx->saved_data["js"] =
        c10::IValue::make_capsule(c10::make_intrusive<JsCallbacks>(call->env, call->backward, call->release));
    return outputs;
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    auto callbacks = c10::static_intrusive_pointer_cast<JsCallbacks>(ctx->saved_data["js"].toCapsule());
    if (std::this_thread::get_id() != callbacks->thread) {
      throw std::runtime_error(
          "a Function defined in JavaScript ran backward off the JavaScript thread (the autograd engine's "
          "device threads run backward for CUDA tensors); JavaScript Functions are CPU-only");
    }
    Napi::Env env(callbacks->env);
    Napi::HandleScope scope(env);
    Napi::Value result = callbacks->get(callbacks->backwardRef)
                             .Call({handleArray(env, gradOutputs), handleArray(env, ctx->get_saved_variables())});
    variable_list grads;
    try {
      if (!result.IsArray()) throw std::runtime_error("a Function's backward callback must return an array");
      auto array = result.As<Napi::Array>();
      for (uint32_t i = 0; i < array.Length(); ++i) {
        Napi::Value element = array.Get(i);
        grads.push_back(element.IsNumber() ? slab().get(element.As<Napi::Number>().Int64Value()) : at::Tensor());
      }
    } catch (...) {
      callbacks->get(callbacks->releaseRef).Call({});
      throw;
    }
    callbacks->get(callbacks->releaseRef).Call({});
    grads.emplace_back();  // the JsCall* argument's gradient
    return grads;
  }
};

}  // namespace

Napi::Value autogradFunctionApply(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (!info[1].IsFunction() || !info[2].IsFunction() || !info[3].IsFunction()) {
    throw std::runtime_error("autogradFunctionApply(inputs, forward, backward, release) takes three functions");
  }
  std::vector<at::Tensor> inputs;
  for (int64_t handle : handleList(info[0], "a Function's inputs")) inputs.push_back(slab().get(handle));
  JsCall call{env, info[1].As<Napi::Function>(), info[2].As<Napi::Function>(), info[3].As<Napi::Function>()};
  auto outputs = JsFunction::apply(at::TensorList(inputs), &call);
  return handleArray(env, outputs);
}

}  // namespace finetune
