// The Services methods for processes: find the caller's live sandbox, then its process.
#include "daemon/registry.h"

namespace declaw::daemon {

Result<std::shared_ptr<Process>> Registry::findProcess(const api::Caller& caller,
                                                       const std::string& id, int pid) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->process(pid);
}

Result<api::ProcessInfo> Registry::startProcess(const api::Caller& caller, const std::string& id,
                                                const api::ProcessSpec& spec) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  LaunchAhead::Foreground starting(ahead_.get(), LaunchAhead::Foreground::Kind::kCommand);
  auto process = (*sbx)->startProcess(spec);
  if (!process) return process.error();
  return (*process)->info();
}

Result<std::vector<api::ProcessInfo>> Registry::listProcesses(const api::Caller& caller,
                                                              const std::string& id) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->processes();
}

Result<api::ProcessInfo> Registry::getProcess(const api::Caller& caller, const std::string& id,
                                              int pid) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  return (*process)->info();
}

Result<std::unique_ptr<api::ProcessWatch>> Registry::watchProcess(const api::Caller& caller,
                                                                  const std::string& id, int pid,
                                                                  bool follow) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  return (*process)->watch(follow);
}

Result<api::ProcessInfo> Registry::waitProcess(const api::Caller& caller, const std::string& id,
                                               int pid, std::chrono::milliseconds timeout) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  if (!(*process)->waitFinished(std::chrono::steady_clock::now() + timeout)) {
    return ErrnoError(ETIMEDOUT) << "process " << pid << " still runs";
  }
  return (*process)->info();
}

Result<void> Registry::signalProcess(const api::Caller& caller, const std::string& id, int pid,
                                     int signal) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  return (*process)->signal(signal);
}

Result<void> Registry::writeStdin(const api::Caller& caller, const std::string& id, int pid,
                                  std::string data) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  return (*process)->writeStdin(data);
}

Result<void> Registry::closeStdin(const api::Caller& caller, const std::string& id, int pid) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  return (*process)->closeStdin();
}

Result<void> Registry::resizePty(const api::Caller& caller, const std::string& id, int pid,
                                 uint16_t rows, uint16_t cols) {
  auto process = findProcess(caller, id, pid);
  if (!process) return process.error();
  return (*process)->resize(rows, cols);
}

}  // namespace declaw::daemon
