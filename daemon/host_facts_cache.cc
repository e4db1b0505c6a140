#include "daemon/host_facts_cache.h"

#include <sys/stat.h>

#include "runtime/init/host_facts.h"

namespace declaw::daemon {

namespace {

bool same(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

std::shared_ptr<const runtime::HostFacts> HostFactsCache::current() {
  struct stat etc {};
  const bool stat_ok = ::stat(watched_.c_str(), &etc) == 0;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (facts_ && stat_ok && same(etc.st_ctim, etc_ctime_) && same(etc.st_mtim, etc_mtime_) &&
      now - probed_at_ < kMaxAge) {
    return facts_;
  }
  auto probed = runtime::init::probeHost();
  ++probes_;
  // Unchanged facts keep their object: a pooled sandbox built from it still fits a create
  // (the warm pool compares these pointers).
  if (!facts_ || !(*facts_ == probed)) {
    facts_ = std::make_shared<const runtime::HostFacts>(std::move(probed));
  }
  probed_at_ = now;
  etc_ctime_ = stat_ok ? etc.st_ctim : timespec{};
  etc_mtime_ = stat_ok ? etc.st_mtim : timespec{};
  return facts_;
}

}  // namespace declaw::daemon
