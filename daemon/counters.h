// The daemon's counters for GET /metrics: lock-free increments from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "api/services.h"
#include "daemon/histogram.h"

namespace declaw::daemon {

class DaemonCounters {
 public:
  // Upper bounds of the command-duration histogram buckets, in seconds.
  static constexpr std::array<double, 12> kCommandBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5,   1,    2.5,   5,    10,  60};

  std::atomic<uint64_t> creates{0};
  std::atomic<uint64_t> create_failures{0};
  std::atomic<uint64_t> kills{0};
  std::atomic<uint64_t> inits_execed{0};  // without a zygote (the zygote counts its own)
  // Creates that took an init launched ahead with a skeleton (skeleton.h): used, or not (an
  // image, a snapshot, a host file changed since, a disk that would not shrink).
  std::atomic<uint64_t> skeletons_used{0};
  std::atomic<uint64_t> skeletons_unused{0};

  void recordCommand(double seconds) {
    for (size_t i = 0; i < kCommandBounds.size(); ++i) {
      if (seconds <= kCommandBounds[i]) ++command_buckets_[i];
    }
    ++commands_;
    command_micros_ += static_cast<uint64_t>(seconds * 1e6);
  }

  // The phases of a create that went through (a phase that did not run is left out).
  void recordCreate(const PhaseClock& phases) {
    for (size_t i = 0; i < create_phases_.size(); ++i) {
      const double s = phases.seconds(static_cast<CreatePhase>(i));
      if (s >= 0) create_phases_[i].record(s);
    }
  }

  // From a process's spawn request to its exec (or its failure).
  void recordExec(double seconds) { exec_.record(seconds); }

  void recordResponse(int status) {
    if (status >= 100 && status < 600) ++responses_[static_cast<size_t>(status - 100)];
  }

  // Fills the counter fields of `out` (sandboxes_by_state is the registry's).
  void snapshot(api::DaemonMetrics& out) const {
    out.creates = creates;
    out.create_failures = create_failures;
    out.kills = kills;
    out.commands = commands_;
    out.command_seconds_sum = static_cast<double>(command_micros_.load()) / 1e6;
    out.command_seconds_bounds.assign(kCommandBounds.begin(), kCommandBounds.end());
    out.command_seconds_counts.clear();
    for (const auto& bucket : command_buckets_) out.command_seconds_counts.push_back(bucket);
    out.create_phase_seconds.clear();
    for (size_t i = 0; i < create_phases_.size(); ++i) {
      out.create_phase_seconds.emplace_back(kCreatePhaseNames[i], create_phases_[i].snapshot());
    }
    out.exec_seconds = exec_.snapshot();
    for (size_t i = 0; i < responses_.size(); ++i) {
      if (uint64_t n = responses_[i]) out.responses_by_status[static_cast<int>(i + 100)] = n;
    }
  }

 private:
  std::array<std::atomic<uint64_t>, kCommandBounds.size()> command_buckets_{};
  std::atomic<uint64_t> commands_{0};
  std::atomic<uint64_t> command_micros_{0};
  std::array<std::atomic<uint64_t>, 500> responses_{};
  std::array<LatencyHistogram, static_cast<size_t>(CreatePhase::kCount)> create_phases_{};
  LatencyHistogram exec_;
};

}  // namespace declaw::daemon
