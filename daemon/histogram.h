// Lock-free latency histograms for GET /metrics, and the phases of a sandbox create they time.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "api/services.h"

namespace declaw::daemon {

// Fixed buckets from 0.5 ms to 60 s: enough resolution where creates and execs live (1-50 ms)
// and a ceiling for the slow ones. record() from any thread.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kBounds = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60};

  void record(double seconds) {
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (seconds <= kBounds[i]) ++buckets_[i];
    }
    ++count_;
    micros_ += static_cast<uint64_t>(seconds * 1e6);
  }

  api::Histogram snapshot() const {
    api::Histogram h;
    h.bounds.assign(kBounds.begin(), kBounds.end());
    for (const auto& bucket : buckets_) h.counts.push_back(bucket);
    h.count = count_;
    h.sum = static_cast<double>(micros_.load()) / 1e6;
    return h;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};  // cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> micros_{0};
};

// Where the time of POST /v1/sandboxes goes (docs/performance.md says in which order they run).
enum class CreatePhase : size_t {
  kTemplate,        // resolve the template, pin its layers
  kStateRecord,     // write the state record (before anything exists to find)
  kCgroup,          // create the cgroup and set its limits
  kNetworkReserve,  // addresses from the pool
  kLaunch,          // clone init into new namespaces, write its id maps, join the cgroup
  kRootfs,          // the overlay root: disk, layers, mounts attached as fds
  kNetworkPlug,     // veth, addresses, nft elements, DNS and proxy listeners
  kSetup,           // init: mounts, /etc files, hostname, seccomp; until it answers ready
  kPoolTake,        // a pooled create: take a ready sandbox, apply the create's settings
  kTotal,           // the whole create in the daemon (the rest of a client's wait is HTTP)
  kCount,
};

inline constexpr std::array<const char*, static_cast<size_t>(CreatePhase::kCount)>
    kCreatePhaseNames = {"template", "state_record", "cgroup", "network_reserve", "launch",
                         "rootfs",   "network_plug", "setup",  "pool_take",       "total"};

// Times the phases of one create: mark(phase) ends the phase that ran since the previous mark.
class PhaseClock {
 public:
  using Clock = std::chrono::steady_clock;
  PhaseClock() : last_(Clock::now()), first_(last_) {}
  // The time since the last mark, as `phase`'s; a phase marked twice (run in two parts) gets
  // both spans.
  void mark(CreatePhase phase) {
    const auto now = Clock::now();
    double& seconds = seconds_[static_cast<size_t>(phase)];
    seconds = std::max(seconds, 0.0) + std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }
  // The whole span, as kTotal.
  void finish() {
    seconds_[static_cast<size_t>(CreatePhase::kTotal)] =
        std::chrono::duration<double>(Clock::now() - first_).count();
  }
  // Negative: the phase did not run (no cgroups, no network).
  double seconds(CreatePhase phase) const { return seconds_[static_cast<size_t>(phase)]; }

 private:
  Clock::time_point last_;
  Clock::time_point first_;
  std::array<double, static_cast<size_t>(CreatePhase::kCount)> seconds_ = filled(-1);
  static constexpr std::array<double, static_cast<size_t>(CreatePhase::kCount)> filled(double v) {
    std::array<double, static_cast<size_t>(CreatePhase::kCount)> a{};
    a.fill(v);
    return a;
  }
};

}  // namespace declaw::daemon
