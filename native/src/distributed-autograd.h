// Collectives autograd differentiates through (torch.distributed.nn.functional): what SyncBatchNorm
// gathers its per-rank statistics with. Compiled with distributed.cc (binding.gyp's
// FINETUNE_DISTRIBUTED).
#pragma once

#include <napi.h>

namespace finetune {

// autogradAllGather(group, tensor) -> one tensor handle per rank, rank r's `tensor` at index r. When
// `tensor` requires grad, the outputs have a grad_fn whose backward sums, over all ranks, the
// gradients of this rank's slice (an allreduce during backward: every rank must run it).
Napi::Value autogradAllGather(const Napi::CallbackInfo& info);

}  // namespace finetune
