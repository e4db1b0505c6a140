#include "runtime/launcher.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/io.h"
#include "runtime/protocol.h"

namespace declaw::runtime {

namespace {

constexpr unsigned long kNamespaceFlags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
                                          CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWCGROUP;

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
[[noreturn]] void childMain(const ChildArgs& a) {
  // No PR_SET_PDEATHSIG: it fires when the parent *thread* exits, and the daemon's threads come
  // and go. If the daemon dies, the sync pipe and later the control socket close instead.
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

Result<LaunchedInit> launchInit(const LaunchSpec& spec) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
    return ErrnoError() << "socketpair";
  }
  UniqueFd parent_end(pair[0]);
  UniqueFd child_end(pair[1]);
  auto sync = makePipe();
  if (!sync) return sync.error();

  static char arg0[] = "declaw-init";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  ChildArgs args{sync->read.get(), child_end.get(), spec.init_exe_fd, spec.devnull_fd, argv, envp};

  // clone(2) in its fork-like form (no new stack): the child continues here with a copy of the
  // address space. CLONE_PIDFD stores a pidfd at the parent_tid argument.
  int pidfd = -1;
  long rc = ::syscall(SYS_clone, kNamespaceFlags | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr,
                      nullptr);
  if (rc < 0) return ErrnoError() << "clone";
  if (rc == 0) childMain(args);

  LaunchedInit launched;
  launched.pid = static_cast<pid_t>(rc);
  launched.pidfd.reset(pidfd);
  child_end.reset();
  sync->read.reset();

  auto abandon = [&](const Error& error) -> Result<LaunchedInit> {
    ::syscall(SYS_pidfd_send_signal, launched.pidfd.get(), SIGKILL, nullptr, 0);
    ::waitpid(launched.pid, nullptr, 0);
    return error;
  };
  if (auto r = writeIdMaps(launched.pid, spec.ids); !r) return abandon(r.error());
  launched.userns.reset(
      ::open(("/proc/" + std::to_string(launched.pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!launched.userns) return abandon(ErrnoError() << "open the sandbox's user namespace");
  if (spec.before_exec) {
    if (auto r = spec.before_exec(launched.pid); !r) return abandon(r.error());
  }
  if (auto r = writeAll(sync->write.get(), "x", 1); !r) {
    return abandon(ErrnoError(r.error().code) << "release child");
  }
  launched.control = std::move(parent_end);
  return launched;
}

}  // namespace declaw::runtime
