#include "distributed.h"

// The Gloo headers come from Debian's libgloo-dev (gloo 0.5.0, git 2022-05-18), not from the gloo
// libtorch 2.13 vendors and links (newer: its gloo::rendezvous::Store has the "v2" methods
// has_v2_support / multi_get / multi_set / append / add: `nm -DCS libtorch_cpu.so` shows the vtable of
// ProcessGroupGloo::GlooStore at 0x70 bytes, 12 virtual slots, and exports
// gloo::rendezvous::PrefixStore::multi_get; Debian's store.h declares 6 slots, and no
// GLOO_STORE_HAS_STORE_V2). So this file must never construct, derive from or call a gloo class:
// it only names gloo types through std::shared_ptr (Options::devices, created by libtorch's own
// createDefaultDevice / createDeviceForInterface) and calls c10d's exported functions and virtuals,
// whose layouts come from libtorch's own headers. The gloo headers are needed only to compile
// ProcessGroupGloo.hpp, whose inline members touching gloo objects this file does not call. The
// built addon imports no gloo:: symbol at all (test/distributed.test.ts checks with nm), and
// ProcessGroupGloo's and Options's own members are c10d and std types, pointers and shared_ptrs,
// so their layout does not depend on the Gloo headers.
#include <c10/util/ApproximateClock.h>
#include <torch/csrc/distributed/c10d/GroupRegistry.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#ifdef FINETUNE_NCCL
// Only where the libtorch has CUDA and the CUDA and NCCL headers were found (native/src/nccl-build.cjs).
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "slab.h"

namespace finetune {

namespace {

// torch.distributed's name for the default group (distributed_c10d.py's _process_group_name: the
// first group made in a process is "0"), under which it registers the group in c10d's registry.
const char* const kDefaultGroupName = "0";

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  // The Gloo backend wrapped as torch.distributed wraps its default group's: the collectives go
  // through the ProcessGroup's methods, which call the dispatcher's c10d:: ops (allreduce_, …).
  c10::intrusive_ptr<c10d::ProcessGroup> processGroup;
};

struct PendingWork {
  int64_t group;
  c10::intrusive_ptr<c10d::Work> work;
};

struct ReducerEntry {
  int64_t group;
  std::shared_ptr<c10d::Reducer> reducer;
  // DDP's Logger, as torch's DDP keeps one per Reducer: the Reducer holds it weakly and calls it
  // (unguarded) while searching for unused parameters.
  std::shared_ptr<c10d::Logger> logger;
  // When the last prepare_for_backward was called, and when the following backward started each
  // bucket's allreduce (c10::getTime(), the clock of the Reducer's backward stats): shows the overlap.
  int64_t backwardArmedAt = 0;
  std::shared_ptr<std::vector<int64_t>> bucketStarts = std::make_shared<std::vector<int64_t>>();
};

// Never destroyed: at process exit a group's worker threads may still be blocked in a collective
// with a dead peer, and joining them in a static destructor would hang the exit.
std::unordered_map<int64_t, Group>& groups() {
  static auto* table = new std::unordered_map<int64_t, Group>();
  return *table;
}

std::unordered_map<int64_t, PendingWork>& works() {
  static auto* table = new std::unordered_map<int64_t, PendingWork>();
  return *table;
}

std::unordered_map<int64_t, ReducerEntry>& reducers() {
  static auto* table = new std::unordered_map<int64_t, ReducerEntry>();
  return *table;
}

int64_t nextId = 1;

int64_t integerArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsNumber()) throw std::runtime_error(std::string(what) + " must be a number");
  return info[index].As<Napi::Number>().Int64Value();
}

Group& groupAt(const Napi::CallbackInfo& info) {
  auto found = groups().find(integerArg(info, 0, "the process group"));
  if (found == groups().end()) throw std::runtime_error("the process group was destroyed");
  return found->second;
}

at::Tensor tensorAt(const Napi::Value& value) {
  if (!value.IsNumber()) throw std::runtime_error("expected a tensor handle");
  return slab().get(value.As<Napi::Number>().Int64Value());
}

Napi::Value enqueue(const Napi::CallbackInfo& info, c10::intrusive_ptr<c10d::Work> work) {
  int64_t id = nextId++;
  works().emplace(id, PendingWork{integerArg(info, 0, "the process group"), std::move(work)});
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

// The device Gloo's pairs bind to, chosen as torch.distributed does: GLOO_SOCKET_IFNAME names an
// interface; otherwise this machine's hostname's address, or the loopback where it does not resolve.
std::shared_ptr<::gloo::transport::Device> glooDevice() {
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  if (interface != nullptr && *interface != '\0') {
    std::string name(interface);
    if (name.find(',') != std::string::npos) name = name.substr(0, name.find(','));
    return c10d::ProcessGroupGloo::createDeviceForInterface(name);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

namespace {

// As distributed_c10d.py's _create_gloo_process_group.
c10::intrusive_ptr<c10d::Backend> glooBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int worldSize,
                                              std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(glooDevice());
  options->group_name = kDefaultGroupName;
  for (int r = 0; r < worldSize; ++r) options->global_ranks_in_group.push_back(static_cast<uint64_t>(r));
  auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, worldSize, options);
  // torch.distributed does this for every Gloo and NCCL group (rank 0 publishes a sequence number the
  // others read); a Python peer waits for it.
  backend->setSequenceNumberForGroup();
  return backend;
}

#ifdef FINETUNE_NCCL
// As distributed_c10d.py's _create_nccl_process_group: the communicators are made lazily, by the first
// collective on a device (the CUDA device of its tensors), as torch's without init_process_group's device_id.
c10::intrusive_ptr<c10d::Backend> ncclBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int worldSize,
                                              std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create(/*is_high_priority_stream=*/false);
  options->timeout = timeout;
  options->group_name = kDefaultGroupName;
  for (int r = 0; r < worldSize; ++r) options->global_ranks_in_group.push_back(static_cast<uint64_t>(r));
  auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, worldSize, options);
  backend->setSequenceNumberForGroup();
  return backend;
}
#endif

}  // namespace

Napi::Value processGroupCreate(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw std::runtime_error("the store host must be a string");
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int64_t port = integerArg(info, 1, "the store port");
  bool isStoreServer = info[2].ToBoolean().Value();
  int64_t rank = integerArg(info, 3, "the rank");
  int64_t worldSize = integerArg(info, 4, "the world size");
  std::chrono::milliseconds timeout(integerArg(info, 5, "the timeout"));
  if (!info[6].IsString()) throw std::runtime_error("the backend must be a string");
  std::string backendName = info[6].As<Napi::String>().Utf8Value();
  if (port < 0 || port > 65535) throw std::runtime_error("the store port must be in 0..65535");
  if (worldSize < 1 || rank < 0 || rank >= worldSize) throw std::runtime_error("the rank must be in 0..worldSize-1");
#ifndef FINETUNE_NCCL
  if (backendName == "nccl") throw std::runtime_error("this addon was built without NCCL");
#endif
  if (backendName != "gloo" && backendName != "nccl") throw std::runtime_error("unknown backend '" + backendName + "'");

  c10d::TCPStoreOptions storeOptions;
  storeOptions.port = static_cast<uint16_t>(port);
  storeOptions.isServer = isStoreServer;
  storeOptions.numWorkers = static_cast<size_t>(worldSize);
  storeOptions.timeout = timeout;
  // As torch.distributed's tcp:// and env:// rendezvous (rendezvous.py's _create_c10d_store).
  storeOptions.multiTenant = true;
  auto tcpStore = c10::make_intrusive<c10d::TCPStore>(host, storeOptions);
  // The same key prefixes as torch.distributed's default group ("default_pg", the group's name "0",
  // then the backend's first device, "cpu" for gloo and "cuda" for nccl), so that a Python process can
  // join the group (tools/c10d-python-check.py).
  c10::intrusive_ptr<c10d::Store> groupStore = c10::make_intrusive<c10d::PrefixStore>("default_pg", tcpStore);
  groupStore = c10::make_intrusive<c10d::PrefixStore>(std::string(kDefaultGroupName) + "/", groupStore);
  int r = static_cast<int>(rank);
  int size = static_cast<int>(worldSize);

  // As distributed_c10d.py's _new_process_group_helper for init_process_group(backend=...): the backend
  // serves the devices of torch's Backend.backend_capability (gloo: CPU, and CUDA tensors through host
  // memory where the libtorch has CUDA; nccl: CUDA only).
  auto processGroup = c10::make_intrusive<c10d::ProcessGroup>(groupStore, r, size);
  if (backendName == "gloo") {
    auto backend = glooBackend(c10::make_intrusive<c10d::PrefixStore>("cpu/", groupStore), r, size, timeout);
    processGroup->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    processGroup->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, backend);
    processGroup->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::GLOO, backend);
  }
#ifdef FINETUNE_NCCL
  if (backendName == "nccl") {
    auto backend = ncclBackend(c10::make_intrusive<c10d::PrefixStore>("cuda/", groupStore), r, size, timeout);
    processGroup->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
    processGroup->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, backend);
  }
#endif
  processGroup->setGroupName(kDefaultGroupName);
  processGroup->setGroupDesc("default_pg");
  c10d::register_process_group(kDefaultGroupName, processGroup);

  int64_t id = nextId++;
  groups().emplace(id, Group{tcpStore, processGroup});
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

c10::intrusive_ptr<c10d::ProcessGroup> processGroupAt(int64_t id) {
  auto found = groups().find(id);
  if (found == groups().end()) throw std::runtime_error("the process group was destroyed");
  return found->second.processGroup;
}

c10::intrusive_ptr<c10d::Backend> processGroupBackend(int64_t group, c10::DeviceType device) {
  auto processGroup = processGroupAt(group);
  if (!processGroup->hasBackendForDeviceType(device)) {
    throw std::runtime_error("the process group's backend takes no " + c10::DeviceTypeName(device, true) + " tensors");
  }
  return processGroup->getBackend(device);
}

Napi::Value processGroupAllReduce(const Napi::CallbackInfo& info) {
  auto& group = groupAt(info);
  std::vector<at::Tensor> tensors{tensorAt(info[1])};
  if (!info[2].IsString()) throw std::runtime_error("the reduce op must be a string");
  std::string op = info[2].As<Napi::String>().Utf8Value();
  c10d::AllreduceOptions options;
  // Gloo in libtorch 2.13 reduces AVG itself (a sum divided by the world size), as Python's
  // dist.all_reduce(t, op=ReduceOp.AVG) on a gloo group does.
  if (op == "sum") options.reduceOp = c10d::ReduceOp::SUM;
  else if (op == "avg") options.reduceOp = c10d::ReduceOp::AVG;
  else if (op == "max") options.reduceOp = c10d::ReduceOp::MAX;
  else throw std::runtime_error("unknown reduce op '" + op + "' (expected sum, avg or max)");
  options.asyncOp = info[3].ToBoolean().Value();
  return enqueue(info, group.processGroup->allreduce(tensors, options));
}

Napi::Value processGroupBroadcast(const Napi::CallbackInfo& info) {
  auto& group = groupAt(info);
  std::vector<at::Tensor> tensors{tensorAt(info[1])};
  c10d::BroadcastOptions options;
  options.rootRank = integerArg(info, 2, "the source rank");
  options.asyncOp = info[3].ToBoolean().Value();
  return enqueue(info, group.processGroup->broadcast(tensors, options));
}

Napi::Value processGroupAllGather(const Napi::CallbackInfo& info) {
  auto& group = groupAt(info);
  if (!info[1].IsArray()) throw std::runtime_error("allGather expects an array of output tensors");
  auto list = info[1].As<Napi::Array>();
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (uint32_t i = 0; i < list.Length(); ++i) outputs[0].push_back(tensorAt(list.Get(i)));
  std::vector<at::Tensor> inputs{tensorAt(info[2])};
  c10d::AllgatherOptions options;
  options.asyncOp = info[3].ToBoolean().Value();
  return enqueue(info, group.processGroup->allgather(outputs, inputs, options));
}

Napi::Value processGroupBarrier(const Napi::CallbackInfo& info) {
  c10d::BarrierOptions options;
  options.asyncOp = info[1].ToBoolean().Value();
  return enqueue(info, groupAt(info).processGroup->barrier(options));
}

Napi::Value processGroupDestroy(const Napi::CallbackInfo& info) {
  int64_t id = integerArg(info, 0, "the process group");
  for (auto it = works().begin(); it != works().end();) it = it->second.group == id ? works().erase(it) : std::next(it);
  for (auto it = reducers().begin(); it != reducers().end();) {
    it = it->second.group == id ? reducers().erase(it) : std::next(it);
  }
  if (groups().count(id) != 0) c10d::unregister_process_group(kDefaultGroupName);
  groups().erase(id);
  return info.Env().Undefined();
}

Napi::Value workWait(const Napi::CallbackInfo& info) {
  auto found = works().find(integerArg(info, 0, "the work"));
  if (found == works().end()) throw std::runtime_error("this work was already waited for, or its group destroyed");
  auto work = found->second.work;
  works().erase(found);
  // Gloo's own timeout (the group's) ends a collective whose peer is gone; wait() rethrows its error.
  work->wait();
  return info.Env().Undefined();
}

Napi::Value workCompleted(const Napi::CallbackInfo& info) {
  auto found = works().find(integerArg(info, 0, "the work"));
  return Napi::Boolean::New(info.Env(), found == works().end() || found->second.work->isCompleted());
}

namespace {

// DDP's gradient allreduce, as c10d's built-in ALLREDUCE comm hook (each bucket scaled by
// 1 / world size, then summed across ranks: the average), whose failure names this rank. Without a
// hook the Reducer scales each gradient by the same factor while copying it into the bucket, so the
// averages are bitwise the same; the hook exists because the Reducer waits for the buckets inside
// the autograd engine's final callback, where an error would otherwise reach loss.backward()'s
// caller as Gloo's bare "Connection closed by peer".
class RankNamingAllReduce : public c10d::CppCommHookInterface<c10::intrusive_ptr<c10d::ProcessGroup>> {
 public:
  RankNamingAllReduce(c10::intrusive_ptr<c10d::ProcessGroup> group, std::shared_ptr<std::vector<int64_t>> starts)
      : CppCommHookInterface(std::move(group)), starts_(std::move(starts)) {}

  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket& bucket) override {
    starts_->push_back(c10::getTime());
    std::vector<at::Tensor> tensors{bucket.getBufferRef()};
    tensors[0].mul_(1.0 / state_->getSize());
    auto future = state_->allreduce(tensors)->getFuture();
    std::string where = "DistributedDataParallel: the gradient allreduce of bucket " +
                        std::to_string(bucket.getIndex()) + " failed on rank " + std::to_string(state_->getRank()) +
                        " of " + std::to_string(state_->getSize()) + ": ";
    return future->then(
        [where](c10::ivalue::Future& done) -> c10::IValue {
          if (done.hasError()) throw std::runtime_error(where + done.tryRetrieveErrorMessage());
          return done.value();
        },
        future->elementType());
  }

 private:
  std::shared_ptr<std::vector<int64_t>> starts_;
};

ReducerEntry& entryAt(const Napi::CallbackInfo& info) {
  auto found = reducers().find(integerArg(info, 0, "the reducer"));
  if (found == reducers().end()) throw std::runtime_error("the reducer was destroyed (or its process group)");
  return found->second;
}

c10d::Reducer& reducerAt(const Napi::CallbackInfo& info) { return *entryAt(info).reducer; }

std::vector<at::Tensor> tensorsAt(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw std::runtime_error(std::string(what) + " must be an array of tensor handles");
  auto list = value.As<Napi::Array>();
  std::vector<at::Tensor> tensors;
  for (uint32_t i = 0; i < list.Length(); ++i) tensors.push_back(tensorAt(list.Get(i)));
  return tensors;
}

}  // namespace

Napi::Value verifyParamsAcrossProcesses(const Napi::CallbackInfo& info) {
  c10d::verify_params_across_processes(processGroupAt(integerArg(info, 0, "the process group")),
                                       tensorsAt(info[1], "the parameters"), std::nullopt);
  return info.Env().Undefined();
}

Napi::Value reducerCreate(const Napi::CallbackInfo& info) {
  int64_t group = integerArg(info, 0, "the process group");
  auto processGroup = processGroupAt(group);
  std::vector<at::Tensor> parameters = tensorsAt(info[1], "the parameters");
  if (parameters.empty()) throw std::runtime_error("DistributedDataParallel needs at least one parameter that trains");
  if (!info[2].IsArray()) throw std::runtime_error("the parameter names must be an array");
  auto nameList = info[2].As<Napi::Array>();
  std::unordered_map<size_t, std::string> names;
  for (uint32_t i = 0; i < nameList.Length(); ++i) names.emplace(i, nameList.Get(i).ToString().Utf8Value());
  int64_t bucketBytesCap = integerArg(info, 3, "the bucket cap in bytes");
  int64_t firstBucketBytesCap = integerArg(info, 4, "the first bucket's cap in bytes");
  bool findUnusedParameters = info[5].ToBoolean().Value();
  if (!info[6].IsString()) throw std::runtime_error("the module name must be a string");
  std::string moduleName = info[6].As<Napi::String>().Utf8Value();
  bool broadcastBuffers = info[7].ToBoolean().Value();
  if (!info[8].IsArray()) throw std::runtime_error("the device ids must be an array");
  auto deviceList = info[8].As<Napi::Array>();
  std::vector<int> deviceIds;
  for (uint32_t i = 0; i < deviceList.Length(); ++i) deviceIds.push_back(deviceList.Get(i).ToNumber().Int32Value());

  // As DistributedDataParallel._ddp_init_helper with torch 2.13's _BucketCapacityConfig: without
  // find_unused_parameters the first iteration reduces everything in one bucket, and the Reducer
  // rebuilds the buckets in the order the gradients arrived (rebuild_buckets before the second
  // forward); with it, the buckets are made from the parameters' order, the first one smaller.
  std::vector<size_t> limits;
  if (!findUnusedParameters) limits = {static_cast<size_t>(std::numeric_limits<int64_t>::max())};
  else if (firstBucketBytesCap < bucketBytesCap) limits = {static_cast<size_t>(firstBucketBytesCap), static_cast<size_t>(bucketBytesCap)};
  else limits = {static_cast<size_t>(bucketBytesCap)};
  std::vector<bool> expectSparse(parameters.size(), false);
  auto [bucketIndices, perBucketLimits] = c10d::compute_bucket_assignment_by_size(parameters, limits, expectSparse);
  // Reversed, as torch: the buckets of the last parameters get their gradients first.
  std::reverse(bucketIndices.begin(), bucketIndices.end());

  auto reducer = std::make_shared<c10d::Reducer>(
      parameters, std::move(bucketIndices), processGroup, std::move(expectSparse), bucketBytesCap,
      findUnusedParameters, /*gradient_as_bucket_view=*/false, std::move(names), firstBucketBytesCap,
      /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
      /*bucket_bytes_cap_list=*/std::vector<int64_t>{});
  auto logger = std::make_shared<c10d::Logger>(reducer);
  reducer->set_logger(logger);
  // torch's DDP passes output_device = device_ids[0] for a single-device CUDA module, -1 for a CPU one.
  int outputDevice = deviceIds.empty() ? -1 : deviceIds[0];
  logger->set_construction_data_and_log(moduleName, deviceIds, outputDevice, broadcastBuffers,
                                        /*has_sync_bn=*/false, /*static_graph=*/false);
  ReducerEntry entry{group, std::move(reducer), std::move(logger)};
  entry.reducer->register_comm_hook(std::make_unique<RankNamingAllReduce>(processGroup, entry.bucketStarts));
  int64_t id = nextId++;
  reducers().emplace(id, std::move(entry));
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

Napi::Value reducerPrepareForForward(const Napi::CallbackInfo& info) {
  auto& entry = entryAt(info);
  entry.logger->set_runtime_stats_and_log();
  entry.reducer->prepare_for_forward();
  return info.Env().Undefined();
}

Napi::Value reducerRebuildBuckets(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), reducerAt(info).rebuild_buckets());
}

Napi::Value reducerPrepareForBackward(const Napi::CallbackInfo& info) {
  auto& entry = entryAt(info);
  auto outputs = tensorsAt(info[1], "the forward's outputs");
  // Before the Reducer's own timestamp, so that the timeline's offsets are never early.
  entry.backwardArmedAt = c10::getTime();
  entry.bucketStarts->clear();
  entry.reducer->prepare_for_backward(outputs);
  return info.Env().Undefined();
}

Napi::Value reducerTimeline(const Napi::CallbackInfo& info) {
  auto& entry = entryAt(info);
  auto env = info.Env();
  auto out = Napi::Object::New(env);
  auto starts = Napi::Array::New(env, entry.bucketStarts->size());
  for (size_t b = 0; b < entry.bucketStarts->size(); ++b) {
    starts.Set(static_cast<uint32_t>(b), static_cast<double>((*entry.bucketStarts)[b] - entry.backwardArmedAt));
  }
  auto stats = entry.reducer->get_backward_stats();
  auto ready = Napi::Array::New(env, stats.size());
  for (size_t i = 0; i < stats.size(); ++i) ready.Set(static_cast<uint32_t>(i), static_cast<double>(stats[i]));
  out.Set("bucketStartNs", starts);
  out.Set("gradientReadyNs", ready);
  return out;
}

Napi::Value reducerBuckets(const Napi::CallbackInfo& info) {
  auto& reducer = reducerAt(info);
  std::vector<at::Tensor> parameters = tensorsAt(info[1], "the parameters");
  auto env = info.Env();
  auto buckets = reducer.get_grad_buckets(/*return_zero_tensors=*/true);
  auto out = Napi::Array::New(env, buckets.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    auto indices = Napi::Array::New(env);
    for (const auto& parameter : buckets[b].getParameters()) {
      for (size_t i = 0; i < parameters.size(); ++i) {
        if (parameters[i].unsafeGetTensorImpl() == parameter.unsafeGetTensorImpl()) {
          indices.Set(indices.Length(), Napi::Number::New(env, static_cast<double>(i)));
        }
      }
    }
    out.Set(static_cast<uint32_t>(b), indices);
  }
  return out;
}

Napi::Value reducerDestroy(const Napi::CallbackInfo& info) {
  reducers().erase(integerArg(info, 0, "the reducer"));
  return info.Env().Undefined();
}

}  // namespace finetune
