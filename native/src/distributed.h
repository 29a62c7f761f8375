// Process groups over c10d, PyTorch's own distributed engine (TCPStore + ProcessGroupGloo, both
// inside libtorch_cpu.so): the collectives torch.distributed runs, on CPU tensors from the slab.
// Compiled only where the Gloo headers exist (binding.gyp's FINETUNE_DISTRIBUTED, see
// native/src/gloo-headers.cjs); src/distributed/ says how to get them when these are missing.
#pragma once

#include <c10/util/intrusive_ptr.h>
#include <napi.h>

#include <cstdint>

namespace c10d {
class Backend;
}

namespace finetune {

// The c10d backend of a live group, for collectives run inside autograd (distributed-autograd.cc);
// throws when the group was destroyed.
c10::intrusive_ptr<c10d::Backend> processGroupBackend(int64_t group);

// processGroupCreate(host, port, isStoreServer, rank, worldSize, timeoutMs) -> group id.
// Blocks until every rank joined, or throws after timeoutMs.
Napi::Value processGroupCreate(const Napi::CallbackInfo& info);
// processGroupAllReduce(group, tensor, 'sum' | 'avg' | 'max') -> work id; in place.
Napi::Value processGroupAllReduce(const Napi::CallbackInfo& info);
// processGroupBroadcast(group, tensor, srcRank) -> work id; in place.
Napi::Value processGroupBroadcast(const Napi::CallbackInfo& info);
// processGroupAllGather(group, outputTensors[], tensor) -> work id; fills outputTensors.
Napi::Value processGroupAllGather(const Napi::CallbackInfo& info);
// processGroupBarrier(group) -> work id.
Napi::Value processGroupBarrier(const Napi::CallbackInfo& info);
// processGroupDestroy(group): drops the group, its pending work and its store connection.
Napi::Value processGroupDestroy(const Napi::CallbackInfo& info);
// workWait(work): blocks until the collective finished; throws its error (timeout, dead peer).
Napi::Value workWait(const Napi::CallbackInfo& info);
// workCompleted(work) -> whether wait() would return at once.
Napi::Value workCompleted(const Napi::CallbackInfo& info);

}  // namespace finetune
