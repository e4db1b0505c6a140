// A sandbox's metrics history (GET .../metrics/history): a bounded ring of compact samples,
// taken by the registry's sampler (docs/architecture.md, "Metrics history"). Pure: unit-tested
// without a sandbox.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "api/services.h"

namespace declaw::daemon {

// The most recent `capacity` values, oldest first. Storage grows with use up to capacity, so a
// short-lived sandbox never pays for an hour of samples.
template <typename T>
class Ring {
 public:
  explicit Ring(size_t capacity) : capacity_(capacity) {}

  void push(T value) {
    if (capacity_ == 0) return;
    if (items_.size() < capacity_) {
      items_.push_back(std::move(value));
      return;
    }
    items_[head_] = std::move(value);
    head_ = (head_ + 1) % capacity_;
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }
  size_t size() const { return items_.size(); }
  size_t capacity() const { return capacity_; }
  // The i-th oldest value, i < size().
  const T& at(size_t i) const { return items_[(head_ + i) % items_.size()]; }

 private:
  size_t capacity_;
  size_t head_ = 0;  // the oldest value once full
  std::vector<T> items_;
};

// What one sample keeps (64 bytes): the values that change. The limits are the sandbox's own
// and go into the answer from MetricsHistory::Limits.
struct UsageSample {
  int64_t unix_ms = 0;       // wall clock when taken
  float cpu_cores_used = 0;  // the average since the sample before
  uint64_t cpu_usage_ns = 0;
  uint64_t memory_used = 0;
  uint64_t disk_used = 0;
  uint64_t net_rx_bytes = kNoNet;
  uint64_t net_tx_bytes = kNoNet;
  uint32_t pids = 0;
  uint32_t oom_kills = 0;
  static constexpr uint64_t kNoNet = UINT64_MAX;  // the sandbox has no interface
};

class MetricsHistory {
 public:
  // What stays the same between samples (a claim from the pool may change them, and clears).
  struct Limits {
    double cpu_limit_cores = 0;
    uint64_t memory_limit = 0;
    uint64_t pids_limit = 0;
    uint64_t disk_limit = 0;
  };

  explicit MetricsHistory(size_t capacity) : ring_(capacity) {}

  // Thread-safe: the sampler records while the API reads. A sample's cpu_cores_used is the
  // average since the previous sample; the first one's is 0 (it is taken at the create, while
  // init sets up, and the window is next to nothing; the setup's CPU counts in the next).
  void record(const api::SandboxMetrics& metrics);
  void clear();
  // The samples taken in `range`, oldest first.
  std::vector<api::SandboxMetrics> between(const api::MetricsRange& range) const;
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  Ring<UsageSample> ring_;
  std::optional<UsageSample> last_;  // the newest sample, also once the ring dropped it
  Limits limits_;
};

}  // namespace declaw::daemon
