// Typed arrays that share a tensor's memory (Tensor.data()) and must never outlive it.
// An operator that writes a tensor may reallocate its storage (an out= call that resizes,
// resize_, set_): the old memory is freed and an ArrayBuffer still pointing at it would read
// freed memory and corrupt the heap on writes. Every shared ArrayBuffer is therefore tracked
// by the storage it points into, and detached (length 0) when that memory moves.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <vector>

namespace finetune {

// An ArrayBuffer over the memory of contiguous CPU tensor `t` (which it keeps alive),
// detached by StorageWatch when an operator reallocates or replaces that memory.
Napi::ArrayBuffer shareBuffer(Napi::Env env, const at::Tensor& t);

// Whether any shared ArrayBuffer is live; the operator call skips watching when none is.
bool anySharedBuffers();

// The storages of the tensors an operator may write, noted before the call; detachMoved()
// after it (also when it throws) detaches the buffers over memory that moved.
class StorageWatch {
 public:
  void add(const at::Tensor& written);
  void detachMoved(Napi::Env env);

 private:
  std::vector<at::Tensor> tensors_;
  std::vector<c10::StorageImpl*> before_;
};

}  // namespace finetune
