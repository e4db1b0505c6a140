#include "daemon/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "common/io.h"

namespace declaw::daemon {

namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr milliseconds kSpawnTimeout{10000};
// The largest piece of output one event carries.
constexpr size_t kEventChunk = 64 * 1024;
constexpr int kTimeoutExitCode = 124;  // as coreutils timeout(1)
// A process killed by signal N exits with 128 + N, as shells report it.
constexpr int kSignalExitBase = 128;
// Linux pids are at most 2^22 (PID_MAX_LIMIT); init's answer is checked against it.
constexpr int64_t kMaxPid = 1 << 22;

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void fillExit(std::optional<int> status, bool timed_out, std::optional<int>& exit_code,
              std::optional<int>& signal) {
  if (!status) return;
  if (WIFEXITED(*status)) {
    exit_code = WEXITSTATUS(*status);
  } else if (WIFSIGNALED(*status)) {
    signal = WTERMSIG(*status);
    exit_code = kSignalExitBase + WTERMSIG(*status);
  }
  if (timed_out) exit_code = kTimeoutExitCode;
}

// What a held init keeps for the next daemon (SpawnRequest::note): the process's record.
std::string noteOf(const ProcessPlan& plan, api::Clock::time_point started_at) {
  nlohmann::json j = {
      {"cmd", plan.cmd},
      {"argv", plan.argv},
      {"user", plan.user},
      {"cwd", plan.spawn.cwd},
      {"background", plan.background},
      {"started_at_ms",
       std::chrono::duration_cast<milliseconds>(started_at.time_since_epoch()).count()},
      {"timeout_ms", plan.timeout.count()}};
  std::string note = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // A command too long for the note keeps its record without the words.
  if (note.size() > runtime::kMaxNoteBytes) {
    j["cmd"] = plan.cmd.substr(0, 256);
    j["argv"] = nlohmann::json::array();
    note = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return note;
}

// Reads a note back into `plan` (what it cannot read stays empty); returns the start time.
api::Clock::time_point readNote(const std::string& note, ProcessPlan& plan) {
  api::Clock::time_point started_at = api::Clock::now();
  auto j = nlohmann::json::parse(note, nullptr, false);
  if (!j.is_object()) return started_at;
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  plan.cmd = text("cmd");
  plan.user = text("user");
  plan.spawn.cwd = text("cwd");
  if (auto it = j.find("argv"); it != j.end() && it->is_array()) {
    for (const auto& arg : *it) {
      if (arg.is_string()) plan.argv.push_back(arg.get<std::string>());
    }
  }
  if (auto it = j.find("background"); it != j.end() && it->is_boolean()) plan.background = *it;
  if (auto it = j.find("timeout_ms"); it != j.end() && it->is_number_unsigned()) {
    plan.timeout = milliseconds(it->get<uint64_t>() & 0xffffffffffffULL);
  }
  if (auto it = j.find("started_at_ms"); it != j.end() && it->is_number_unsigned()) {
    const auto ms = milliseconds(it->get<uint64_t>() & 0xffffffffffffULL);
    if (ms <= std::chrono::duration_cast<milliseconds>(started_at.time_since_epoch())) {
      started_at = api::Clock::time_point(std::chrono::duration_cast<api::Clock::duration>(ms));
    }
  }
  return started_at;
}

}  // namespace

// --- starting ------------------------------------------------------------------------------

Result<std::shared_ptr<Process>> Process::start(std::shared_ptr<runtime::InitClient> init,
                                                ProcessPlan plan) {
  std::shared_ptr<Process> p(new Process());
  p->wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!p->wake_fd_) return ErrnoError() << "eventfd";
  for (auto& buffer : p->buffers_) buffer = OutputBuffer(plan.keep, plan.buffer_bytes);

  const auto started_at = api::Clock::now();
  if (plan.spawn.hold) plan.spawn.note = noteOf(plan, started_at);
  Result<runtime::ReplyWithFds> reply = ErrnoError(EIO);
  if (plan.spawn.pty) {
    reply = init->spawn(plan.spawn, {}, kSpawnTimeout);
  } else {
    auto in = makePipe();
    auto out = makePipe();
    auto err = makePipe();
    if (!in || !out || !err) return ErrnoError() << "pipe for command";
    // A held spawn also gives init copies of the output's read ends, and of stdin's write end
    // while stdin stays open (runtime/protocol.h).
    plan.spawn.hold_stdin = plan.spawn.hold && plan.stdin_open;
    std::array<int, 6> child_fds = {in->read.get(),  out->write.get(), err->write.get(),
                                    out->read.get(), err->read.get(),  in->write.get()};
    const size_t count = !plan.spawn.hold ? 3 : plan.spawn.hold_stdin ? 6 : 5;
    reply = init->spawn(plan.spawn, std::span<const int>(child_fds.data(), count), kSpawnTimeout);
    p->out_[kOut] = std::move(out->read);
    p->out_[kErr] = std::move(err->read);
    p->stdin_ = std::move(in->write);
  }
  if (!reply) return reply.error();
  if (reply->reply.error != 0) {
    return ErrnoError(reply->reply.error) << "start command: " << reply->reply.message;
  }
  if (reply->reply.value <= 1 || reply->reply.value >= kMaxPid) {
    return ErrnoError(EPROTO) << "sandbox init answered an impossible pid";
  }
  p->pid_ = static_cast<int>(reply->reply.value);
  if (plan.spawn.pty) {
    // Only a terminal's master answers TIOCGPTN: anything else init might pass (/dev/zero, a
    // pipe) would have the pump spin or block on it.
    unsigned int pty_number = 0;
    if (reply->fds.size() != 1 || ::ioctl(reply->fds[0].get(), TIOCGPTN, &pty_number) != 0) {
      // The process runs but we cannot talk to it: end it rather than leave it orphaned.
      (void)init->signal(runtime::SignalRequest{0, p->pid_, SIGKILL, true}, kSignalTimeout);
      return ErrnoError(EPROTO) << "sandbox init answered a PTY spawn without a terminal";
    }
    p->term_ = std::move(reply->fds[0]);
  }
  for (int fd : {p->out_[kOut].get(), p->out_[kErr].get(), p->term_.get(), p->stdin_.get()}) {
    if (fd >= 0) setNonBlocking(fd);
  }

  p->init_ = std::move(init);
  if (plan.oom_kills) p->oom_kills_at_start_ = plan.oom_kills();
  p->started_at_ = started_at;
  p->started_steady_ = SteadyClock::now();
  p->stdin_queue_ = std::move(plan.stdin_data);
  p->stdin_open_ = true;
  // A terminal's input stays open as long as the terminal does.
  p->stdin_close_requested_ = !plan.stdin_open && !plan.spawn.pty;
  p->stdin_held_ = plan.spawn.hold_stdin;
  p->plan_ = std::move(plan);
  p->plan_.stdin_data.clear();
  if (!p->plan_.pump_on_caller) {
    p->pump_ = std::thread([raw = p.get()] {
      PumpState state;
      raw->runPump(state, false);
    });
  }
  return p;
}

Result<std::shared_ptr<Process>> Process::adopt(std::shared_ptr<runtime::InitClient> init,
                                                runtime::HeldProcess held, uint64_t buffer_bytes,
                                                uint64_t max_stdin_bytes) {
  // Only pipes, or a terminal's master, are worth pumping (anything else could block or spin).
  for (const UniqueFd& fd : held.fds) {
    struct stat st {};
    unsigned int pty_number = 0;
    const bool ok = held.held.pty ? ::ioctl(fd.get(), TIOCGPTN, &pty_number) == 0
                                  : ::fstat(fd.get(), &st) == 0 && S_ISFIFO(st.st_mode);
    if (!ok) return ErrnoError(EPROTO) << "init held something else than the process's output";
  }
  std::shared_ptr<Process> p(new Process());
  p->wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!p->wake_fd_) return ErrnoError() << "eventfd";
  ProcessPlan plan;
  p->started_at_ = readNote(held.held.note, plan);
  plan.spawn.pty = held.held.pty;
  plan.keep = OutputBuffer::Keep::kTail;
  plan.buffer_bytes = buffer_bytes;
  plan.max_stdin_bytes = max_stdin_bytes;  // a terminal's input
  for (auto& buffer : p->buffers_) buffer = OutputBuffer(plan.keep, plan.buffer_bytes);
  if (held.held.pty) {
    p->term_ = std::move(held.fds[0]);
  } else {
    p->out_[kOut] = std::move(held.fds[0]);
    p->out_[kErr] = std::move(held.fds[1]);
    if (held.held.stdin) p->stdin_ = std::move(held.fds[2]);
  }
  for (int fd : {p->out_[kOut].get(), p->out_[kErr].get(), p->term_.get(), p->stdin_.get()}) {
    if (fd >= 0) setNonBlocking(fd);
  }
  p->pid_ = held.held.pid;
  // The command timeout counts from the start, as it did before the restart.
  p->started_steady_ =
      SteadyClock::now() - std::chrono::duration_cast<SteadyClock::duration>(std::max(
                               api::Clock::now() - p->started_at_, api::Clock::duration{}));
  if (held.held.exited) init->addExit(p->pid_, held.held.wait_status);
  p->init_ = std::move(init);
  // Stdin: a terminal's input, or the pipe init kept open; else closed.
  p->stdin_open_ = plan.spawn.pty || p->stdin_.valid();
  p->stdin_close_requested_ = !p->stdin_open_;
  p->stdin_held_ = p->stdin_.valid();
  p->plan_ = std::move(plan);
  p->pump_ = std::thread([raw = p.get()] {
    PumpState state;
    raw->runPump(state, false);
  });
  return p;
}

Process::~Process() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake();
  if (pump_.joinable()) pump_.join();
}

void Process::wake() {
  uint64_t one = 1;
  (void)::write(wake_fd_.get(), &one, sizeof one);
}

// --- control ---------------------------------------------------------------------------------

uint64_t Process::bufferReservation() const {
  std::lock_guard lock(mutex_);
  // A foreground command's capture lives as long as its request, which the connection limit
  // bounds; the budget is for what outlives requests.
  if (output_taken_ || plan_.keep == OutputBuffer::Keep::kHead) return 0;
  return 2 * plan_.buffer_bytes;
}

bool Process::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

bool Process::waitFinished(SteadyClock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return finished_; });
}

void Process::pauseClock() {
  std::lock_guard lock(mutex_);
  if (!clock_paused_at_) clock_paused_at_ = SteadyClock::now();
}

void Process::resumeClock() {
  {
    std::lock_guard lock(mutex_);
    if (!clock_paused_at_) return;
    clock_shift_ += SteadyClock::now() - *clock_paused_at_;
    clock_paused_at_.reset();
  }
  wake();
}

void Process::waitFinished() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return finished_; });
}

Result<void> Process::writeStdin(const std::string& data) {
  {
    std::lock_guard lock(mutex_);
    if (finished_ || !stdin_open_ || stdin_close_requested_) {
      return ErrnoError(ESRCH) << "stdin of process " << pid_ << " is closed";
    }
    if (stdin_queue_.size() - stdin_sent_ + data.size() > plan_.max_stdin_bytes) {
      return ErrnoError(EDQUOT) << "process " << pid_ << " has more than " << plan_.max_stdin_bytes
                                << " bytes of stdin unread";
    }
    stdin_queue_ += data;
  }
  wake();
  return {};
}

Result<void> Process::closeStdin() {
  if (plan_.spawn.pty) {
    return ErrnoError(EINVAL) << "process " << pid_
                              << " reads a terminal: send Ctrl-D (\\u0004) for end of input";
  }
  {
    std::lock_guard lock(mutex_);
    stdin_close_requested_ = true;
  }
  wake();
  return {};
}

Result<void> Process::signal(int sig) {
  if (finished()) return ErrnoError(ESRCH) << "process " << pid_ << " has finished";
  auto reply = init_->signal(runtime::SignalRequest{0, pid_, sig, true}, kSignalTimeout);
  if (!reply) return reply.error();
  if (reply->reply.error != 0) {
    return ErrnoError(reply->reply.error) << "signal process " << pid_;
  }
  return {};
}

Result<void> Process::resize(uint16_t rows, uint16_t cols) {
  if (!plan_.spawn.pty) return ErrnoError(EINVAL) << "process " << pid_ << " has no terminal";
  std::lock_guard lock(mutex_);
  if (finished_ || !term_) return ErrnoError(ESRCH) << "process " << pid_ << " has finished";
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  // The kernel sends SIGWINCH to the terminal's foreground process group (tty_ioctl(4)).
  if (::ioctl(term_.get(), TIOCSWINSZ, &size) != 0) return ErrnoError() << "resize terminal";
  return {};
}

// --- reading ---------------------------------------------------------------------------------

api::ProcessInfo Process::info() const {
  std::lock_guard lock(mutex_);
  api::ProcessInfo i;
  i.pid = pid_;
  i.cmd = plan_.cmd;
  i.argv = plan_.argv;
  i.user = plan_.user;
  i.cwd = plan_.spawn.cwd;
  i.started_at = started_at_;
  i.running = !finished_;
  if (finished_) i.ended_at = ended_at_;
  fillExit(wait_status_, timed_out_, i.exit_code, i.signal);
  i.timed_out = timed_out_;
  i.is_pty = plan_.spawn.pty;
  i.background = plan_.background;
  i.stdin_open = stdin_open_ && !stdin_close_requested_;
  i.oom_killed = oom_killed_;
  i.error = finished_ && !wait_status_ ? error_ : "";
  return i;
}

Result<api::RunResult> Process::takeResult() {
  std::lock_guard lock(mutex_);
  // Killed for its timeout, but init did not report the exit in time (it may be busy with
  // spawns that sandbox code keeps stopping): still a timeout, as far as the caller goes.
  if (!wait_status_ && !timed_out_) return ErrnoError(ESRCH) << error_;
  api::RunResult r;
  r.pid = pid_;
  r.stdout_data = std::string(buffers_[kOut].read(0, end_at_finish_[kOut]));
  r.stderr_data = std::string(buffers_[kErr].read(0, end_at_finish_[kErr]));
  r.stdout_truncated = buffers_[kOut].dropped() > 0;
  r.stderr_truncated = buffers_[kErr].dropped() > 0;
  for (auto& buffer : buffers_) buffer.release();
  output_taken_ = true;
  std::optional<int> exit_code;
  fillExit(wait_status_, timed_out_, exit_code, r.signal);
  r.exit_code = exit_code.value_or(kTimeoutExitCode);  // no status: only after a timeout kill
  r.timed_out = timed_out_;
  r.oom_killed = oom_killed_;
  return r;
}

class ProcessWatchImpl : public api::ProcessWatch {
 public:
  ProcessWatchImpl(std::shared_ptr<Process> process, bool follow)
      : process_(std::move(process)), follow_(follow) {}

  int pid() const override { return process_->pid(); }

  std::optional<api::OutputEvent> next(milliseconds wait) override {
    using Kind = api::OutputEvent::Kind;
    if (done_) return api::OutputEvent{};
    Process& p = *process_;
    const bool pty = p.plan_.spawn.pty;
    auto deadline = SteadyClock::now() + wait;
    std::unique_lock lock(p.mutex_);
    for (;;) {
      for (int s : {Process::kOut, Process::kErr}) {
        if (pty && s == Process::kErr) continue;
        const OutputBuffer& buffer = p.buffers_[s];
        const char* name = pty ? "pty" : s == Process::kOut ? "stdout" : "stderr";
        if (cursor_[s] < buffer.begin()) {
          api::OutputEvent lost;
          lost.kind = Kind::kLost;
          lost.stream = name;
          lost.lost_bytes = buffer.begin() - cursor_[s];
          cursor_[s] = buffer.begin();
          return lost;
        }
        uint64_t limit = p.finished_ ? std::min(p.end_at_finish_[s], buffer.end()) : buffer.end();
        if (cursor_[s] >= limit) continue;
        std::string_view bytes = buffer.read(cursor_[s], kEventChunk);
        bytes = bytes.substr(0, std::min<uint64_t>(bytes.size(), limit - cursor_[s]));
        // Hold back a character's first bytes while its rest may still come.
        bool final_piece = p.finished_ && cursor_[s] + bytes.size() == limit;
        if (!final_piece) bytes = bytes.substr(0, utf8SafeLength(bytes));
        cursor_[s] += bytes.size();
        api::OutputEvent event;
        event.kind = pty ? Kind::kPty : s == Process::kOut ? Kind::kStdout : Kind::kStderr;
        event.data = std::string(bytes);
        return event;
      }
      if (p.finished_) {
        done_ = true;
        lock.unlock();
        api::OutputEvent exit;
        exit.kind = Kind::kExit;
        exit.process = p.info();
        return exit;
      }
      if (!follow_) {
        done_ = true;
        return api::OutputEvent{};
      }
      if (p.changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
        // One more look: the wait may have timed out just as something arrived.
        if (SteadyClock::now() >= deadline && !hasNews(p)) return std::nullopt;
      }
    }
  }

 private:
  bool hasNews(const Process& p) const {
    if (p.finished_) return true;
    for (int s : {Process::kOut, Process::kErr}) {
      if (cursor_[s] != p.buffers_[s].end()) return true;
    }
    return false;
  }

  std::shared_ptr<Process> process_;
  bool follow_;
  bool done_ = false;
  uint64_t cursor_[2] = {0, 0};
};

std::unique_ptr<api::ProcessWatch> Process::watch(bool follow) {
  // The watch keeps the process (and its buffers) alive while it reads.
  return std::make_unique<ProcessWatchImpl>(shared_from_this(), follow);
}

}  // namespace declaw::daemon
