#include "netsvc/sandbox_context.h"

#include <utility>

#include "common/log.h"

namespace declaw::netsvc {

NetStatsSnapshot SandboxNetStats::snapshot() const {
  NetStatsSnapshot s;
  s.dns_queries = dns_queries;
  s.dns_answered = dns_answered;
  s.dns_refused = dns_refused;
  s.dns_addresses_refused = dns_addresses_refused;
  s.dns_failed = dns_failed;
  s.proxy_connections = proxy_connections;
  s.proxy_allowed = proxy_allowed;
  s.proxy_refused = proxy_refused;
  s.proxy_failed = proxy_failed;
  s.proxy_active = proxy_active;
  return s;
}

std::optional<uint64_t> SandboxNetStats::admitLogLine(Clock::time_point now) {
  std::lock_guard lock(log_mutex_);
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    lines_in_window_ = 0;
  }
  if (lines_in_window_ >= kRefusalLogLinesPerSecond) {
    ++suppressed_;
    return std::nullopt;
  }
  ++lines_in_window_;
  return std::exchange(suppressed_, 0);
}

bool tryAcquire(std::atomic<uint32_t>& gauge, uint32_t limit) {
  uint32_t current = gauge.load();
  do {
    if (current >= limit) return false;
  } while (!gauge.compare_exchange_weak(current, current + 1));
  return true;
}

void logRefusal(const SandboxContext& sandbox, const std::string& message) {
  auto admitted = sandbox.stats->admitLogLine(SandboxNetStats::Clock::now());
  if (!admitted) return;
  auto log = logger("netsvc");
  if (*admitted > 0) {
    log->info("[{}] {} refusals were not logged (rate limit)", sandbox.id, *admitted);
  }
  log->info("[{}] {}", sandbox.id, message);
}

}  // namespace declaw::netsvc
