// What one pass of a process's pump does, decided apart from the pump's I/O (process_pump.cc):
// from the time, what init reported, the process's deadlines and the state of its pipes, whether
// the process has finished (and how), whether its timeout kills it now, whether the pump is done,
// and how long the next poll may sleep. No system calls, so the rules for exits, timeouts and
// kills are unit-tested without a process (tests/unit/daemon_pump_step_test.cc).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

namespace declaw::daemon {

using PumpClock = std::chrono::steady_clock;

// After the exit, how long to keep collecting output that is still in the pipes (or that a
// child the process left behind writes) before the process counts as finished.
inline constexpr std::chrono::milliseconds kDrainAfterExit{200};
// After a timeout kill, how long to wait for init to report the exit.
inline constexpr std::chrono::milliseconds kExitAfterKill{5000};
// The longest one poll sleeps. poll(2) takes an int of milliseconds, so a far deadline (a
// timeout of weeks) is approached in steps of this rather than overflowing.
inline constexpr std::chrono::milliseconds kMaxPollWait{60000};

// What the pump knows at the top of a pass.
struct PumpView {
  PumpClock::time_point now;
  bool finished = false;  // the pump has already declared the process finished
  // Init reported the exit; the pump then drains the pipes until drain_until.
  bool exit_reported = false;
  PumpClock::time_point drain_until;
  bool init_alive = true;
  bool outputs_open = true;  // a pipe (or the terminal) still delivers output
  // The command timeout; none without one, or while the sandbox is paused (its clock stands).
  std::optional<PumpClock::time_point> timeout_at;
  // Set once the timeout killed the process: by then init should have reported the exit.
  std::optional<PumpClock::time_point> kill_deadline;
};

enum class PumpFinish {
  kNotYet,
  kExited,         // init reported the exit and the output is drained
  kSandboxEnded,   // init is gone without reporting the exit
  kKillUnanswered  // killed for its timeout, but init never reported the exit
};

struct PumpStep {
  PumpFinish finish = PumpFinish::kNotYet;
  // Nothing is left to pump: the process has finished and its pipes are closed (or the sandbox
  // is gone, taking any child that still held them).
  bool stop = false;
  // The command timeout has passed: SIGKILL the process, then wait kExitAfterKill for its exit.
  bool kill = false;
};

PumpStep decidePumpStep(const PumpView& view);

// When the pump must look again even if nothing happens on its fds: the earliest of the
// deadlines that still matter; none once the process has finished. From the view as the step
// left it (finished, and the kill deadline of a kill it made).
std::optional<PumpClock::time_point> nextPumpDeadline(const PumpView& view);

// poll(2)'s timeout for sleeping from `now` until `deadline`: -1 without one; else whole
// milliseconds plus one, so the pump wakes after the deadline rather than just before it, and
// at most kMaxPollWait.
int pollTimeoutMs(std::optional<PumpClock::time_point> deadline, PumpClock::time_point now);

// The stdin side of a pass, from its buffer's state.
struct StdinView {
  // The stdin pipe's write end is still open. Never for a terminal: its input is the master,
  // which closes only with the terminal.
  bool pipe_open = false;
  size_t unsent = 0;  // queued bytes not yet written
  bool close_requested = false;
  bool finished = false;
};

struct StdinStep {
  bool write = false;       // poll for room and write what is queued
  bool close_pipe = false;  // close the pipe (the process reads EOF) and drop the queue
};

StdinStep decideStdinStep(const StdinView& view);

}  // namespace declaw::daemon
