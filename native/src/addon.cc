// finetune's native addon: tensors, the generic ATen operator call, autograd and
// memory handles over libtorch. Model logic lives in TypeScript, never here.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Logging.h>
#include <napi.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/lazy/ts_backend/ts_backend_impl.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#ifdef FINETUNE_DISTRIBUTED
#include "distributed-autograd.h"
#include "distributed.h"
#endif
#include "js-function.h"
#include "ops.h"
#include "slab.h"
#include "tensors.h"
#include "values.h"

namespace finetune {

namespace {

using Handler = Napi::Value (*)(const Napi::CallbackInfo&);

// Every C++ exception becomes a JavaScript Error carrying libtorch's message without
// its C++ backtrace: bad input must never abort the process.
template <Handler handler>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return handler(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  } catch (...) {
    throw Napi::Error::New(info.Env(), "unknown native error");
  }
}

Napi::Value init(const Napi::CallbackInfo& info) {
  setHandleKey(info.Env(), info[0]);
  return info.Env().Undefined();
}

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_current_seed(seed);
  }
  const auto& cuda = at::detail::getCUDAHooks();
  if (cuda.hasCUDA()) {
    for (c10::DeviceIndex i = 0; i < cuda.deviceCount(); ++i) {
      auto generator = cuda.getDefaultGenerator(i);
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_current_seed(seed);
    }
  }
  return info.Env().Undefined();
}

// A device's default generator: the CPU's when no device is named, else a GPU's through the CUDA hooks
// (torch.cuda.get_rng_state(i)); a device without one is an error naming it.
at::Generator defaultGeneratorOf(const Napi::CallbackInfo& info, size_t argument) {
  if (info.Length() <= argument || !info[argument].IsString()) return at::detail::getDefaultCPUGenerator();
  const std::string name = info[argument].As<Napi::String>().Utf8Value();
  const c10::Device device(name);
  if (device.is_cpu()) return at::detail::getDefaultCPUGenerator();
  if (device.is_cuda()) {
    const auto& cuda = at::detail::getCUDAHooks();
    if (!cuda.hasCUDA()) throw std::runtime_error("no CUDA generator for '" + name + "': this libtorch sees no GPU");
    const c10::DeviceIndex index = device.has_index() ? device.index() : 0;
    if (index >= cuda.deviceCount())
      throw std::runtime_error("no CUDA generator for '" + name + "': " + std::to_string(cuda.deviceCount()) +
                               " GPU(s) visible");
    return cuda.getDefaultGenerator(index);
  }
  throw std::runtime_error("device '" + name + "' has no random generator of its own");
}

// A generator's state as a uint8 tensor (torch.get_rng_state, torch.cuda.get_rng_state), for bit-exact resume.
Napi::Value getRngState(const Napi::CallbackInfo& info) {
  auto generator = defaultGeneratorOf(info, 0);
  std::lock_guard<std::mutex> lock(generator.mutex());
  auto handle = slab().insert(generator.get_state());
  return Napi::Number::New(info.Env(), handle);
}

Napi::Value setRngState(const Napi::CallbackInfo& info) {
  int64_t handle = info[0].As<Napi::Number>().Int64Value();
  auto generator = defaultGeneratorOf(info, 1);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(slab().get(handle));
  return info.Env().Undefined();
}

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  int threads = info[0].As<Napi::Number>().Int32Value();
  if (threads < 1) throw std::runtime_error("setNumThreads expects a positive number of threads");
  at::set_num_threads(threads);
  return info.Env().Undefined();
}

Napi::Value getNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

// Whether NNPACK initialises on this CPU (at::_nnpack_available, as torch.backends.nnpack.is_available).
// Where it cannot (an x86-64 CPU without AVX2, some VMs) libtorch logs "Could not initialize NNPACK!
// Reason: Unsupported hardware." and convolves with its own kernels; asking here holds that warning
// back, so that the caller can turn NNPACK off (setNnpackEnabled) and say why where the user looks.
Napi::Value nnpackAvailable(const Napi::CallbackInfo& info) {
  const int level = FLAGS_caffe2_log_level;
  FLAGS_caffe2_log_level = c10::GLOG_ERROR;
  bool available = false;
  try {
    available = at::_nnpack_available();
  } catch (...) {
    FLAGS_caffe2_log_level = level;
    throw;
  }
  FLAGS_caffe2_log_level = level;
  return Napi::Boolean::New(info.Env(), available);
}

// torch.backends.nnpack.set_flags / flags: whether libtorch may use NNPACK for CPU convolutions.
Napi::Value setNnpackEnabled(const Napi::CallbackInfo& info) {
  at::globalContext().setUserEnabledNNPACK(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value nnpackEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::globalContext().userEnabledNNPACK());
}

// Registers libtorch's lazy-tensor device ('lazy', the TorchScript backend, which runs on the CPU; once
// per process). The device tests run models on it: its kernels refuse a CPU tensor mixed with a lazy
// one, as CUDA's refuse a CPU tensor mixed with a CUDA one, and it has a kernel for every operator
// (the 'meta' device's kernels for most operators, ReLU and convolution among them, live in Python).
Napi::Value initLazyDevice(const Napi::CallbackInfo& info) {
  static std::once_flag once;
  std::call_once(once, [] { torch::lazy::InitTorchScriptBackend(); });
  return info.Env().Undefined();
}

Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto out = Napi::Object::New(env);
  const auto& cuda = at::detail::getCUDAHooks();
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cxx11Abi", static_cast<bool>(_GLIBCXX_USE_CXX11_ABI));
  out.Set("compiler", __VERSION__);
  out.Set("cuda", cuda.hasCUDA());
  // Whether the libtorch linked has its CUDA part (libtorch_cuda.so), with or without a GPU.
  out.Set("cudaBuild", cuda.isBuilt());
  out.Set("cudaDevices", cuda.hasCUDA() ? static_cast<int>(cuda.deviceCount()) : 0);
  out.Set("parallelInfo", at::get_parallel_info());
  out.Set("config", at::show_config());
  // The c10d backends compiled in: Gloo where its headers were found at build time, NCCL where the
  // libtorch has CUDA and the CUDA and NCCL headers were found too (binding.gyp).
  auto backends = Napi::Array::New(env);
#ifdef FINETUNE_DISTRIBUTED
  backends.Set(backends.Length(), "gloo");
#endif
#ifdef FINETUNE_NCCL
  backends.Set(backends.Length(), "nccl");
#endif
  out.Set("distributedBackends", backends);
  return out;
}

// glibc raises its mmap threshold as large blocks are freed, then trims the heap on every free
// above the trim threshold: a training step that frees hundreds of MB of activations either
// reuses its heap or hands it back to the kernel and faults it in again next step (±15% step
// time on ResNet-50, see docs/benchmarks.md). Fixed thresholds keep the heap warm across steps.
// A user's own MALLOC_*_ settings win.
void pinMallocThresholds() {
#ifdef __GLIBC__
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}

// The tensor table, the operator table and the shared-buffer registry are process-wide and
// unsynchronised, and libtorch's thread pool and settings are per process: two JavaScript
// threads (worker_threads) using them at once corrupt the table (SIGSEGV, double free). The
// first environment to load the addon owns it for the process's life; any other is refused. src/tensor/native.ts
// refuses worker threads before getting here, with the same advice.
std::atomic<napi_env> owner{nullptr};

void claimOwnership(Napi::Env env) {
  napi_env expected = nullptr;
  // Kept for the process's life: the tables may still hold the owner's tensors and references.
  if (owner.compare_exchange_strong(expected, env) || expected == static_cast<napi_env>(env)) return;
  throw Napi::Error::New(env,
                         "finetune's native addon is already in use by another JavaScript thread: its tensors "
                         "belong to one thread per process. Use finetune from one thread only, and run parallel "
                         "work in child processes (child_process.fork) instead of worker threads");
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  claimOwnership(env);
  pinMallocThresholds();
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  add("init", guarded<init>);
  add("resolveOp", guarded<resolveOp>);
  add("callOp", guarded<callOp>);
  add("opInfo", guarded<opInfo>);
  add("listOps", guarded<listOps>);
  add("shape", guarded<shape>);
  add("dtype", guarded<dtype>);
  add("device", guarded<device>);
  add("fromBuffer", guarded<fromBuffer>);
  add("toBuffer", guarded<toBuffer>);
  add("item", guarded<item>);
  add("dispose", guarded<dispose>);
  add("memory", guarded<memory>);
  add("sameTensor", guarded<sameTensor>);
  add("requiresGrad", guarded<requiresGrad>);
  add("setRequiresGrad", guarded<setRequiresGrad>);
  add("isLeaf", guarded<isLeaf>);
  add("grad", guarded<grad>);
  add("setGrad", guarded<setGrad>);
  add("retainGrad", guarded<retainGrad>);
  add("backward", guarded<backward>);
  add("autogradGrad", guarded<autogradGrad>);
  add("autogradFunctionApply", guarded<autogradFunctionApply>);
  add("setAutocast", guarded<setAutocast>);
  add("autocastState", guarded<autocastState>);
  add("markUnscoped", guarded<markUnscoped>);
  add("setGradEnabled", guarded<setGradEnabled>);
  add("isGradEnabled", guarded<isGradEnabled>);
  add("manualSeed", guarded<manualSeed>);
  add("getRngState", guarded<getRngState>);
  add("setRngState", guarded<setRngState>);
  add("setNumThreads", guarded<setNumThreads>);
  add("getNumThreads", guarded<getNumThreads>);
  add("nnpackAvailable", guarded<nnpackAvailable>);
  add("setNnpackEnabled", guarded<setNnpackEnabled>);
  add("nnpackEnabled", guarded<nnpackEnabled>);
  add("buildInfo", guarded<buildInfo>);
  add("initLazyDevice", guarded<initLazyDevice>);
#ifdef FINETUNE_DISTRIBUTED
  add("processGroupCreate", guarded<processGroupCreate>);
  add("processGroupAllReduce", guarded<processGroupAllReduce>);
  add("processGroupBroadcast", guarded<processGroupBroadcast>);
  add("processGroupAllGather", guarded<processGroupAllGather>);
  add("processGroupBarrier", guarded<processGroupBarrier>);
  add("processGroupDestroy", guarded<processGroupDestroy>);
  add("workWait", guarded<workWait>);
  add("workCompleted", guarded<workCompleted>);
  add("autogradAllGather", guarded<autogradAllGather>);
  add("verifyParamsAcrossProcesses", guarded<verifyParamsAcrossProcesses>);
  add("reducerCreate", guarded<reducerCreate>);
  add("reducerPrepareForForward", guarded<reducerPrepareForForward>);
  add("reducerRebuildBuckets", guarded<reducerRebuildBuckets>);
  add("reducerPrepareForBackward", guarded<reducerPrepareForBackward>);
  add("reducerBuckets", guarded<reducerBuckets>);
  add("reducerTimeline", guarded<reducerTimeline>);
  add("reducerDestroy", guarded<reducerDestroy>);
#endif
  return exports;
}

}  // namespace finetune

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return finetune::Init(env, exports); }

NODE_API_MODULE(finetune, InitAddon)
