#include "daemon/metrics_history.h"

#include <chrono>

namespace declaw::daemon {

namespace {

using std::chrono::milliseconds;

int64_t unixMs(api::Clock::time_point time) {
  return std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
}

std::optional<uint64_t> net(uint64_t value) {
  if (value == UsageSample::kNoNet) return std::nullopt;
  return value;
}

}  // namespace

void MetricsHistory::record(const api::SandboxMetrics& m) {
  UsageSample sample;
  sample.unix_ms = unixMs(m.timestamp);
  sample.cpu_usage_ns = m.cpu_usage_ns;
  sample.memory_used = m.memory_used;
  sample.disk_used = m.disk_used;
  sample.net_rx_bytes = m.net_rx_bytes.value_or(UsageSample::kNoNet);
  sample.net_tx_bytes = m.net_tx_bytes.value_or(UsageSample::kNoNet);
  sample.pids = static_cast<uint32_t>(m.pids);
  sample.oom_kills = static_cast<uint32_t>(m.oom_kills);
  std::lock_guard lock(mutex_);
  if (last_) {
    const int64_t elapsed_ms = sample.unix_ms - last_->unix_ms;
    sample.cpu_cores_used =
        elapsed_ms > 0 && sample.cpu_usage_ns >= last_->cpu_usage_ns
            ? static_cast<float>(static_cast<double>(sample.cpu_usage_ns - last_->cpu_usage_ns) /
                                 1e6 / static_cast<double>(elapsed_ms))
            : 0.0F;
  }
  limits_ = {m.cpu_limit_cores, m.memory_limit, m.pids_limit, m.disk_limit};
  ring_.push(sample);
  last_ = sample;
}

void MetricsHistory::clear() {
  std::lock_guard lock(mutex_);
  ring_.clear();
  last_.reset();
}

size_t MetricsHistory::size() const {
  std::lock_guard lock(mutex_);
  return ring_.size();
}

std::vector<api::SandboxMetrics> MetricsHistory::between(const api::MetricsRange& range) const {
  const int64_t from = range.start ? unixMs(*range.start) : INT64_MIN;
  const int64_t to = range.end ? unixMs(*range.end) : INT64_MAX;
  std::vector<api::SandboxMetrics> out;
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < ring_.size(); ++i) {
    const UsageSample& s = ring_.at(i);
    if (s.unix_ms < from || s.unix_ms > to) continue;
    api::SandboxMetrics m;
    m.timestamp = api::Clock::time_point(milliseconds(s.unix_ms));
    m.cpu_cores_used = s.cpu_cores_used;
    m.cpu_limit_cores = limits_.cpu_limit_cores;
    m.cpu_usage_ns = s.cpu_usage_ns;
    m.memory_used = s.memory_used;
    m.memory_limit = limits_.memory_limit;
    m.pids = s.pids;
    m.pids_limit = limits_.pids_limit;
    m.disk_used = s.disk_used;
    m.disk_limit = limits_.disk_limit;
    m.oom_kills = s.oom_kills;
    m.net_rx_bytes = net(s.net_rx_bytes);
    m.net_tx_bytes = net(s.net_tx_bytes);
    out.push_back(m);
  }
  return out;
}

}  // namespace declaw::daemon
