// The pump of a Process (process.h): its thread's loop, the poll over the daemon's ends of the
// process's pipes (or its terminal), and the reads and writes. What each pass decides (exit,
// timeout, kill, when to look again) comes from pump_step.h; this file carries it out.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "daemon/process.h"
#include "daemon/pump_step.h"

namespace declaw::daemon {

namespace {

// One read; and how much one pass of the pump reads from a stream before it looks at the rest.
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadPerPass = 1024 * 1024;

// The fds of one poll: the wake eventfd, then stdout and stderr (or the terminal, as stdout),
// then stdin.
struct PollSet {
  std::array<pollfd, 4> fds{};
  size_t count = 0;
  int out_index[2] = {-1, -1};
  int stdin_index = -1;

  int add(int fd, short events) {
    fds[count] = {fd, events, 0};
    return static_cast<int>(count++);
  }
  short revents(int index) const { return fds[static_cast<size_t>(index)].revents; }
};

}  // namespace

void Process::pumpUntilFinished() {
  PumpState state;
  if (runPump(state, true)) return;
  // The caller holds the process, so ~Process (which joins this) cannot run meanwhile.
  try {
    pump_ = std::thread([this, state]() mutable { runPump(state, false); });
  } catch (const std::system_error&) {
    // No thread to read what a child left behind writes: its output is closed (as when the
    // daemon stops watching), and the process counts as finished, as it is.
    endPump(state.status);
  }
}

bool Process::runPump(PumpState& state, bool until_finished) {
  std::optional<int>& status = state.status;
  PumpView& view = state.view;
  for (;;) {
    view.now = PumpClock::now();
    {
      std::lock_guard lock(mutex_);
      if (stop_) break;
      // The command timeout does not run while the sandbox is paused (resumeClock shifts it).
      view.timeout_at.reset();
      if (plan_.timeout.count() > 0 && !clock_paused_at_) {
        view.timeout_at = started_steady_ + plan_.timeout + clock_shift_;
      }
    }
    int wait_status = 0;
    if (!status && init_->pollExit(pid_, &wait_status)) {
      init_->forgetExit(pid_);
      status = wait_status;
      view.exit_reported = true;
      view.drain_until = view.now + kDrainAfterExit;
    }
    view.outputs_open = outputsOpen();
    view.init_alive = init_->alive();

    const PumpStep step = decidePumpStep(view);
    if (step.finish != PumpFinish::kNotYet) {
      finishPumped(step.finish, status);
      view.finished = true;
    }
    if (step.stop) break;
    if (until_finished && view.finished) return false;
    if (step.kill) {
      killForTimeout();
      view.kill_deadline = PumpClock::now() + kExitAfterKill;
    }
    const bool want_stdin = settleStdin(view.finished);
    releaseHeldStdin();
    if (!pollOnce(want_stdin, pollTimeoutMs(nextPumpDeadline(view), PumpClock::now()))) break;
  }
  endPump(status);
  return true;
}

bool Process::outputsOpen() const {
  return plan_.spawn.pty ? term_.valid() : (out_[kOut].valid() || out_[kErr].valid());
}

void Process::finishPumped(PumpFinish finish, std::optional<int> status) {
  switch (finish) {
    case PumpFinish::kNotYet:
      return;
    case PumpFinish::kExited:
      return markFinished(status, "");
    case PumpFinish::kSandboxEnded:
      // Keep what the process wrote before the end.
      for (int s : {kOut, kErr}) {
        if (plan_.spawn.pty ? (s == kOut && term_) : out_[s].valid()) {
          drainOutput(static_cast<Stream>(s));
        }
      }
      return markFinished(std::nullopt, "the sandbox ended while the process ran");
    case PumpFinish::kKillUnanswered:
      return markFinished(std::nullopt, "the process did not exit after it was killed");
  }
}

void Process::killForTimeout() {
  {
    std::lock_guard lock(mutex_);
    timed_out_ = true;
  }
  (void)init_->signal(runtime::SignalRequest{0, pid_, SIGKILL, true}, kSignalTimeout);
}

bool Process::settleStdin(bool finished) {
  std::lock_guard lock(mutex_);
  const StdinStep step = decideStdinStep({.pipe_open = stdin_.valid(),
                                          .unsent = stdin_queue_.size() - stdin_sent_,
                                          .close_requested = stdin_close_requested_,
                                          .finished = finished});
  if (step.close_pipe) closeStdinOnPurposeLocked();
  return step.write;
}

bool Process::pollOnce(bool want_stdin, int wait_ms) {
  const bool pty = plan_.spawn.pty;
  PollSet set;
  set.add(wake_fd_.get(), POLLIN);
  if (pty) {
    if (term_) {
      set.out_index[kOut] =
          set.add(term_.get(), static_cast<short>(POLLIN | (want_stdin ? POLLOUT : 0)));
    }
  } else {
    for (int s : {kOut, kErr}) {
      if (out_[s]) set.out_index[s] = set.add(out_[s].get(), POLLIN);
    }
    if (stdin_ && want_stdin) set.stdin_index = set.add(stdin_.get(), POLLOUT);
  }

  int n = ::poll(set.fds.data(), set.count, wait_ms);
  if (n < 0 && errno != EINTR) return false;
  if (n <= 0) return true;
  if (set.revents(0) & POLLIN) {
    uint64_t value;
    (void)::read(wake_fd_.get(), &value, sizeof value);
  }
  for (int s : {kOut, kErr}) {
    if (set.out_index[s] < 0) continue;
    if ((set.revents(set.out_index[s]) & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    if (!drainOutput(static_cast<Stream>(s))) {
      std::lock_guard lock(mutex_);
      if (pty) {
        term_.reset();
        closeStdinLocked();
      } else {
        out_[s].reset();
      }
    }
  }
  if (want_stdin && (set.stdin_index >= 0 || pty)) writePendingStdin();
  return true;
}

void Process::endPump(std::optional<int> status) {
  std::lock_guard lock(mutex_);
  if (!finished_) {
    // Stopped before the end (the daemon forgets the process): it counts as finished.
    finished_ = true;
    wait_status_ = status;
    if (!status) error_ = "the daemon stopped watching the process";
    ended_at_ = api::Clock::now();
    for (int s : {kOut, kErr}) end_at_finish_[s] = buffers_[s].end();
  }
  out_[kOut].reset();
  out_[kErr].reset();
  term_.reset();
  closeStdinLocked();
  changed_.notify_all();
}

bool Process::drainOutput(Stream stream) {
  const bool pty = plan_.spawn.pty;
  int fd = pty ? term_.get() : out_[stream].get();
  char chunk[kReadChunk];
  size_t total = 0;
  bool open = true;
  while (total < kReadPerPass) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      std::lock_guard lock(mutex_);
      buffers_[stream].append(std::string_view(chunk, static_cast<size_t>(n)));
      total += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EIO: a terminal's master once every slave fd is closed (pty(7)).
    open = n < 0 && errno == EAGAIN;
    break;
  }
  if (total > 0) changed_.notify_all();
  return open;
}

void Process::writePendingStdin() {
  std::lock_guard lock(mutex_);
  int fd = plan_.spawn.pty ? term_.get() : stdin_.get();
  while (fd >= 0 && stdin_sent_ < stdin_queue_.size()) {
    ssize_t n = ::write(fd, stdin_queue_.data() + stdin_sent_, stdin_queue_.size() - stdin_sent_);
    if (n > 0) {
      stdin_sent_ += static_cast<size_t>(n);
      // Drop what was written once it is most of the queue (amortised: no quadratic erasing).
      if (stdin_sent_ == stdin_queue_.size() || stdin_sent_ > stdin_queue_.size() / 2) {
        stdin_queue_.erase(0, stdin_sent_);
        stdin_sent_ = 0;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // The reader is gone (EPIPE): nothing queued can arrive any more.
    stdin_queue_.clear();
    stdin_sent_ = 0;
    if (!plan_.spawn.pty) closeStdinLocked();
    return;
  }
  if (stdin_sent_ == stdin_queue_.size() && stdin_close_requested_) closeStdinOnPurposeLocked();
}

void Process::closeStdinLocked() {
  stdin_.reset();
  stdin_queue_.clear();
  stdin_sent_ = 0;
  stdin_open_ = false;
}

void Process::closeStdinOnPurposeLocked() {
  if (stdin_ && stdin_held_) stdin_to_release_ = true;
  closeStdinLocked();
}

void Process::releaseHeldStdin() {
  {
    std::lock_guard lock(mutex_);
    if (!stdin_to_release_) return;
    stdin_to_release_ = false;
    stdin_held_ = false;
  }
  // Fire and forget: if init is gone, so is the process.
  (void)init_->releaseStdin(pid_);
}

void Process::markFinished(std::optional<int> wait_status, std::string error) {
  // Outside the lock: it reads a cgroup file.
  const bool oom = plan_.oom_kills && plan_.oom_kills() > oom_kills_at_start_;
  std::lock_guard lock(mutex_);
  oom_killed_ = oom;
  finished_ = true;
  wait_status_ = wait_status;
  error_ = std::move(error);
  ended_at_ = api::Clock::now();
  for (int s : {kOut, kErr}) end_at_finish_[s] = buffers_[s].end();
  closeStdinLocked();
  changed_.notify_all();
}

}  // namespace declaw::daemon
