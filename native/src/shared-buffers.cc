#include "shared-buffers.h"

#include <unordered_map>

namespace finetune {

namespace {

struct SharedBuffer {
  at::Tensor keeper;            // keeps the storage alive while JavaScript holds the buffer
  c10::StorageImpl* storage;    // the storage the buffer points into
  const void* memory;           // that storage's allocation when the buffer was made
  napi_ref buffer = nullptr;    // weak: the ArrayBuffer, to detach it
  bool tracked = true;          // false once detached and out of the registry
};

// One table per process: the addon refuses to load in a second JavaScript thread (addon.cc).
std::unordered_multimap<c10::StorageImpl*, SharedBuffer*>& registry() {
  static std::unordered_multimap<c10::StorageImpl*, SharedBuffer*> buffers;
  return buffers;
}

void untrack(SharedBuffer* shared) {
  if (!shared->tracked) return;
  shared->tracked = false;
  auto [first, last] = registry().equal_range(shared->storage);
  for (auto it = first; it != last; ++it) {
    if (it->second == shared) {
      registry().erase(it);
      return;
    }
  }
}

// Detaches the buffers into `storage` whose memory is no longer its allocation (reallocated),
// or all of them when `replaced` (the written tensor now uses another storage).
void detachStale(Napi::Env env, c10::StorageImpl* storage, bool replaced) {
  auto [first, last] = registry().equal_range(storage);
  std::vector<SharedBuffer*> stale;
  for (auto it = first; it != last; ++it) {
    if (replaced || it->second->memory != storage->data_ptr().get()) stale.push_back(it->second);
  }
  for (SharedBuffer* shared : stale) {
    untrack(shared);
    napi_value value = nullptr;
    if (napi_get_reference_value(env, shared->buffer, &value) == napi_ok && value != nullptr) {
      napi_detach_arraybuffer(env, value);
    }
  }
}

}  // namespace

Napi::ArrayBuffer shareBuffer(Napi::Env env, const at::Tensor& t) {
  void* data = t.data_ptr();  // first: it materialises a copy-on-write storage, moving its memory
  auto* shared = new SharedBuffer{t, t.storage().unsafeGetStorageImpl(), t.storage().data_ptr().get()};
  auto buffer = Napi::ArrayBuffer::New(
      env, data, t.numel() * t.element_size(),
      [](Napi::Env env, void*, SharedBuffer* shared) {
        untrack(shared);
        napi_delete_reference(env, shared->buffer);
        delete shared;
      },
      shared);
  if (napi_create_reference(env, buffer, 0, &shared->buffer) != napi_ok) {
    throw std::runtime_error("cannot track the typed array shared with a tensor");
  }
  registry().emplace(shared->storage, shared);
  return buffer;
}

bool anySharedBuffers() { return !registry().empty(); }

void StorageWatch::add(const at::Tensor& written) {
  if (!written.defined() || !written.has_storage()) return;
  tensors_.push_back(written);
  before_.push_back(written.storage().unsafeGetStorageImpl());
}

void StorageWatch::detachMoved(Napi::Env env) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    c10::StorageImpl* after = tensors_[i].has_storage() ? tensors_[i].storage().unsafeGetStorageImpl() : nullptr;
    detachStale(env, before_[i], after != before_[i]);
    // set_ may also have grown the storage it now shares with another tensor.
    if (after != nullptr && after != before_[i]) detachStale(env, after, false);
  }
}

}  // namespace finetune
