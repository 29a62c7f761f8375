#include "slab.h"

#include <cstdlib>
#include <string>
#include <unordered_set>

namespace finetune {

namespace {
constexpr int64_t kReportThresholdBytes = 1 << 20;

int64_t viewBytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}
}  // namespace

TensorSlab& slab() {
  static TensorSlab instance;
  return instance;
}

int32_t TensorSlab::insert(at::Tensor tensor) {
  int32_t handle;
  if (!free_.empty()) {
    handle = free_.back();
    free_.pop_back();
    slots_[handle] = std::move(tensor);
    slotBytes_[handle] = 0;
  } else {
    handle = static_cast<int32_t>(slots_.size());
    slots_.push_back(std::move(tensor));
    slotBytes_.push_back(0);
  }
  ++live_;
  return handle;
}

void TensorSlab::markUnscoped(int64_t handle) {
  if (handle < 0 || handle >= static_cast<int64_t>(slots_.size()) || slotBytes_[handle] != 0) return;
  int64_t bytes = viewBytes(slots_[handle]);
  slotBytes_[handle] = bytes;
  unreportedBytes_ += bytes;
}

const at::Tensor& TensorSlab::get(int64_t handle) const {
  if (handle < 0 || handle >= static_cast<int64_t>(slots_.size()) || !slots_[handle].defined()) {
    throw std::runtime_error(handle == -1 ? "tensor has been disposed"
                                          : "invalid tensor handle " + std::to_string(handle));
  }
  return slots_[handle];
}

void TensorSlab::release(int64_t handle) {
  if (handle < 0 || handle >= static_cast<int64_t>(slots_.size()) || !slots_[handle].defined()) return;
  slots_[handle] = at::Tensor();
  unreportedBytes_ -= slotBytes_[handle];
  slotBytes_[handle] = 0;
  free_.push_back(static_cast<int32_t>(handle));
  --live_;
}

int64_t TensorSlab::liveStorageBytes() const {
  std::unordered_set<const void*> seen;
  int64_t total = 0;
  for (const auto& t : slots_) {
    if (!t.defined() || !t.has_storage()) continue;
    const void* key = t.storage().unsafeGetStorageImpl();
    if (seen.insert(key).second) total += static_cast<int64_t>(t.storage().nbytes());
  }
  return total;
}

void TensorSlab::reportExternalMemory(Napi::Env env) {
  if (std::llabs(unreportedBytes_) < kReportThresholdBytes) return;
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, unreportedBytes_, &adjusted);
  unreportedBytes_ = 0;
}

}  // namespace finetune
