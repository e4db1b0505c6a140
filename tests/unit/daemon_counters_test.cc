// The daemon's latency histograms, create phase clock and host facts cache, without a daemon.
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "daemon/counters.h"
#include "daemon/histogram.h"
#include "daemon/host_facts_cache.h"

using namespace declaw::daemon;

TEST_CASE("a latency histogram counts cumulatively per bound and sums") {
  LatencyHistogram h;
  h.record(0.0004);
  h.record(0.003);
  h.record(100);  // above every bound: only in +Inf
  const auto snap = h.snapshot();
  REQUIRE(snap.bounds.size() == LatencyHistogram::kBounds.size());
  CHECK(snap.counts.front() == 1);  // <= 0.5 ms
  CHECK(snap.counts[3] == 2);       // <= 5 ms
  CHECK(snap.counts.back() == 2);   // <= 60 s
  CHECK(snap.count == 3);
  CHECK(snap.sum == Approx(100.0034));
}

TEST_CASE("a phase clock gives each phase the time since the previous mark") {
  PhaseClock clock;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  clock.mark(CreatePhase::kTemplate);
  clock.mark(CreatePhase::kLaunch);
  clock.finish();
  CHECK(clock.seconds(CreatePhase::kTemplate) >= 0.02);
  CHECK(clock.seconds(CreatePhase::kLaunch) >= 0);
  CHECK(clock.seconds(CreatePhase::kTotal) >= clock.seconds(CreatePhase::kTemplate));
  CHECK(clock.seconds(CreatePhase::kCgroup) < 0);  // never marked: did not run
}

TEST_CASE("the counters record only the phases a create went through, by name") {
  DaemonCounters counters;
  PhaseClock clock;
  clock.mark(CreatePhase::kTemplate);
  clock.mark(CreatePhase::kLaunch);
  clock.finish();
  counters.recordCreate(clock);
  counters.recordExec(0.004);
  declaw::api::DaemonMetrics m;
  counters.snapshot(m);
  REQUIRE(m.create_phase_seconds.size() == kCreatePhaseNames.size());
  for (const auto& [name, h] : m.create_phase_seconds) {
    INFO(name);
    const bool ran = name == "template" || name == "launch" || name == "total";
    CHECK(h.count == (ran ? 1u : 0u));
  }
  CHECK(m.exec_seconds.count == 1);
}

TEST_CASE("the host facts are probed once, and again when the watched dir changes") {
  char dir[] = "/tmp/declaw-facts-test.XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  HostFactsCache cache(dir);
  auto first = cache.current();
  REQUIRE(first);
  CHECK(first->at("/usr").kind == declaw::runtime::HostKind::kDirectory);  // what init would see
  CHECK_FALSE(first->namesIn("/etc").empty());
  CHECK(cache.current() == first);  // nothing changed: the same probe
  CHECK(cache.probes() == 1);
  const std::string entry = std::string(dir) + "/new";
  REQUIRE(::mkdir(entry.c_str(), 0755) == 0);
  // The kernel stamps directory times from a coarse clock: a change in the same tick as the
  // probe can keep them. Move the mtime on explicitly, as any later change would.
  const timespec times[2] = {{0, UTIME_OMIT}, {1, 0}};
  REQUIRE(::utimensat(AT_FDCWD, dir, times, 0) == 0);
  auto second = cache.current();
  CHECK(cache.probes() == 2);  // probed again ...
  CHECK(second == first);      // ... and the host's facts did not change: the same object
  CHECK(cache.current() == second);
  CHECK(cache.probes() == 2);
  ::rmdir(entry.c_str());
  ::rmdir(dir);
}
