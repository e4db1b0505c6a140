// The Services methods for pause/resume and metrics.
#include "daemon/registry.h"

namespace declaw::daemon {

Result<api::SandboxInfo> Registry::pauseSandbox(const api::Caller& caller, const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  if (auto r = (*sbx)->pause(); !r) return r.error();
  clock_changed_.notify_all();
  return (*sbx)->info();
}

Result<api::SandboxInfo> Registry::resumeSandbox(const api::Caller& caller, const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  if (auto r = (*sbx)->resume(); !r) return r.error();
  clock_changed_.notify_all();
  return (*sbx)->info();
}

Result<api::SandboxInfo> Registry::updateNetwork(const api::Caller& caller, const std::string& id,
                                                 const api::NetworkUpdate& update) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  if (auto r = (*sbx)->updateNetwork(update); !r) return r.error();
  return (*sbx)->info();
}

Result<api::SandboxMetrics> Registry::sandboxMetrics(const api::Caller& caller,
                                                     const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->metrics(caller.pid);
}

api::DaemonMetrics Registry::daemonMetrics() {
  api::DaemonMetrics m;
  counters_.snapshot(m);
  m.leftovers_cleaned = parts_.leftovers_cleaned;
  std::vector<std::shared_ptr<Sandbox>> live;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, sbx] : live_) live.push_back(sbx);
  }
  for (const auto& sbx : live) ++m.sandboxes_by_state[sbx->paused() ? "paused" : "running"];
  if (pool_) {
    m.pool = pool_->stats();
    m.pool_refill_seconds = pool_->refillSeconds();
  }
  return m;
}

void Registry::countResponse(int status) { counters_.recordResponse(status); }

}  // namespace declaw::daemon
