#include "clients/ctl/stdin_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "clients/ctl/api_client.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/terminal.h"

namespace declaw::ctl {
namespace {

// While the process's stdin queue is full (429), retry after this, doubling up to the cap.
constexpr int kBusyFirstWaitMs = 10;
constexpr int kBusyMaxWaitMs = 500;

constexpr char kWakeStop = 'q';
constexpr char kWakeResize = 'w';
constexpr char kWakeOutput = 'o';
constexpr std::string_view kTerminalEof = "\x04";  // ^D, VEOF of a terminal in canonical mode

}  // namespace

Result<std::unique_ptr<StdinPump>> StdinPump::start(std::string socket_path, std::string id,
                                                    int64_t pid, PumpMode mode, int input_fd) {
  std::unique_ptr<StdinPump> pump(
      new StdinPump(std::move(socket_path), std::move(id), pid, mode, input_fd));
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoError() << "pipe";
  pump->wake_read_.reset(fds[0]);
  pump->wake_write_.reset(fds[1]);

  // The thread inherits the signal mask in force when it is created.
  sigset_t handled, previous;
  sigemptyset(&handled);
  for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) sigaddset(&handled, signo);
  ::pthread_sigmask(SIG_BLOCK, &handled, &previous);
  try {
    pump->thread_ = std::thread([p = pump.get()] { p->run(); });
  } catch (const std::system_error& e) {
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return PlainError() << "start the stdin thread: " << e.what();
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return pump;
}

void StdinPump::stop() {
  if (!thread_.joinable()) return;
  char wake = kWakeStop;
  // The pipe is empty enough for one byte unless it is full of wake-ups already being read.
  while (::write(wake_write_.get(), &wake, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void StdinPump::outputArrived() {
  if (output_seen_.exchange(true)) return;
  char wake = kWakeOutput;
  while (::write(wake_write_.get(), &wake, 1) < 0 && errno == EINTR) {
  }
}

bool StdinPump::drainWakeups() {
  char buf[64];
  for (;;) {
    ssize_t n = ::read(wake_read_.get(), buf, sizeof(buf));
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == kWakeStop) stopping_ = true;
      if (buf[i] == kWakeResize) resize_pending_ = true;
    }
  }
  return !stopping_;
}

void StdinPump::warn(const std::string& message) const {
  // One write, so it is not interleaved with the main thread's output; raw mode needs the CR.
  std::string line =
      "declawctl: warning: " + message + (mode_ == PumpMode::kTerminal ? "\r\n" : "\n");
  [[maybe_unused]] auto r = writeFully(STDERR_FILENO, line);
}

void StdinPump::run() {
  ApiClient api(socket_path_);
  std::vector<char> buf(kStdinChunkBytes);
  bool input_open = true;
  while (!stopping_) {
    pollfd fds[2] = {{wake_read_.get(), POLLIN, 0}, {input_open ? input_fd_ : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      warn(std::string("poll: ") + std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0 && !drainWakeups()) return;
    if (resize_pending_) resize(api);
    if (eof_pending_ && output_seen_) {
      eof_pending_ = false;
      forward(api, kTerminalEof);
    }
    if (!input_open || fds[1].revents == 0) continue;

    ssize_t n = ::read(input_fd_, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) warn(std::string("stdin: ") + std::strerror(errno));
    if (n <= 0) {
      input_open = false;
      atEndOfInput(api);
      continue;
    }
    if (!forward(api, std::string_view(buf.data(), static_cast<size_t>(n)))) input_open = false;
  }
}

bool StdinPump::forward(ApiClient& api, std::string_view bytes) {
  int wait_ms = kBusyFirstWaitMs;
  for (;;) {
    auto outcome = api.sendStdin(id_, pid_, bytes);
    if (!outcome) {
      warn("stdin: " + outcome.error().describe());
      return false;
    }
    switch (*outcome) {
      case StdinOutcome::kQueued:
        return true;
      case StdinOutcome::kClosed:
        return false;  // the process is done with input; its exit event follows
      case StdinOutcome::kBusy:
        break;
    }
    // The process reads slower than we send: wait, but stay stoppable.
    pollfd wake = {wake_read_.get(), POLLIN, 0};
    if (::poll(&wake, 1, wait_ms) > 0 && !drainWakeups()) return false;
    if (resize_pending_) resize(api);
    wait_ms = std::min(wait_ms * 2, kBusyMaxWaitMs);
  }
}

void StdinPump::resize(ApiClient& api) {
  resize_pending_ = false;
  if (mode_ != PumpMode::kTerminal) return;
  auto size = terminalSize(input_fd_);
  if (!size) return;
  if (auto r = api.resizeTerminal(id_, pid_, *size); !r) warn("resize: " + r.error().describe());
}

void StdinPump::atEndOfInput(ApiClient& api) {
  if (mode_ == PumpMode::kTerminal) {
    eof_pending_ = !output_seen_;
    if (!eof_pending_) forward(api, kTerminalEof);
    return;
  }
  if (auto r = api.closeStdin(id_, pid_); !r) warn("close stdin: " + r.error().describe());
}

}  // namespace declaw::ctl
