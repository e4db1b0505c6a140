#include "daemon/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>

#include "common/io.h"

namespace declaw::daemon {

namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr milliseconds kSpawnTimeout{10000};
constexpr milliseconds kSignalTimeout{5000};
// After a timeout kill, how long to wait for init to report the exit.
constexpr milliseconds kExitAfterKill{5000};
// When the process has exited but something it started still holds the pipes open, how long
// to keep collecting output before answering.
constexpr milliseconds kDrainAfterExit{200};
// While pipes are open, how often to look for the exit report.
constexpr milliseconds kExitPoll{50};
// Without a command timeout, waiting for the exit is bounded by the sandbox's life; this only
// keeps condition_variable arithmetic finite.
constexpr milliseconds kNoTimeoutWait = std::chrono::hours(24 * 365);
constexpr int kTimeoutExitCode = 124;  // as coreutils timeout(1)

struct Capture {
  UniqueFd fd;
  std::string* data;
  bool* truncated;
};

// Appends what is readable now; false at EOF or error.
bool drain(Capture& c, uint64_t cap) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
    if (n > 0) {
      size_t room = c.data->size() < cap ? cap - c.data->size() : 0;
      size_t keep = std::min(room, static_cast<size_t>(n));
      c.data->append(buf, keep);
      if (keep < static_cast<size_t>(n)) *c.truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

void fillExit(api::RunResult& result, int status) {
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = 128 + WTERMSIG(status);
  }
}

}  // namespace

std::vector<std::string> commandEnvironment(const std::string& user, const std::string& home,
                                            const api::StringMap& sandbox_envs,
                                            const api::StringMap& command_envs) {
  api::StringMap env = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"HOME", home},
      {"USER", user},
      {"LOGNAME", user},
      {"SHELL", "/bin/bash"},
      {"LANG", "C.UTF-8"},
  };
  for (const auto& [k, v] : sandbox_envs) env[k] = v;
  for (const auto& [k, v] : command_envs) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

Result<api::RunResult> runCommand(runtime::InitClient& init, const CommandPlan& plan) {
  auto in = makePipe();
  auto out = makePipe();
  auto err = makePipe();
  if (!in || !out || !err) return ErrnoError() << "pipe for command";
  for (int fd : {in->write.get(), out->read.get(), err->read.get()}) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
  }

  std::array<int, 3> child_fds = {in->read.get(), out->write.get(), err->write.get()};
  auto reply = init.spawn(plan.spawn, child_fds, kSpawnTimeout);
  in->read.reset();
  out->write.reset();
  err->write.reset();
  if (!reply) return reply.error();
  if (reply->reply.error != 0) {
    return ErrnoError(reply->reply.error) << "start command: " << reply->reply.message;
  }
  api::RunResult result;
  result.pid = static_cast<int>(reply->reply.value);

  Capture captures[2] = {{std::move(out->read), &result.stdout_data, &result.stdout_truncated},
                         {std::move(err->read), &result.stderr_data, &result.stderr_truncated}};
  UniqueFd stdin_fd = std::move(in->write);
  size_t stdin_off = 0;
  if (plan.stdin_data.empty()) stdin_fd.reset();

  auto start = SteadyClock::now();
  std::optional<SteadyClock::time_point> exited_at;
  int status = 0;
  bool have_status = false;

  auto killGroup = [&] {
    result.timed_out = true;
    (void)init.signal(runtime::SignalRequest{0, result.pid, SIGKILL, true}, kSignalTimeout);
    stdin_fd.reset();
  };
  auto timeLeft = [&] {
    return std::chrono::duration_cast<milliseconds>(plan.timeout - (SteadyClock::now() - start));
  };
  bool has_timeout = plan.timeout.count() > 0;

  // Collect output while the pipes are open.
  while (captures[0].fd.valid() || captures[1].fd.valid()) {
    if (!have_status && init.pollExit(result.pid, &status)) {
      have_status = true;
      exited_at = SteadyClock::now();
    }
    if (have_status && SteadyClock::now() - *exited_at > kDrainAfterExit) break;
    if (!init.alive() && !have_status) break;
    if (!result.timed_out && has_timeout && timeLeft().count() <= 0) killGroup();

    std::vector<pollfd> fds;
    for (auto& c : captures) {
      if (c.fd) fds.push_back({c.fd.get(), POLLIN, 0});
    }
    if (stdin_fd) fds.push_back({stdin_fd.get(), POLLOUT, 0});
    int wait_ms = static_cast<int>(kExitPoll.count());
    if (!result.timed_out && has_timeout) {
      wait_ms = std::clamp(static_cast<int>(timeLeft().count()) + 1, 0, wait_ms);
    }
    int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) return ErrnoError() << "poll command pipes";
    for (auto& c : captures) {
      if (c.fd && !drain(c, plan.max_output_bytes)) c.fd.reset();
    }
    if (stdin_fd) {
      ssize_t w = ::write(stdin_fd.get(), plan.stdin_data.data() + stdin_off,
                          plan.stdin_data.size() - stdin_off);
      if (w > 0) stdin_off += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_off == plan.stdin_data.size()) {
        stdin_fd.reset();  // all written (or the reader is gone): EOF for the command
      }
    }
  }

  // The pipes are closed (or drained after the exit): wait for the exit report itself.
  if (have_status) {
    init.forgetExit(result.pid);
  } else {
    for (;;) {
      milliseconds wait = result.timed_out ? kExitAfterKill
                          : has_timeout      ? timeLeft()
                                             : kNoTimeoutWait;
      auto exited = init.waitExit(result.pid, std::max(wait, milliseconds(0)));
      if (exited) {
        status = *exited;
        break;
      }
      if (exited.error().code != ETIMEDOUT || result.timed_out) {
        return ErrnoError(exited.error().code)
               << "command " << result.pid << ": " << exited.error().message;
      }
      killGroup();
    }
  }
  fillExit(result, status);
  if (result.timed_out) result.exit_code = kTimeoutExitCode;
  return result;
}

}  // namespace declaw::daemon
