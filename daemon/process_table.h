// The API processes of one sandbox, by pid: running ones and the most recently finished ones.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "api/services.h"
#include "common/result.h"
#include "daemon/process.h"

namespace declaw::daemon {

struct ProcessLimits {
  uint32_t max_running = 128;
  uint32_t max_finished = 64;
  // The output buffers of all processes of the sandbox, running and remembered, at their
  // largest: starting one more evicts finished processes, oldest first, to make room, and is
  // refused (EDQUOT) when that is not enough.
  uint64_t max_buffered_bytes = 256ull << 20;
};

class ProcessTable {
 public:
  explicit ProcessTable(ProcessLimits limits) : limits_(limits) {}

  // Starts a process and remembers it. EDQUOT when max_running run already.
  Result<std::shared_ptr<Process>> start(std::shared_ptr<runtime::InitClient> init,
                                         ProcessPlan plan);
  // Takes in a process a held init handed over (live restore); no limits apply (it runs).
  void adopt(const std::shared_ptr<Process>& process);
  // ENOENT for a pid not started here or already forgotten.
  Result<std::shared_ptr<Process>> find(int pid);
  // Oldest first.
  std::vector<api::ProcessInfo> list();
  // Init reported the exit of `pid`, or (pid 0) init is gone: wake the pumps concerned. Quick,
  // lock-order safe from InitClient's reader thread (see InitClient::onExit).
  void notify(int pid);
  // The sandbox was paused / resumed: command timeouts stand still meanwhile.
  void pauseClocks();
  void resumeClocks();
  // The sandbox is gone: wakes every pump, forgets every process (readers keep what they
  // hold), and refuses to keep any process started from now on.
  void close();

 private:
  // Drops finished processes beyond max_finished, oldest first; returns them so that they are
  // destroyed (their pumps joined) outside the lock.
  std::vector<std::shared_ptr<Process>> evictLocked(uint64_t room_needed);

  uint64_t reservedLocked() const;

  ProcessLimits limits_;
  std::mutex mutex_;
  std::map<int, std::shared_ptr<Process>> by_pid_;
  std::deque<int> order_;  // pids in start order
  bool closed_ = false;
  // Serialises starts, so the running count cannot overshoot between check and insert.
  std::mutex start_mutex_;
};

}  // namespace declaw::daemon
