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
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "slab.h"

namespace finetune {

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> backend;
};

struct PendingWork {
  int64_t group;
  c10::intrusive_ptr<c10d::Work> work;
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

c10::intrusive_ptr<c10d::Backend> processGroupBackend(int64_t group) {
  auto found = groups().find(group);
  if (found == groups().end()) throw std::runtime_error("the process group was destroyed");
  return found->second.backend;
}

Napi::Value processGroupCreate(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw std::runtime_error("the store host must be a string");
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int64_t port = integerArg(info, 1, "the store port");
  bool isStoreServer = info[2].ToBoolean().Value();
  int64_t rank = integerArg(info, 3, "the rank");
  int64_t worldSize = integerArg(info, 4, "the world size");
  std::chrono::milliseconds timeout(integerArg(info, 5, "the timeout"));
  if (port < 0 || port > 65535) throw std::runtime_error("the store port must be in 0..65535");
  if (worldSize < 1 || rank < 0 || rank >= worldSize) throw std::runtime_error("the rank must be in 0..worldSize-1");

  c10d::TCPStoreOptions storeOptions;
  storeOptions.port = static_cast<uint16_t>(port);
  storeOptions.isServer = isStoreServer;
  storeOptions.numWorkers = static_cast<size_t>(worldSize);
  storeOptions.timeout = timeout;
  // As torch.distributed's tcp:// and env:// rendezvous (rendezvous.py's _create_c10d_store).
  storeOptions.multiTenant = true;
  auto tcpStore = c10::make_intrusive<c10d::TCPStore>(host, storeOptions);
  // The same key prefixes as torch.distributed's default group ("default_pg", group "0", device
  // "cpu"), so that a Python process can join the group (tools/c10d-python-check.py).
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("default_pg", tcpStore);
  store = c10::make_intrusive<c10d::PrefixStore>("0/", store);
  store = c10::make_intrusive<c10d::PrefixStore>("cpu/", store);

  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(glooDevice());
  auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank),
                                                             static_cast<int>(worldSize), options);
  // torch.distributed does this for every Gloo group (rank 0 publishes a sequence number the others
  // read); a Python peer waits for it.
  backend->setSequenceNumberForGroup();

  int64_t id = nextId++;
  groups().emplace(id, Group{tcpStore, backend});
  return Napi::Number::New(info.Env(), static_cast<double>(id));
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
  return enqueue(info, group.backend->allreduce(tensors, options));
}

Napi::Value processGroupBroadcast(const Napi::CallbackInfo& info) {
  auto& group = groupAt(info);
  std::vector<at::Tensor> tensors{tensorAt(info[1])};
  c10d::BroadcastOptions options;
  options.rootRank = integerArg(info, 2, "the source rank");
  return enqueue(info, group.backend->broadcast(tensors, options));
}

Napi::Value processGroupAllGather(const Napi::CallbackInfo& info) {
  auto& group = groupAt(info);
  if (!info[1].IsArray()) throw std::runtime_error("allGather expects an array of output tensors");
  auto list = info[1].As<Napi::Array>();
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (uint32_t i = 0; i < list.Length(); ++i) outputs[0].push_back(tensorAt(list.Get(i)));
  std::vector<at::Tensor> inputs{tensorAt(info[2])};
  return enqueue(info, group.backend->allgather(outputs, inputs));
}

Napi::Value processGroupBarrier(const Napi::CallbackInfo& info) {
  return enqueue(info, groupAt(info).backend->barrier());
}

Napi::Value processGroupDestroy(const Napi::CallbackInfo& info) {
  int64_t id = integerArg(info, 0, "the process group");
  for (auto it = works().begin(); it != works().end();) it = it->second.group == id ? works().erase(it) : std::next(it);
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

}  // namespace finetune
