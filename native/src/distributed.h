// Process groups over c10d, PyTorch's own distributed engine (TCPStore + ProcessGroupGloo, both
// inside libtorch_cpu.so, and ProcessGroupNCCL inside a CUDA libtorch's libtorch_cuda.so): the
// collectives torch.distributed runs, on tensors from the slab. Compiled only where the Gloo headers
// exist (binding.gyp's FINETUNE_DISTRIBUTED, see native/src/gloo-headers.cjs), NCCL only where the
// libtorch has CUDA and the CUDA and NCCL headers exist too (FINETUNE_NCCL, native/src/nccl-build.cjs);
// src/distributed/ says how to get them when these are missing.
#pragma once

#include <c10/util/intrusive_ptr.h>
#include <napi.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <cstdint>

namespace c10d {
class Backend;
}

namespace finetune {

// processGroupCreate(host, port, isStoreServer, rank, worldSize, timeoutMs, 'gloo' | 'nccl') -> group id.
// Blocks until every rank joined, or throws after timeoutMs.
Napi::Value processGroupCreate(const Napi::CallbackInfo& info);
// The c10d::ProcessGroup of a group id (what torch.distributed's group objects hold); throws when
// the group was destroyed.
c10::intrusive_ptr<c10d::ProcessGroup> processGroupAt(int64_t id);

// The c10d backend of a live group for tensors on `device`, for collectives run inside autograd
// (distributed-autograd.cc); throws when the group was destroyed or its backend takes no such tensors.
c10::intrusive_ptr<c10d::Backend> processGroupBackend(int64_t group, c10::DeviceType device);
// The collectives take torch.distributed's async_op last (c10d's opts.asyncOp: false when the caller
// waits at once, as Python's dist.all_reduce(t) passes it).
// processGroupAllReduce(group, tensor, 'sum' | 'avg' | 'max', asyncOp) -> work id; in place.
Napi::Value processGroupAllReduce(const Napi::CallbackInfo& info);
// processGroupBroadcast(group, tensor, srcRank, asyncOp) -> work id; in place.
Napi::Value processGroupBroadcast(const Napi::CallbackInfo& info);
// processGroupAllGather(group, outputTensors[], tensor, asyncOp) -> work id; fills outputTensors.
Napi::Value processGroupAllGather(const Napi::CallbackInfo& info);
// processGroupBarrier(group, asyncOp) -> work id.
Napi::Value processGroupBarrier(const Napi::CallbackInfo& info);
// processGroupDestroy(group): drops the group, its pending work, its reducers and its store connection,
// and unregisters it from c10d's group registry.
Napi::Value processGroupDestroy(const Napi::CallbackInfo& info);
// workWait(work): blocks until the collective finished; throws its error (timeout, dead peer).
Napi::Value workWait(const Napi::CallbackInfo& info);
// workCompleted(work) -> whether wait() would return at once.
Napi::Value workCompleted(const Napi::CallbackInfo& info);

// verifyParamsAcrossProcesses(group, parameters[]): torch DDP's first step, a collective that throws
// unless every rank passes as many parameters, of the same shapes and dtypes, as rank 0.
Napi::Value verifyParamsAcrossProcesses(const Napi::CallbackInfo& info);

// DDP's c10d::Reducer over a group (torch's dist.Reducer): averages the parameters' gradients
// in buckets from autograd hooks while backward runs.
// reducerCreate(group, parameters[], names[], bucketBytesCap, firstBucketBytesCap, findUnusedParameters,
//               moduleName, broadcastBuffers, deviceIds[]) -> id; with DDP's c10d::Logger, as torch's DDP.
Napi::Value reducerCreate(const Napi::CallbackInfo& info);
// reducerPrepareForForward(reducer): torch's logger.set_runtime_stats_and_log() and reducer.prepare_for_forward().
Napi::Value reducerPrepareForForward(const Napi::CallbackInfo& info);
// reducerRebuildBuckets(reducer) -> whether it rebuilt them (once, after the first backward); throws
// "Expected to have finished reduction in the prior iteration …" when the last backward left a bucket.
Napi::Value reducerRebuildBuckets(const Napi::CallbackInfo& info);
// reducerPrepareForBackward(reducer, outputs[]): the next backward reduces; outputs are searched for
// unused parameters when findUnusedParameters.
Napi::Value reducerPrepareForBackward(const Napi::CallbackInfo& info);
// reducerBuckets(reducer, parameters[]) -> per bucket in reduction order, the indices of its parameters.
Napi::Value reducerBuckets(const Napi::CallbackInfo& info);
// reducerTimeline(reducer) -> { bucketStartNs[], gradientReadyNs[] }: for the last armed backward,
// when each bucket's allreduce started and when each parameter's gradient was ready (the Reducer's
// backward stats), in nanoseconds after prepare_for_backward.
Napi::Value reducerTimeline(const Napi::CallbackInfo& info);
// reducerDestroy(reducer): removes its autograd hooks.
Napi::Value reducerDestroy(const Napi::CallbackInfo& info);

}  // namespace finetune
