// Inits launched ahead of the creates that take them (docs/architecture.md, "Inits launched
// ahead"). What a create does before it needs anything of its own request (a uid range, a state
// record, a cgroup with the config's default resources, init cloned into fresh namespaces and
// joined to the cgroup) is done here beforehand, so a create starts at its root. That includes
// the one wait of a create that is not CPU work: on cgroup v1 a move into a cgroup waits for
// an RCU grace period (about 10 ms measured on this project's machine kind).
//
// A refill waits until no create or command is under way (Foreground), and until a short
// settle time after a create has passed (its first command comes next), for at most a bounded
// time: its clone of fresh namespaces and its cgroup work take the same kernel locks as a
// create's mounts and setup, and on this project's 2-core machine kind a refill beside a create
// made the create 0.7 ms slower, and one beside the new sandbox's first command made that
// command 0.5 ms slower (docs/performance.md).
//
// Unlike the warm pool (warm_pool.h), nothing here depends on the template or the request, so
// every create takes one, and nothing of a sandbox is built yet: an init waiting for its config
// has run none of the sandbox's code, has no root, and never will have anything of another
// create's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/result.h"
#include "daemon/sandbox.h"

namespace declaw::daemon {

class LaunchAhead {
 public:
  // Launches one (uid range and state record included).
  using Launch = std::function<Result<AheadInit>()>;
  // Ends one nobody took (kills init, removes its cgroup, gives back its range and record).
  using Discard = std::function<void(AheadInit&)>;

  // How long a refill waits for the creates and commands under way to end before it goes
  // ahead anyway (so a daemon never idle still refills).
  static constexpr std::chrono::milliseconds kMaxRefillDeferral{20};
  // How long after a create a refill waits for the new sandbox's first command: a client sends
  // it within a fraction of a millisecond of the create's answer; one that sends none lets the
  // refill start this much later. (The end of any command ends the wait: the daemon does not
  // tell one sandbox's commands from another's here, which costs at most a refill beside a
  // first command, as before.)
  static constexpr std::chrono::milliseconds kSettleAfterCreate{5};

  // `slots` inits kept ready, each refilled by a thread of its own once it is taken and the
  // daemon is quiet (above): refills run side by side, so their waits overlap.
  // The fillers run at `nice` (their launches give way to whatever runs now; see kAheadNice).
  LaunchAhead(uint32_t slots, Launch launch, Discard discard,
              std::chrono::milliseconds max_deferral = kMaxRefillDeferral, int nice = 0,
              std::chrono::milliseconds settle_after_create = kSettleAfterCreate);
  ~LaunchAhead();
  LaunchAhead(const LaunchAhead&) = delete;
  LaunchAhead& operator=(const LaunchAhead&) = delete;

  void start();
  // Stops the fillers (waiting for launches under way) and discards every ready init.
  // Idempotent.
  void stop();

  // A ready init, or none (all being launched): the create launches its own. One that died
  // while it waited (the OOM killer, an admin's kill) is discarded, not handed out.
  std::optional<AheadInit> take();

  // Marks a create (from before its take() until it has answered) or a command (until it has
  // finished, or started in the background) under way for as long as it lives: refills wait for
  // it, and after a create also for the settle time.
  class Foreground {
   public:
    enum class Kind { kCreate, kCommand };
    explicit Foreground(LaunchAhead* ahead, Kind kind);
    ~Foreground();
    Foreground(const Foreground&) = delete;
    Foreground& operator=(const Foreground&) = delete;

   private:
    LaunchAhead* ahead_;
    Kind kind_;
  };

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  size_t ready() const;

 private:
  void fill();
  // Under mutex_: waits until the daemon is quiet (Foreground) or max_deferral_ has passed.
  void waitForQuiet(std::unique_lock<std::mutex>& lock);
  void foregroundEnded(Foreground::Kind kind);

  const uint32_t slots_;
  Launch launch_;
  Discard discard_;
  const std::chrono::milliseconds max_deferral_;
  const int nice_;
  const std::chrono::milliseconds settle_after_create_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<AheadInit> ready_;
  uint32_t launching_ = 0;
  uint32_t foreground_ = 0;  // creates and commands under way (Foreground)
  // Until then a refill waits for the first command of the sandbox a create just made.
  std::chrono::steady_clock::time_point settle_until_{};
  bool stopping_ = false;
  std::vector<std::thread> fillers_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace declaw::daemon
