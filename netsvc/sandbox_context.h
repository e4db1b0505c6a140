// What the DNS stub and the egress proxy know about the sandbox behind a query or connection,
// and the per-sandbox counters they keep. The daemon owns both:
//   - SandboxContext is immutable: the daemon makes a new one on every policy change (PATCH)
//     and its SandboxLookup returns the current one, so a decision never sees half a policy.
//     Connections already proxied keep the context they started with.
//   - SandboxNetStats lives as long as the sandbox, across policy changes: the counters for the
//     sandbox info, the gauges the per-sandbox limits use, and the log rate limit.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "netpolicy/addr.h"
#include "netpolicy/policy.h"

namespace declaw::netsvc {

// Refusal lines one sandbox may log per second; the rest are counted, and the next line that
// gets through says how many were left out. A sandbox must not be able to flood the journal.
inline constexpr uint32_t kRefusalLogLinesPerSecond = 20;

struct NetStatsSnapshot {
  uint64_t dns_queries = 0;
  uint64_t dns_answered = 0;           // NOERROR answers with at least one address
  uint64_t dns_refused = 0;            // denied names, unsupported types, malformed queries
  uint64_t dns_addresses_refused = 0;  // addresses left out of answers (private, denied, ...)
  uint64_t dns_failed = 0;             // upstream failures and timeouts, over a limit
  uint64_t proxy_connections = 0;      // accepted
  uint64_t proxy_allowed = 0;          // connected upstream
  uint64_t proxy_refused = 0;          // refused by the policy or as unreadable
  uint64_t proxy_failed = 0;           // timeouts, resolution or connect failures, over a limit
  uint32_t proxy_active = 0;
};

class SandboxNetStats {
 public:
  using Clock = std::chrono::steady_clock;

  std::atomic<uint64_t> dns_queries{0};
  std::atomic<uint64_t> dns_answered{0};
  std::atomic<uint64_t> dns_refused{0};
  std::atomic<uint64_t> dns_addresses_refused{0};
  std::atomic<uint64_t> dns_failed{0};
  std::atomic<uint64_t> proxy_connections{0};
  std::atomic<uint64_t> proxy_allowed{0};
  std::atomic<uint64_t> proxy_refused{0};
  std::atomic<uint64_t> proxy_failed{0};

  // Gauges behind the per-sandbox limits.
  std::atomic<uint32_t> proxy_active{0};
  std::atomic<uint32_t> dns_in_flight{0};
  std::atomic<uint32_t> dns_tcp_active{0};

  NetStatsSnapshot snapshot() const;

  // Whether a refusal may be logged at `now`. When it may, returns how many refusals were left
  // out of the log since the last logged one (usually 0).
  std::optional<uint64_t> admitLogLine(Clock::time_point now);

 private:
  std::mutex log_mutex_;
  Clock::time_point window_start_{};
  uint32_t lines_in_window_ = 0;
  uint64_t suppressed_ = 0;
};

struct SandboxContext {
  std::string id;  // "sbx-1a2b...", the prefix of every log line about it
  netpolicy::Decider decider;
  std::shared_ptr<SandboxNetStats> stats;  // never null
};

// Finds the sandbox behind a query or connection: `local` is the address it reached (the
// sandbox's gateway), `peer` its source. nullptr when no live sandbox has that pair; the
// service then drops the packet or closes the connection. Called on the services' threads, so
// it must be thread-safe and must not block for long.
using SandboxLookup = std::function<std::shared_ptr<const SandboxContext>(
    const netpolicy::IpAddress& local, const netpolicy::IpAddress& peer)>;

// Increments a gauge unless it has reached `limit`.
bool tryAcquire(std::atomic<uint32_t>& gauge, uint32_t limit);

// Logs a refused query or connection as "[sbx-1a2b] <message>" on the "netsvc" logger, within
// the sandbox's log rate limit.
void logRefusal(const SandboxContext& sandbox, const std::string& message);

}  // namespace declaw::netsvc
