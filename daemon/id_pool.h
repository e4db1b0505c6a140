// Allocates host uid/gid ranges to sandboxes: each live sandbox gets its own slot of
// runtime::kIdsPerSandbox ids, returned to the pool when the sandbox is gone. Pure logic,
// unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/protocol.h"

namespace declaw::daemon {

class IdPool {
 public:
  static constexpr uint32_t kSlotSize = runtime::kIdsPerSandbox;  // one sandbox's ids

  IdPool(uint32_t base, uint32_t slots) : base_(base), used_(slots, false) {}

  // The lowest free slot's host base id, or nullopt when all are taken.
  std::optional<uint32_t> acquire();
  // Marks a base taken (a leftover found at start); false if it is not a slot of this pool.
  bool reserve(uint32_t host_base);
  void release(uint32_t host_base);
  uint32_t inUse() const;

 private:
  std::optional<uint32_t> slotOf(uint32_t host_base) const;
  uint32_t base_;
  std::vector<bool> used_;
};

}  // namespace declaw::daemon
