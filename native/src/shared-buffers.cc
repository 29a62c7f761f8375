#include "shared-buffers.h"

#include <unordered_map>

namespace finetune {

namespace {

struct SharedBuffer {
  at::Tensor keeper;          // keeps the storage alive while JavaScript holds the buffer
  c10::StorageImpl* storage;  // the storage the buffer points into
  napi_ref buffer = nullptr;  // weak: the ArrayBuffer, to detach it
  size_t slot = 0;            // index in its storage's list; tracked until detached or collected
  bool tracked = true;
};

// The buffers sharing one storage, and the allocation they all point into: an operator call
// costs one lookup and one pointer comparison however many buffers a storage has handed out.
struct StorageBuffers {
  const void* memory;
  std::vector<SharedBuffer*> buffers;
};

// One table per process: the addon refuses to load in a second JavaScript thread (addon.cc).
std::unordered_map<c10::StorageImpl*, StorageBuffers>& registry() {
  static std::unordered_map<c10::StorageImpl*, StorageBuffers> storages;
  return storages;
}

void untrack(SharedBuffer* shared) {
  if (!shared->tracked) return;
  shared->tracked = false;
  auto found = registry().find(shared->storage);
  auto& buffers = found->second.buffers;
  buffers[shared->slot] = buffers.back();
  buffers[shared->slot]->slot = shared->slot;
  buffers.pop_back();
  if (buffers.empty()) registry().erase(found);
}

// Detaches every buffer into `storage` when its memory is no longer the allocation they point
// into (reallocated), or unconditionally when `replaced` (the written tensor left the storage).
void detachStale(Napi::Env env, c10::StorageImpl* storage, bool replaced) {
  auto found = registry().find(storage);
  if (found == registry().end()) return;
  if (!replaced && found->second.memory == storage->data_ptr().get()) return;
  std::vector<SharedBuffer*> stale = std::move(found->second.buffers);
  registry().erase(found);
  for (SharedBuffer* shared : stale) {
    shared->tracked = false;
    napi_value value = nullptr;
    if (napi_get_reference_value(env, shared->buffer, &value) == napi_ok && value != nullptr) {
      napi_detach_arraybuffer(env, value);
    }
  }
}

}  // namespace

Napi::ArrayBuffer shareBuffer(Napi::Env env, const at::Tensor& t) {
  void* data = t.data_ptr();  // first: it materialises a copy-on-write storage, moving its memory
  c10::StorageImpl* storage = t.storage().unsafeGetStorageImpl();
  // Memory that moved where no operator call saw it leaves the older buffers stale.
  detachStale(env, storage, false);
  auto* shared = new SharedBuffer{t, storage};
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
  auto& group = registry().try_emplace(storage, StorageBuffers{storage->data_ptr().get(), {}}).first->second;
  shared->slot = group.buffers.size();
  group.buffers.push_back(shared);
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
