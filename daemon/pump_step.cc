#include "daemon/pump_step.h"

#include <algorithm>
#include <cstdint>

namespace declaw::daemon {

using std::chrono::milliseconds;

PumpStep decidePumpStep(const PumpView& view) {
  PumpStep step;
  if (!view.finished) {
    if (view.exit_reported && (!view.outputs_open || view.now >= view.drain_until)) {
      step.finish = PumpFinish::kExited;
    } else if (!view.exit_reported && !view.init_alive) {
      step.finish = PumpFinish::kSandboxEnded;
    } else if (view.kill_deadline && view.now >= *view.kill_deadline) {
      step.finish = PumpFinish::kKillUnanswered;
    }
  }
  const bool finished = view.finished || step.finish != PumpFinish::kNotYet;
  // Finished: keep reading only what a child the process left behind still writes, so that
  // it does not die of SIGPIPE, until it closes the pipes or the sandbox ends.
  step.stop = finished && (!view.outputs_open || !view.init_alive);
  step.kill = !finished && view.timeout_at && !view.kill_deadline && view.now >= *view.timeout_at;
  return step;
}

std::optional<PumpClock::time_point> nextPumpDeadline(const PumpView& view) {
  if (view.finished) return std::nullopt;
  std::optional<PumpClock::time_point> next;
  auto consider = [&](std::optional<PumpClock::time_point> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  // After the kill the timeout has done its work: the kill deadline takes over.
  if (!view.kill_deadline) consider(view.timeout_at);
  if (view.exit_reported) consider(view.drain_until);
  consider(view.kill_deadline);
  return next;
}

int pollTimeoutMs(std::optional<PumpClock::time_point> deadline, PumpClock::time_point now) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<milliseconds>(*deadline - now);
  return static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, kMaxPollWait.count()));
}

StdinStep decideStdinStep(const StdinView& view) {
  StdinStep step;
  step.close_pipe = view.pipe_open && ((view.close_requested && view.unsent == 0) || view.finished);
  step.write = view.unsent > 0 && !step.close_pipe;
  return step;
}

}  // namespace declaw::daemon
