// The Services methods for pause/resume and metrics, and the metrics history's sampler.
#include <algorithm>

#include "common/log.h"
#include "daemon/registry.h"

namespace declaw::daemon {

Result<api::SandboxInfo> Registry::pauseSandbox(const api::Caller& caller, const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  if (auto r = (*sbx)->pause(); !r) return r.error();
  clock_changed_.notify_all();
  saveRecord(**sbx);
  return (*sbx)->info();
}

Result<api::SandboxInfo> Registry::resumeSandbox(const api::Caller& caller, const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  if (auto r = (*sbx)->resume(); !r) return r.error();
  clock_changed_.notify_all();
  saveRecord(**sbx);
  return (*sbx)->info();
}

Result<api::SandboxInfo> Registry::updateNetwork(const api::Caller& caller, const std::string& id,
                                                 const api::NetworkUpdate& update) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  if (auto r = (*sbx)->updateNetwork(update); !r) return r.error();
  saveRecord(**sbx);
  return (*sbx)->info();
}

Result<api::SandboxMetrics> Registry::sandboxMetrics(const api::Caller& caller,
                                                     const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->metrics(caller.pid);
}

Result<std::vector<api::SandboxMetrics>> Registry::sandboxMetricsHistory(
    const api::Caller& caller, const std::string& id, const api::MetricsRange& range) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->metricsHistory(range);
}

// One thread for all sandboxes: each round copies the live list under the lock and reads each
// sandbox's cgroup files and disk outside it (docs/architecture.md, "Metrics history"). Rounds
// keep their pace from the start, so a slow round does not shift the ones after it.
void Registry::samplerLoop() {
  const auto interval = std::chrono::seconds(config_.metrics_history.interval_s);
  auto next = std::chrono::steady_clock::now() + interval;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (clock_changed_.wait_until(lock, next, [this] { return stopping_; })) break;
    std::vector<std::shared_ptr<Sandbox>> live;
    live.reserve(live_.size());
    for (auto& [id, sbx] : live_) live.push_back(sbx);
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    for (const auto& sbx : live) sbx->recordSample();
    const auto took = std::chrono::steady_clock::now() - started;
    if (took > interval) {
      logger("daemon")->warn(
          "metrics history: sampling {} sandboxes took {} ms, longer than "
          "the interval",
          live.size(), std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
    }
    next = std::max(next + interval, std::chrono::steady_clock::now());
    lock.lock();
  }
}

api::DaemonMetrics Registry::daemonMetrics() {
  api::DaemonMetrics m;
  counters_.snapshot(m);
  m.leftovers_cleaned = parts_.leftovers_cleaned;
  m.inits_forked = parts_.zygote ? parts_.zygote->forked() : 0;
  m.inits_execed = counters_.inits_execed + (parts_.zygote ? parts_.zygote->execed() : 0);
  if (ahead_) {
    m.launch_ahead_ready = ahead_->ready();
    m.launch_ahead_hits = ahead_->hits();
    m.skeletons_used = counters_.skeletons_used;
    m.skeletons_unused = counters_.skeletons_unused;
    m.launch_ahead_misses = ahead_->misses();
  }
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
