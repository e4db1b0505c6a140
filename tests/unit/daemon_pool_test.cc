// The warm pool's pure decisions: which template the filler builds next, and how long it waits
// after a failed build.
#include <catch2/catch.hpp>

#include "daemon/warm_pool.h"

using namespace declaw::daemon;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST_CASE("the filler builds for the first template short of its target") {
  const auto now = Clock::now();
  std::optional<Clock::time_point> wake;
  CHECK(nextToFill({{2, 2, {}}, {4, 4, {}}}, now, &wake) == std::nullopt);
  CHECK_FALSE(wake);
  CHECK(nextToFill({{2, 2, {}}, {4, 1, {}}}, now, &wake) == std::optional<size_t>(1));
  CHECK(nextToFill({{2, 0, {}}, {4, 1, {}}}, now, &wake) == std::optional<size_t>(0));
  CHECK(nextToFill({}, now, &wake) == std::nullopt);
}

TEST_CASE("a template in backoff waits, and the filler learns when to look again") {
  const auto now = Clock::now();
  const auto soon = now + milliseconds(250);
  const auto later = now + milliseconds(900);
  std::optional<Clock::time_point> wake;
  CHECK(nextToFill({{2, 0, later}, {1, 0, soon}}, now, &wake) == std::nullopt);
  REQUIRE(wake);
  CHECK(*wake == soon);
  wake.reset();
  // Another template that is not waiting is built meanwhile.
  CHECK(nextToFill({{2, 0, later}, {1, 0, {}}}, now, &wake) == std::optional<size_t>(1));
  CHECK(*wake == later);
  // Once the backoff has passed, it is built again.
  CHECK(nextToFill({{2, 0, later}}, later, nullptr) == std::optional<size_t>(0));
}

TEST_CASE("the backoff after failed builds doubles from 250 ms up to 30 s") {
  CHECK(refillBackoff(0) == milliseconds(0));
  CHECK(refillBackoff(1) == milliseconds(250));
  CHECK(refillBackoff(2) == milliseconds(500));
  CHECK(refillBackoff(5) == milliseconds(4000));
  CHECK(refillBackoff(8) == milliseconds(30000));
  CHECK(refillBackoff(1000000) == milliseconds(30000));
}
