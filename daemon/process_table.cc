#include "daemon/process_table.h"

#include <algorithm>

namespace declaw::daemon {

Result<std::shared_ptr<Process>> ProcessTable::start(std::shared_ptr<runtime::InitClient> init,
                                                     ProcessPlan plan) {
  std::lock_guard start_lock(start_mutex_);
  std::vector<std::shared_ptr<Process>> evicted;
  const uint64_t room_needed =
      plan.keep == OutputBuffer::Keep::kHead ? 0 : 2 * plan.buffer_bytes;  // as bufferReservation
  {
    std::lock_guard lock(mutex_);
    evicted = evictLocked(room_needed);
    size_t running = std::count_if(by_pid_.begin(), by_pid_.end(),
                                   [](const auto& entry) { return !entry.second->finished(); });
    if (running >= limits_.max_running) {
      return ErrnoError(EDQUOT) << "the sandbox runs " << running
                                << " processes started through the API (max_processes)";
    }
    if (reservedLocked() + room_needed > limits_.max_buffered_bytes) {
      return ErrnoError(EDQUOT) << "the output buffers of this sandbox's processes are full "
                                << "(max_buffered_output_bytes): kill processes or wait";
    }
  }
  evicted.clear();
  auto process = Process::start(std::move(init), std::move(plan));
  if (!process) return process.error();
  std::shared_ptr<Process> replaced;
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      // The sandbox was killed while this one started: init is dead, and so is the process.
      return ErrnoError(ESRCH) << "the sandbox ended while the process started";
    }
    int pid = (*process)->pid();
    // A pid the sandbox reused: the old record goes.
    if (auto it = by_pid_.find(pid); it != by_pid_.end()) {
      replaced = std::move(it->second);
      order_.erase(std::find(order_.begin(), order_.end(), pid));
    }
    by_pid_[pid] = *process;
    order_.push_back(pid);
  }
  // An exit reported before the process was in the table woke nobody: look now.
  (*process)->wake();
  return process;
}

void ProcessTable::adopt(const std::shared_ptr<Process>& process) {
  {
    std::lock_guard lock(mutex_);
    const int pid = process->pid();
    if (by_pid_.contains(pid)) return;
    by_pid_[pid] = process;
    order_.push_back(pid);
  }
  process->wake();
}

Result<std::shared_ptr<Process>> ProcessTable::find(int pid) {
  std::lock_guard lock(mutex_);
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return ErrnoError(ENOENT) << "process " << pid << " not found";
  return it->second;
}

std::vector<api::ProcessInfo> ProcessTable::list() {
  std::vector<std::shared_ptr<Process>> processes;
  {
    std::lock_guard lock(mutex_);
    for (int pid : order_) processes.push_back(by_pid_.at(pid));
  }
  std::vector<api::ProcessInfo> out;
  out.reserve(processes.size());
  for (const auto& p : processes) out.push_back(p->info());
  return out;
}

void ProcessTable::notify(int pid) {
  std::lock_guard lock(mutex_);
  if (pid == 0) {
    for (auto& [_, process] : by_pid_) process->wake();
    return;
  }
  if (auto it = by_pid_.find(pid); it != by_pid_.end()) it->second->wake();
}

void ProcessTable::pauseClocks() {
  std::lock_guard lock(mutex_);
  for (auto& [_, process] : by_pid_) process->pauseClock();
}

void ProcessTable::resumeClocks() {
  std::lock_guard lock(mutex_);
  for (auto& [_, process] : by_pid_) process->resumeClock();
}

void ProcessTable::close() {
  std::map<int, std::shared_ptr<Process>> processes;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& [_, process] : by_pid_) process->wake();
    processes.swap(by_pid_);
    order_.clear();
  }
  // Destroyed here, outside the lock: each joins its pump.
}

uint64_t ProcessTable::reservedLocked() const {
  uint64_t total = 0;
  for (const auto& [_, process] : by_pid_) total += process->bufferReservation();
  return total;
}

std::vector<std::shared_ptr<Process>> ProcessTable::evictLocked(uint64_t room_needed) {
  std::vector<std::shared_ptr<Process>> evicted;
  size_t finished = std::count_if(by_pid_.begin(), by_pid_.end(),
                                  [](const auto& entry) { return entry.second->finished(); });
  uint64_t reserved = reservedLocked();
  auto overBudget = [&] { return reserved + room_needed > limits_.max_buffered_bytes; };
  for (auto it = order_.begin();
       it != order_.end() && (finished > limits_.max_finished || overBudget());) {
    auto found = by_pid_.find(*it);
    if (!found->second->finished()) {
      ++it;
      continue;
    }
    reserved -= found->second->bufferReservation();
    evicted.push_back(std::move(found->second));
    by_pid_.erase(found);
    it = order_.erase(it);
    --finished;
  }
  return evicted;
}

}  // namespace declaw::daemon
