#include "runtime/init/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/io.h"
#include "runtime/init/caps.h"
#include "runtime/init/etc_files.h"
#include "runtime/init/pty.h"

namespace declaw::runtime::init {

namespace {

// The exit code of a child that failed before execve, as shells use for "cannot execute".
constexpr int kExitSpawnFailed = 127;
// A shell's exit codes for a command it did not find, and for one it found but could not run.
constexpr int kExitNotFound = 127;
constexpr int kExitNotExecutable = 126;
// How long the child may take from fork to execve.
constexpr int kExecWaitMs = 5000;

// What the child writes to the error pipe when it fails: one write, well below PIPE_BUF, so
// it arrives whole (pipe(7)).
struct ChildFailure {
  int32_t error = 0;
  char what[60] = {};
};

// Everything the child needs, prepared before fork, so the child only makes system calls.
struct ChildArgs {
  int stdio[3];
  bool controlling_tty;  // stdio[0] is a terminal to make the new session's controlling tty
  int error_pipe;
  const char* cwd;
  const char* fallback_cwd;  // null: none
  char* const* argv;
  char* const* fallback_argv;  // null: none
  char* const* candidates;     // search_path: the paths to try (null-terminated); else null
  char* const* envp;
  Identity identity;
};

[[noreturn]] void childFail(int error_pipe, const char* what, int error) {
  ChildFailure f;
  f.error = error;
  for (size_t i = 0; i + 1 < sizeof f.what && what[i] != '\0'; ++i) f.what[i] = what[i];
  (void)writeAll(error_pipe, &f, sizeof f);
  ::_exit(kExitSpawnFailed);
}

// errno as a shell reports it, for the few an exec of a found command fails with.
const char* execErrorText(int error) {
  switch (error) {
    case ENOENT:
      return "No such file or directory";
    case EACCES:
      return "Permission denied";
    case ENOEXEC:
      return "Exec format error";
    case E2BIG:
      return "Argument list too long";
    case ENOMEM:
      return "Cannot allocate memory";
    case ETXTBSY:
      return "Text file busy";
    case EISDIR:
      return "Is a directory";
    case ELOOP:
      return "Too many levels of symbolic links";
    case ENAMETOOLONG:
      return "File name too long";
    default:
      return "cannot execute";
  }
}

// Appends `text` to buf[*at..size) and returns the new end (never past size).
size_t append(char* buf, size_t size, size_t at, const char* text) {
  for (size_t i = 0; text[i] != '\0' && at < size; ++i) buf[at++] = text[i];
  return at;
}

// search_path: each candidate in turn, as execvp(3); what is not found goes on to the next, a
// candidate that exists but cannot be executed is remembered (EACCES) as execvp does.
[[noreturn]] void execCommand(const ChildArgs& a) {
  int error = ENOENT;
  bool denied = false;
  for (char* const* c = a.candidates; *c != nullptr; ++c) {
    ::execve(*c, a.argv, a.envp);
    switch (errno) {
      case EACCES:
        denied = true;
        continue;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        continue;
      default:
        error = errno;
        break;
    }
    break;
  }
  if (denied && error == ENOENT) error = EACCES;
  // The command was asked for and not there: the caller's mistake, told as a shell tells it,
  // on the command's own stderr with a shell's exit code. The spawn itself went through.
  ::close(a.error_pipe);
  const char* name = a.argv[0];
  bool has_slash = false;
  for (const char* p = name; *p != '\0'; ++p) has_slash = has_slash || *p == '/';
  char line[512];
  size_t n = append(line, sizeof line - 1, 0, "declaw: ");
  n = append(line, sizeof line - 1, n, name);
  n = append(line, sizeof line - 1, n, ": ");
  n = append(line, sizeof line - 1, n,
             error == ENOENT && !has_slash ? "command not found" : execErrorText(error));
  line[n++] = '\n';
  for (size_t done = 0; done < n;) {
    ssize_t w = ::write(2, line + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  ::_exit(error == ENOENT ? kExitNotFound : kExitNotExecutable);
}

// Runs in the forked child: async-signal-safe calls only (STYLE rule 3).
[[noreturn]] void childMain(const ChildArgs& a) {
  if (::setsid() < 0) childFail(a.error_pipe, "setsid", errno);
  // A session leader without a terminal acquires this one (tty_ioctl(4)); the shell's job
  // control and ^C then work as on a login terminal.
  if (a.controlling_tty && ::ioctl(a.stdio[0], TIOCSCTTY, 0) != 0) {
    childFail(a.error_pipe, "TIOCSCTTY", errno);
  }
  for (int fd = 0; fd < 3; ++fd) {
    // The received fds are never 0-2 (init holds /dev/null there), so dup2 always copies, and
    // the copy is not close-on-exec.
    if (::dup2(a.stdio[fd], fd) < 0) childFail(a.error_pipe, "dup2", errno);
  }
  // Nothing of init's reaches the command: not the control socket, not the signalfd
  // (close_range(2); the CVE-2024-21626 family). The error pipe is close-on-exec.
  if (a.error_pipe > 3 && ::close_range(3, static_cast<unsigned>(a.error_pipe) - 1, 0) != 0) {
    childFail(a.error_pipe, "close_range", errno);
  }
  if (::close_range(static_cast<unsigned>(a.error_pipe) + 1, ~0U, 0) != 0) {
    childFail(a.error_pipe, "close_range", errno);
  }
  // Dispositions survive execve only as "ignored"; the mask survives as is (signal(7)).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : kSignalsInitIgnores) (void)::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) {
    childFail(a.error_pipe, "sigprocmask", errno);
  }
  if (CredsFailure f = becomeIdentity(a.identity)) childFail(a.error_pipe, f.what, f.error);
  if (::chdir(a.cwd) != 0 && (a.fallback_cwd == nullptr || ::chdir(a.fallback_cwd) != 0)) {
    childFail(a.error_pipe, "chdir", errno);
  }
  if (a.candidates != nullptr) execCommand(a);
  ::execve(a.argv[0], a.argv, a.envp);
  if (errno == ENOENT && a.fallback_argv != nullptr) {
    ::execve(a.fallback_argv[0], a.fallback_argv, a.envp);
  }
  childFail(a.error_pipe, "execve", errno);
}

bool hasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

std::vector<char*> cStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> commandCandidates(const std::string& command,
                                           const std::vector<std::string>& env) {
  if (command.find('/') != std::string::npos) return {command};
  std::string_view path = "/bin:/usr/bin";  // execvp's default where PATH is unset
  for (const std::string& entry : env) {
    if (entry.starts_with("PATH=")) path = std::string_view(entry).substr(5);
  }
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view dir = path.substr(start, end - start);
    std::string candidate = dir.empty() ? command : std::string(dir) + "/" + command;
    if (candidate.size() < PATH_MAX) out.push_back(std::move(candidate));
    start = end + 1;
  }
  return out;
}

Result<void> validateSpawn(const SpawnRequest& r, size_t fd_count) {
  // With hold, two more: the daemon's ends of stdout and stderr, which init keeps (server.h);
  // with hold_stdin also stdin's write end.
  if (r.hold_stdin && (!r.hold || r.pty)) {
    return ErrnoError(EINVAL) << "spawn: hold_stdin without hold, or with a terminal";
  }
  const size_t expected =
      r.pty ? 0 : kSpawnFdCount + (r.hold ? kHeldFdCount : 0) + (r.hold_stdin ? 1 : 0);
  if (fd_count != expected) {
    return ErrnoError(EINVAL) << "spawn needs " << expected << " fds, got " << fd_count;
  }
  if (r.pty && (r.rows == 0 || r.cols == 0)) {
    return ErrnoError(EINVAL) << "spawn: a terminal needs rows and cols";
  }
  if (r.argv.empty() || r.argv[0].empty()) return ErrnoError(EINVAL) << "spawn: no argv[0]";
  if (!r.search_path && r.argv[0][0] != '/') {
    return ErrnoError(EINVAL) << "spawn: argv[0] must be an absolute path";
  }
  if (r.search_path && !r.fallback_argv.empty()) {
    return ErrnoError(EINVAL) << "spawn: a PATH lookup has no fallback argv";
  }
  for (const auto& s : r.argv) {
    if (hasNul(s)) return ErrnoError(EINVAL) << "spawn: NUL byte in argv";
  }
  if (!r.fallback_argv.empty() && (r.fallback_argv[0].empty() || r.fallback_argv[0][0] != '/')) {
    return ErrnoError(EINVAL) << "spawn: fallback argv[0] must be an absolute path";
  }
  for (const auto& s : r.fallback_argv) {
    if (hasNul(s)) return ErrnoError(EINVAL) << "spawn: NUL byte in the fallback argv";
  }
  for (const auto& s : r.env) {
    if (hasNul(s) || s.find('=') == std::string::npos) {
      return ErrnoError(EINVAL) << "spawn: env entries must be K=V without NUL bytes";
    }
  }
  if (hasNul(r.cwd) || hasNul(r.fallback_cwd)) {
    return ErrnoError(EINVAL) << "spawn: NUL byte in cwd";
  }
  if (r.uid >= kIdsPerSandbox || r.gid >= kIdsPerSandbox) {
    return ErrnoError(EINVAL) << "spawn: uid/gid outside the sandbox";
  }
  return {};
}

Result<SpawnedCommand> spawnCommand(const SpawnRequest& request, std::span<const UniqueFd> stdio) {
  SpawnedCommand spawned;
  UniqueFd slave;
  int fds[3];
  if (request.pty) {
    auto pty = openPty(request.rows, request.cols, request.uid, kTtyGid);
    if (!pty) return pty.error();
    spawned.pty_master = std::move(pty->master);
    slave = std::move(pty->slave);
    fds[0] = fds[1] = fds[2] = slave.get();
  } else {
    for (int i = 0; i < 3; ++i) fds[i] = stdio[i].get();
  }
  auto error_pipe = makePipe();
  if (!error_pipe) return error_pipe.error();
  std::vector<char*> argv = cStrings(request.argv);
  std::vector<char*> fallback = cStrings(request.fallback_argv);
  std::vector<char*> envp = cStrings(request.env);
  std::vector<std::string> candidate_paths;
  std::vector<char*> candidates;
  if (request.search_path) {
    candidate_paths = commandCandidates(request.argv[0], request.env);
    candidates = cStrings(candidate_paths);
  }
  ChildArgs args{{fds[0], fds[1], fds[2]},
                 request.pty,
                 error_pipe->write.get(),
                 request.cwd.empty() ? "/" : request.cwd.c_str(),
                 request.fallback_cwd.empty() ? nullptr : request.fallback_cwd.c_str(),
                 argv.data(),
                 request.fallback_argv.empty() ? nullptr : fallback.data(),
                 request.search_path ? candidates.data() : nullptr,
                 envp.data(),
                 Identity{request.uid, request.gid, request.keep_caps}};
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError() << "fork";
  if (pid == 0) childMain(args);
  error_pipe->write.reset();
  // Bounded: the child runs as the sandbox user from setresuid() on, so sandbox code can stop
  // it (kill -STOP -1) before it execs; init must never wait on it forever.
  pollfd ready{error_pipe->read.get(), POLLIN, 0};
  int polled;
  do {
    polled = ::poll(&ready, 1, kExecWaitMs);
  } while (polled < 0 && errno == EINTR);
  if (polled <= 0) {
    ::kill(pid, SIGKILL);  // reaped and reported like any other child
    return ErrnoError(ETIMEDOUT) << "spawn " << request.argv[0] << ": did not exec in time";
  }
  ChildFailure failure;
  ssize_t n;
  do {
    n = ::read(error_pipe->read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {  // execve closed the pipe: the command runs
    spawned.pid = pid;
    return spawned;
  }
  if (n != static_cast<ssize_t>(sizeof failure)) {
    return ErrnoError(EIO) << "spawn " << request.argv[0] << ": lost the child's report";
  }
  failure.what[sizeof failure.what - 1] = '\0';
  if (std::string_view(failure.what) == "chdir") {
    // The request named a directory the user cannot enter: bad input, not a missing sandbox.
    return ErrnoError(EINVAL) << "cwd " << request.cwd << ": " << std::strerror(failure.error);
  }
  return ErrnoError(failure.error) << "spawn " << request.argv[0] << ": " << failure.what;
}

}  // namespace declaw::runtime::init
