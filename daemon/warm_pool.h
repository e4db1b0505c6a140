// The warm pool: sandboxes of chosen templates started ahead of time, so that a create can take
// one instead of building it (docs/architecture.md, "The warm pool"). A pooled sandbox is a
// whole sandbox of its own (namespaces, id range, cgroup, root), started with the defaults and
// never shown to anyone; a create that takes it gives it the caller's settings and from then on
// it is an ordinary sandbox. It never goes back: a pooled sandbox has had no user.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/services.h"
#include "common/result.h"
#include "daemon/histogram.h"

namespace declaw::daemon {

class Sandbox;

// The pure part: which template the filler builds next.
struct PoolSlotState {
  uint32_t target = 0;                               // ready sandboxes wanted
  uint32_t ready = 0;                                // ready now
  std::chrono::steady_clock::time_point retry_at{};  // after a failed build: not before then
};
// The first template (in order) short of its target whose backoff has passed; none when every
// pool is full or waiting. `next_wake` gets the earliest backoff end still ahead, if any.
std::optional<size_t> nextToFill(const std::vector<PoolSlotState>& slots,
                                 std::chrono::steady_clock::time_point now,
                                 std::optional<std::chrono::steady_clock::time_point>* next_wake);
// How long the filler waits after a failed build of a template: 250 ms doubling to 30 s.
std::chrono::milliseconds refillBackoff(uint32_t failures_in_a_row);

class WarmPool {
 public:
  // A pooled sandbox is replaced after this long, so none carries /etc copies or host facts
  // older than that (a fresh create reads them anew).
  static constexpr auto kMaxAge = std::chrono::minutes(5);
  // The filler starts a build only once no create has come for this long: refills use the
  // time between requests, never the cores a request is waiting for.
  static constexpr auto kQuietBeforeRefill = std::chrono::milliseconds(30);

  // Builds one ready sandbox of a template (id range and state record included).
  using Build = std::function<Result<std::shared_ptr<Sandbox>>(const std::string& template_name)>;
  // Ends a sandbox the pool no longer wants (kill, id range and state record given back).
  using Discard = std::function<void(const std::shared_ptr<Sandbox>&, const char* why)>;

  WarmPool(const std::map<std::string, uint32_t>& targets, Build build, Discard discard);
  ~WarmPool();
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  void start();
  // Stops the filler and discards every ready sandbox. Idempotent.
  void stop();

  bool serves(const std::string& template_name) const;
  // A ready sandbox of `template_name` that `fits` accepts, or null. Entries `fits` refuses
  // (built from an older version of the template, or older host facts) are discarded: they
  // can never fit again. Counts a hit or a miss.
  std::shared_ptr<Sandbox> take(const std::string& template_name,
                                const std::function<bool(const Sandbox&)>& fits);
  // A create the pool could not serve at all (e.g. with internet access): a miss.
  void countMiss(const std::string& template_name);
  // A create is being built outside the pool: the filler waits for a quiet moment.
  void noteForeground();
  // Drops the ready sandboxes of a template that was deleted or replaced.
  void invalidate(const std::string& template_name);

  std::vector<api::PoolStats> stats() const;
  api::Histogram refillSeconds() const { return refill_.snapshot(); }

 private:
  struct Entry {
    std::shared_ptr<Sandbox> sandbox;
    std::chrono::steady_clock::time_point built_at;
  };
  struct Slot {
    std::string name;
    PoolSlotState state;
    std::deque<Entry> ready;
    uint32_t failures = 0;    // builds that failed in a row
    uint64_t generation = 0;  // bumped by invalidate(): a build under way is then discarded
    uint64_t hits = 0;
    uint64_t misses = 0;
  };

  void fillLoop();
  Slot* slot(const std::string& name);  // under mutex_
  // Takes out of the pool what is too old or whose init died (under mutex_).
  std::vector<std::shared_ptr<Sandbox>> takeStale(std::chrono::steady_clock::time_point now);
  void discardAll(std::vector<std::shared_ptr<Sandbox>>& sandboxes, const char* why);

  Build build_;
  Discard discard_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Slot> slots_;
  std::chrono::steady_clock::time_point last_foreground_{};
  bool stopping_ = false;
  std::thread filler_;
  LatencyHistogram refill_;
};

}  // namespace declaw::daemon
