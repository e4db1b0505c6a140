// The metrics history's ring and samples (daemon/metrics_history.h).
#include <catch2/catch.hpp>

#include "daemon/metrics_history.h"

namespace declaw::daemon {
namespace {

using std::chrono::seconds;

api::SandboxMetrics readingAt(int64_t unix_s, uint64_t cpu_usage_ns) {
  api::SandboxMetrics m;
  m.timestamp = api::Clock::time_point(seconds(unix_s));
  m.cpu_usage_ns = cpu_usage_ns;
  m.cpu_limit_cores = 2;
  m.memory_used = static_cast<uint64_t>(unix_s) * 1000;
  m.memory_limit = 1 << 20;
  m.pids = 3;
  m.pids_limit = 64;
  m.disk_limit = 1 << 30;
  return m;
}

std::vector<int64_t> timesOf(const std::vector<api::SandboxMetrics>& samples) {
  std::vector<int64_t> out;
  out.reserve(samples.size());
  for (const auto& m : samples) {
    out.push_back(std::chrono::duration_cast<seconds>(m.timestamp.time_since_epoch()).count());
  }
  return out;
}

TEST_CASE("a ring keeps the newest values up to its capacity, oldest first", "[daemon][history]") {
  Ring<int> ring(3);
  CHECK(ring.size() == 0);
  for (int i = 1; i <= 2; ++i) ring.push(i);
  CHECK(ring.size() == 2);
  CHECK(ring.at(0) == 1);
  for (int i = 3; i <= 7; ++i) ring.push(i);
  REQUIRE(ring.size() == 3);
  CHECK(ring.at(0) == 5);
  CHECK(ring.at(1) == 6);
  CHECK(ring.at(2) == 7);
  ring.clear();
  CHECK(ring.size() == 0);
  ring.push(8);
  CHECK(ring.at(0) == 8);
}

TEST_CASE("a ring of capacity 0 keeps nothing", "[daemon][history]") {
  Ring<int> ring(0);
  ring.push(1);
  CHECK(ring.size() == 0);
}

TEST_CASE("a sample is small, so an hour of them per sandbox stays cheap", "[daemon][history]") {
  CHECK(sizeof(UsageSample) <= 64);
}

TEST_CASE("the history keeps the last capacity samples and answers a time range",
          "[daemon][history]") {
  MetricsHistory history(720);
  for (int64_t t = 0; t < 800 * 5; t += 5) history.record(readingAt(1000 + t, 0));
  CHECK(history.size() == 720);
  const auto all = history.between({});
  REQUIRE(all.size() == 720);
  CHECK(timesOf(all).front() == 1000 + 80 * 5);
  CHECK(timesOf(all).back() == 1000 + 799 * 5);
  api::MetricsRange range;
  range.start = api::Clock::time_point(seconds(1000 + 790 * 5));
  range.end = api::Clock::time_point(seconds(1000 + 792 * 5));
  CHECK(timesOf(history.between(range)) ==
        std::vector<int64_t>{1000 + 790 * 5, 1000 + 791 * 5, 1000 + 792 * 5});
  range.start = api::Clock::time_point(seconds(0));
  range.end = api::Clock::time_point(seconds(999));
  CHECK(history.between(range).empty());
}

TEST_CASE("each sample's CPU use is the average since the one before", "[daemon][history]") {
  MetricsHistory history(10);
  history.record(readingAt(100, 1'000'000'000));
  history.record(readingAt(105, 6'000'000'000));  // 5 s of CPU in 5 s: one core
  history.record(readingAt(110, 6'000'000'000));  // idle
  const auto samples = history.between({});
  REQUIRE(samples.size() == 3);
  CHECK(samples[0].cpu_cores_used == 0);  // the first has no window
  CHECK(samples[1].cpu_cores_used == Approx(1.0));
  CHECK(samples[2].cpu_cores_used == Approx(0.0));
  CHECK(samples[1].memory_used == 105000);
  CHECK(samples[1].cpu_limit_cores == 2);
  CHECK(samples[1].memory_limit == 1 << 20);
  CHECK(samples[1].pids_limit == 64);
  CHECK_FALSE(samples[1].net_rx_bytes);
}

TEST_CASE("network counters are kept where the sandbox has an interface", "[daemon][history]") {
  MetricsHistory history(2);
  api::SandboxMetrics m = readingAt(1, 0);
  m.net_rx_bytes = 0;
  m.net_tx_bytes = 7;
  history.record(m);
  const auto samples = history.between({});
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].net_rx_bytes == 0u);
  CHECK(samples[0].net_tx_bytes == 7u);
}

}  // namespace
}  // namespace declaw::daemon
