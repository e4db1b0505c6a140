// The pump's decisions (daemon/pump_step.h): when a process counts as finished, when its timeout
// kills it, when the pump stops, how long it sleeps, and what happens to its stdin. No process:
// each test builds the view a pass would see.
#include <catch2/catch.hpp>

#include "daemon/pump_step.h"

using namespace declaw::daemon;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const PumpClock::time_point kStart{seconds(1000)};

// A process that runs, with its pipes open, init alive and no timeout.
PumpView running(milliseconds elapsed = milliseconds(0)) {
  PumpView view;
  view.now = kStart + elapsed;
  return view;
}

PumpView exited(milliseconds exit_at, milliseconds elapsed) {
  PumpView view = running(elapsed);
  view.exit_reported = true;
  view.drain_until = kStart + exit_at + kDrainAfterExit;
  return view;
}

}  // namespace

TEST_CASE("a running process without a timeout makes the pump sleep until something happens") {
  PumpView view = running();
  PumpStep step = decidePumpStep(view);
  CHECK(step.finish == PumpFinish::kNotYet);
  CHECK_FALSE(step.stop);
  CHECK_FALSE(step.kill);
  CHECK_FALSE(nextPumpDeadline(view));
  CHECK(pollTimeoutMs(nextPumpDeadline(view), view.now) == -1);
}

TEST_CASE("after the exit, output is drained until its pipes close or the drain time is up") {
  SECTION("pipes still open, within the drain time: not finished, wake at the drain's end") {
    PumpView view = exited(milliseconds(0), milliseconds(50));
    CHECK(decidePumpStep(view).finish == PumpFinish::kNotYet);
    CHECK(nextPumpDeadline(view) == view.drain_until);
    CHECK(pollTimeoutMs(nextPumpDeadline(view), view.now) == 151);
  }
  SECTION("pipes closed: finished at once, and nothing is left to pump") {
    PumpView view = exited(milliseconds(0), milliseconds(0));
    view.outputs_open = false;
    PumpStep step = decidePumpStep(view);
    CHECK(step.finish == PumpFinish::kExited);
    CHECK(step.stop);
  }
  SECTION("drain time up with a pipe still open: finished, but a child may still write") {
    PumpView view = exited(milliseconds(0), kDrainAfterExit);
    PumpStep step = decidePumpStep(view);
    CHECK(step.finish == PumpFinish::kExited);
    CHECK_FALSE(step.stop);  // read on, so that the child does not die of SIGPIPE
  }
}

TEST_CASE("a finished process is pumped until its pipes close or the sandbox ends") {
  PumpView view = running(seconds(10));
  view.finished = true;
  CHECK(decidePumpStep(view).finish == PumpFinish::kNotYet);  // decided once only
  CHECK_FALSE(decidePumpStep(view).stop);
  CHECK_FALSE(nextPumpDeadline(view));  // no deadline is left to wake for
  view.outputs_open = false;
  CHECK(decidePumpStep(view).stop);
  view.outputs_open = true;
  view.init_alive = false;
  CHECK(decidePumpStep(view).stop);
}

TEST_CASE("a process whose sandbox ends before init reports its exit finishes without one") {
  PumpView view = running(seconds(1));
  view.init_alive = false;
  PumpStep step = decidePumpStep(view);
  CHECK(step.finish == PumpFinish::kSandboxEnded);
  CHECK(step.stop);
  SECTION("but an exit init reported before it went counts as an exit") {
    view.exit_reported = true;
    view.drain_until = view.now + kDrainAfterExit;
    view.outputs_open = false;
    CHECK(decidePumpStep(view).finish == PumpFinish::kExited);
  }
}

TEST_CASE("the command timeout kills the process once, then waits a while for its exit") {
  PumpView view = running(seconds(9));
  view.timeout_at = kStart + seconds(10);
  CHECK_FALSE(decidePumpStep(view).kill);
  CHECK(nextPumpDeadline(view) == view.timeout_at);
  CHECK(pollTimeoutMs(nextPumpDeadline(view), view.now) == 1001);

  view.now = kStart + seconds(10);
  PumpStep step = decidePumpStep(view);
  CHECK(step.kill);
  CHECK(step.finish == PumpFinish::kNotYet);

  // The pump killed it: from now on the kill deadline counts, not the timeout.
  view.kill_deadline = view.now + kExitAfterKill;
  CHECK(nextPumpDeadline(view) == view.kill_deadline);
  view.now += seconds(1);
  CHECK_FALSE(decidePumpStep(view).kill);

  SECTION("init reports the exit: an exit like any other") {
    view.exit_reported = true;
    view.drain_until = view.now + kDrainAfterExit;
    CHECK(nextPumpDeadline(view) == view.drain_until);  // the earlier deadline
    view.outputs_open = false;
    CHECK(decidePumpStep(view).finish == PumpFinish::kExited);
  }
  SECTION("init never reports it: finished at the kill deadline, without an exit") {
    view.now = *view.kill_deadline;
    PumpStep late = decidePumpStep(view);
    CHECK(late.finish == PumpFinish::kKillUnanswered);
    CHECK_FALSE(late.stop);  // its pipes are still open
    CHECK_FALSE(late.kill);
  }
}

TEST_CASE("a process that exits just as its timeout passes is not killed") {
  PumpView view = exited(milliseconds(9990), seconds(10));
  view.timeout_at = kStart + seconds(10);
  view.outputs_open = false;
  PumpStep step = decidePumpStep(view);
  CHECK(step.finish == PumpFinish::kExited);
  CHECK_FALSE(step.kill);
}

TEST_CASE("while the sandbox is paused the timeout neither kills nor wakes the pump") {
  PumpView view = running(seconds(3600));
  view.timeout_at = std::nullopt;  // the pump leaves it out while the clock stands
  CHECK_FALSE(decidePumpStep(view).kill);
  CHECK_FALSE(nextPumpDeadline(view));
}

TEST_CASE("a poll never sleeps past a deadline, never negative, and at most a minute") {
  const auto now = kStart;
  CHECK(pollTimeoutMs(now + milliseconds(250), now) == 251);
  CHECK(pollTimeoutMs(now + std::chrono::microseconds(1500), now) == 2);
  CHECK(pollTimeoutMs(now, now) == 1);
  CHECK(pollTimeoutMs(now - seconds(5), now) == 0);  // overdue: look at once
  CHECK(pollTimeoutMs(now + std::chrono::hours(24 * 365), now) == kMaxPollWait.count());
}

TEST_CASE("stdin is written while bytes are queued, and closed once they are all written") {
  StdinView view{.pipe_open = true, .unsent = 10, .close_requested = true, .finished = false};
  StdinStep step = decideStdinStep(view);
  CHECK(step.write);
  CHECK_FALSE(step.close_pipe);  // the queue goes first

  view.unsent = 0;
  step = decideStdinStep(view);
  CHECK_FALSE(step.write);
  CHECK(step.close_pipe);

  view.close_requested = false;
  CHECK_FALSE(decideStdinStep(view).close_pipe);  // kept open for more
}

TEST_CASE("a finished process's stdin pipe is closed and what is queued is dropped") {
  StdinStep step = decideStdinStep(
      {.pipe_open = true, .unsent = 10, .close_requested = false, .finished = true});
  CHECK(step.close_pipe);
  CHECK_FALSE(step.write);
}

TEST_CASE("a terminal's input has no pipe to close: queued input is written to the master") {
  StdinStep step = decideStdinStep(
      {.pipe_open = false, .unsent = 3, .close_requested = false, .finished = false});
  CHECK(step.write);
  CHECK_FALSE(step.close_pipe);
  CHECK_FALSE(
      decideStdinStep({.pipe_open = false, .unsent = 0, .close_requested = false, .finished = true})
          .close_pipe);
}
