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
};

class ProcessTable {
 public:
  explicit ProcessTable(ProcessLimits limits) : limits_(limits) {}

  // Starts a process and remembers it. EDQUOT when max_running run already.
  Result<std::shared_ptr<Process>> start(std::shared_ptr<runtime::InitClient> init,
                                         ProcessPlan plan);
  // ENOENT for a pid not started here or already forgotten.
  Result<std::shared_ptr<Process>> find(int pid);
  // Oldest first.
  std::vector<api::ProcessInfo> list();
  // Init reported the exit of `pid`, or (pid 0) init is gone: wake the pumps concerned. Quick,
  // lock-order safe from InitClient's reader thread (see InitClient::onExit).
  void notify(int pid);
  // Forgets every process (their pumps stop; readers keep what they hold).
  void clear();

 private:
  // Drops finished processes beyond max_finished, oldest first; returns them so that they are
  // destroyed (their pumps joined) outside the lock.
  std::vector<std::shared_ptr<Process>> evictLocked();

  ProcessLimits limits_;
  std::mutex mutex_;
  std::map<int, std::shared_ptr<Process>> by_pid_;
  std::deque<int> order_;  // pids in start order
  // Serialises starts, so the running count cannot overshoot between check and insert.
  std::mutex start_mutex_;
};

}  // namespace declaw::daemon
