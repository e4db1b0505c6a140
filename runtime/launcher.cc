#include "runtime/launcher.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>

#include "common/io.h"
#include "runtime/namespaces.h"
#include "runtime/protocol.h"

namespace declaw::runtime {

namespace {

// How long a launch waits for the zygote's answer: it clones and answers at once, so this only
// bounds a zygote that hangs (then launches exec init, as without one).
constexpr int kZygoteAnswerMs = 5000;

// Everything the child needs, prepared before clone so the child only makes syscalls.
struct ChildArgs {
  int sync_read;  // the parent writes one byte when the id maps are in place
  int control;    // becomes kControlFd
  int init_exe;
  int devnull;
  char* const* argv;
  char* const* envp;
};

// Runs in the cloned child of a multi-threaded process: async-signal-safe calls only, no
// allocation, no locks. Any failure ends the child with a distinct exit code; the parent sees the
// control socket close and reports the launch as failed.
// Closes every fd but the four the child needs, before it waits: a copy of another launch's
// sync pipe (two launches at once) would keep that child waiting after the daemon died, each
// holding the other's, and a copy of the state dir's lock would keep the next daemon out.
void closeAllBut(const ChildArgs& a) {
  int keep[] = {a.sync_read, a.control, a.init_exe, a.devnull};
  std::sort(std::begin(keep), std::end(keep));
  unsigned from = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned>(fd) > from) {
      if (::close_range(from, static_cast<unsigned>(fd) - 1, 0) != 0) ::_exit(119);
    }
    from = static_cast<unsigned>(fd) + 1;
  }
  if (::close_range(from, ~0U, 0) != 0) ::_exit(119);
}

[[noreturn]] void childMain(const ChildArgs& a) {
  // No PR_SET_PDEATHSIG: it fires when the parent *thread* exits, and the daemon's threads come
  // and go. If the daemon dies, the sync pipe and later the control socket close instead.
  closeAllBut(a);
  char byte;
  ssize_t n;
  do {
    n = ::read(a.sync_read, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(120);
  // Become root of the new user namespace; the maps make uid/gid 0 the range's base. Host
  // supplementary groups are dropped (setgroups is allowed: the parent wrote the map as root).
  // Raw syscalls, not glibc's wrappers: in a multi-threaded process glibc broadcasts setxid
  // calls to every thread it knows of and waits for them on a futex, and after a raw clone()
  // those threads do not exist in the child, so the wrapper can block forever (nptl(7)).
  if (::syscall(SYS_setgroups, 0, nullptr) != 0) ::_exit(121);
  if (::syscall(SYS_setresgid, 0, 0, 0) != 0) ::_exit(122);
  if (::syscall(SYS_setresuid, 0, 0, 0) != 0) ::_exit(123);
  // The fds we still need must not sit where 0-3 are about to be installed (the daemon may
  // well have opened declaw-init as fd 3): move them above first. F_DUPFD_CLOEXEC keeps them
  // from reaching init.
  int exe = a.init_exe;
  int control = a.control;
  if (exe <= kControlFd) exe = ::fcntl(exe, F_DUPFD_CLOEXEC, kControlFd + 1);
  if (control <= kControlFd) control = ::fcntl(control, F_DUPFD_CLOEXEC, kControlFd + 1);
  if (exe < 0 || control < 0) ::_exit(124);
  // fds 0-2 to /dev/null, the control socket to kControlFd (dup2 clears O_CLOEXEC on the copy).
  for (int fd = 0; fd <= 2; ++fd) {
    if (::dup2(a.devnull, fd) < 0) ::_exit(124);
  }
  if (::dup2(control, kControlFd) < 0) ::_exit(125);
  // Every other fd of the daemon is O_CLOEXEC and vanishes at exec.
  ::syscall(SYS_execveat, exe, "", a.argv, a.envp, AT_EMPTY_PATH);
  ::_exit(126);
}

Result<void> writeIdMaps(pid_t pid, const IdRange& ids) {
  std::string line = idMapLine(ids);
  std::string base = "/proc/" + std::to_string(pid);
  if (auto r = writeFile(base + "/uid_map", line); !r) return r;
  if (auto r = writeFile(base + "/gid_map", line); !r) return r;
  return {};
}

}  // namespace

std::string idMapLine(const IdRange& ids) {
  return "0 " + std::to_string(ids.host_base) + " " + std::to_string(ids.count) + "\n";
}

Result<UniqueFd> openInitExecutable(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << path;
  return fd;
}

namespace {

// A child that will exec declaw-init once released, with the parent's ends of its sockets.
struct Spawned {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd control;     // the parent's end of the control socket
  UniqueFd sync_write;  // one byte releases the child
};

// What a new init and declawd talk over: the control socket's two ends, and the pipe whose one
// byte releases the child.
struct Channels {
  UniqueFd parent_end;
  UniqueFd child_end;
  Pipe sync;
};

Result<Channels> makeChannels() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
    return ErrnoError() << "socketpair";
  }
  Channels channels{UniqueFd(pair[0]), UniqueFd(pair[1]), {}};
  auto sync = makePipe();
  if (!sync) return sync.error();
  channels.sync = std::move(*sync);
  return channels;
}

// clone(`namespaces` | CLONE_PIDFD) of this process; the child waits for the release, then
// becomes root (of its user namespace, if it has one) and execs declaw-init.
Result<Spawned> spawnInit(unsigned long namespaces, int init_exe_fd, int devnull_fd) {
  auto channels = makeChannels();
  if (!channels) return channels.error();
  UniqueFd& parent_end = channels->parent_end;
  UniqueFd& child_end = channels->child_end;
  Pipe* sync = &channels->sync;

  static char arg0[] = "declaw-init";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  ChildArgs args{sync->read.get(), child_end.get(), init_exe_fd, devnull_fd, argv, envp};

  // clone(2) in its fork-like form (no new stack): the child continues here with a copy of the
  // address space. CLONE_PIDFD stores a pidfd at the parent_tid argument.
  int pidfd = -1;
  long rc =
      ::syscall(SYS_clone, namespaces | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (rc < 0) return ErrnoError() << "clone";
  if (rc == 0) childMain(args);
  return Spawned{static_cast<pid_t>(rc), UniqueFd(pidfd), std::move(parent_end),
                 std::move(sync->write)};
}

// Kills a child that never became a sandbox, and reaps it.
void abandon(const Spawned& child) {
  ::syscall(SYS_pidfd_send_signal, child.pidfd.get(), SIGKILL, nullptr, 0);
  ::waitpid(child.pid, nullptr, 0);
}

// The id maps, the user namespace's fd, the spec's before_exec, then the release.
Result<LaunchedInit> finishLaunch(Spawned child, const LaunchSpec& spec) {
  auto fail = [&](const Error& error) -> Result<LaunchedInit> {
    abandon(child);
    return error;
  };
  if (auto r = writeIdMaps(child.pid, spec.ids); !r) return fail(r.error());
  // (The zygote's child has it already, from the zygote: InitZygote::launch.)
  if (spec.nice != 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(child.pid), spec.nice) != 0) {
    return fail(ErrnoError() << "nice the new init");
  }
  LaunchedInit launched;
  launched.userns.reset(
      ::open(("/proc/" + std::to_string(child.pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!launched.userns) return fail(ErrnoError() << "open the sandbox's user namespace");
  if (spec.before_exec) {
    if (auto r = spec.before_exec(child.pid); !r) return fail(r.error());
  }
  if (auto r = writeAll(child.sync_write.get(), "x", 1); !r) {
    return fail(ErrnoError(r.error().code) << "release child");
  }
  launched.pid = child.pid;
  launched.pidfd = std::move(child.pidfd);
  launched.control = std::move(child.control);
  return launched;
}

// What asking the zygote came to: a child, the errno of the zygote's failed clone (the create
// fails as an exec'd launch would have), or `broken` (the zygote cannot be asked any more).
struct Asked {
  std::optional<Spawned> child;
  int clone_error = 0;
  bool broken = false;
  std::optional<Error> error;  // clone_error or broken: why
};

// Asks the zygote at `socket` for a new init. Errors before the request went out (no fds for
// the socketpair) fail this create only.
Result<Asked> askZygote(int socket) {
  auto channels = makeChannels();
  if (!channels) return channels.error();
  UniqueFd& parent_end = channels->parent_end;
  UniqueFd& child_end = channels->child_end;
  Pipe* sync = &channels->sync;
  Asked asked;
  auto broken = [&](const Error& error) -> Result<Asked> {
    asked.broken = true;
    asked.error = error;
    return std::move(asked);
  };
  const int fds[] = {child_end.get(), sync->read.get()};
  if (auto r = sendPacket(socket, encodeLaunch(), fds); !r) return broken(r.error());
  child_end.reset();
  sync->read.reset();
  pollfd ready{socket, POLLIN, 0};
  int polled;
  do {
    polled = ::poll(&ready, 1, kZygoteAnswerMs);
  } while (polled < 0 && errno == EINTR);
  if (polled <= 0) return broken(ErrnoError(ETIMEDOUT) << "the zygote did not answer");
  auto packet = recvPacket(socket, kMaxPacketBytes);
  if (!packet) return broken(packet.error());
  Reply reply;
  if (!decode(packet->data, reply)) {
    return broken(ErrnoError(EPROTO) << "the zygote's answer is malformed");
  }
  if (reply.error != 0) {
    asked.clone_error = reply.error;
    asked.error = ErrnoError(reply.error) << reply.message;
    return asked;
  }
  if (packet->fds.size() != 1 || reply.value <= 0) {
    return broken(ErrnoError(EPROTO) << "the zygote's answer lacks the new init's pidfd");
  }
  asked.child = Spawned{static_cast<pid_t>(reply.value), std::move(packet->fds[0]),
                        std::move(parent_end), std::move(sync->write)};
  return asked;
}

}  // namespace

Result<LaunchedInit> launchInit(const LaunchSpec& spec) {
  auto child = spawnInit(kSandboxNamespaces, spec.init_exe_fd, spec.devnull_fd);
  if (!child) return child.error();
  return finishLaunch(std::move(*child), spec);
}

Result<std::unique_ptr<InitZygote>> InitZygote::start(int init_exe_fd, int devnull_fd) {
  auto child = spawnInit(0, init_exe_fd, devnull_fd);
  if (!child) return child.error();
  if (auto r = writeAll(child->sync_write.get(), "x", 1); !r) {
    abandon(*child);
    return ErrnoError(r.error().code) << "release the zygote";
  }
  if (auto r = sendPacket(child->control.get(), encodeZygote()); !r) {
    abandon(*child);
    return ErrnoError(r.error().code) << "start the zygote: " << r.error().message;
  }
  return std::unique_ptr<InitZygote>(
      new InitZygote(child->pid, std::move(child->pidfd), std::move(child->control)));
}

Result<LaunchedInit> InitZygote::launch(const LaunchSpec& spec) {
  std::optional<Asked> asked;
  {
    std::lock_guard lock(mutex_);
    if (!broken_) {
      // The clone and the child's start run at the new init's nice value: the zygote takes it
      // for this one request (the requests are one at a time, under this lock).
      if (spec.nice != 0) (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(pid_), spec.nice);
      auto r = askZygote(socket_.get());
      if (spec.nice != 0) (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(pid_), 0);
      if (!r) return r.error();  // nothing was asked: this create fails, the zygote is fine
      if (r->broken) end();      // under the lock: no other launch is talking to it
      asked = std::move(*r);
    }
  }
  if (asked && asked->child) {
    ++forked_;
    return finishLaunch(std::move(*asked->child), spec);
  }
  if (asked && asked->clone_error != 0) return *asked->error;  // as an exec'd launch would fail
  // A dead or hung zygote costs speed, never a create: exec init, as without one.
  ++execed_;
  return launchInit(spec);
}

void InitZygote::end() {
  if (broken_) return;
  broken_ = true;
  socket_.reset();
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  ::waitpid(pid_, nullptr, 0);
}

InitZygote::~InitZygote() {
  // It holds nothing to finish (its inits are declawd's children), and one that hangs must not
  // hold up declawd's exit: closing its socket would do, SIGKILL makes sure.
  std::lock_guard lock(mutex_);
  end();
}

}  // namespace declaw::runtime
