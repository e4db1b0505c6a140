// The host facts a built-in's root is planned from (runtime/host_facts.h), probed once for many
// creates instead of by every sandbox's init (about 250 lstat calls, 2-3 ms of each create on this
// machine kind; docs/performance.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/host_facts.h"

namespace declaw::daemon {

class HostFactsCache {
 public:
  // How long a probe is trusted without a look at /etc: past it, the next create probes again.
  static constexpr std::chrono::seconds kMaxAge{30};

  // `watched`: the directory whose change means a new probe (tests watch one of their own).
  explicit HostFactsCache(std::string watched = "/etc") : watched_(std::move(watched)) {}

  // The current facts: probed again when the watched dir's times moved (an entry added, removed
  // or renamed, which is what the plan reads of /etc) or the last probe is older than kMaxAge.
  // Directory times come from the kernel's coarse clock, so a change in the same tick as a probe
  // may not move them: kMaxAge bounds how long such a change goes unseen. A plan made from facts
  // a moment old is still checked by init, which opens every path it uses inside the new root
  // and never follows a symlink there.
  // Facts equal to the previous probe's keep its object, so pointers compare as the facts do.
  std::shared_ptr<const runtime::HostFacts> current();
  // How many times the host was probed (tests).
  uint64_t probes() const {
    std::lock_guard lock(mutex_);
    return probes_;
  }

 private:
  const std::string watched_;
  mutable std::mutex mutex_;
  std::shared_ptr<const runtime::HostFacts> facts_;
  uint64_t probes_ = 0;
  std::chrono::steady_clock::time_point probed_at_;
  struct timespec etc_ctime_ {};
  struct timespec etc_mtime_ {};
};

}  // namespace declaw::daemon
