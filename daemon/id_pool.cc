#include "daemon/id_pool.h"

namespace declaw::daemon {

std::optional<uint32_t> IdPool::acquire() {
  for (uint32_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      return base_ + i * kSlotSize;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> IdPool::slotOf(uint32_t host_base) const {
  if (host_base < base_ || (host_base - base_) % kSlotSize != 0) return std::nullopt;
  uint32_t slot = (host_base - base_) / kSlotSize;
  if (slot >= used_.size()) return std::nullopt;
  return slot;
}

bool IdPool::reserve(uint32_t host_base) {
  auto slot = slotOf(host_base);
  if (!slot || used_[*slot]) return false;  // two sandboxes never share a range
  used_[*slot] = true;
  return true;
}

void IdPool::release(uint32_t host_base) {
  if (auto slot = slotOf(host_base)) used_[*slot] = false;
}

uint32_t IdPool::inUse() const {
  uint32_t n = 0;
  for (bool u : used_) n += u ? 1 : 0;
  return n;
}

}  // namespace declaw::daemon
