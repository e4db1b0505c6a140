// The seccomp program installed in a real kernel: a forked child sets PR_SET_NO_NEW_PRIVS (no
// root needed), installs the exported bytes exactly as declaw-init does, and attempts the calls
// the policy refuses. seccomp_policy_test.cc covers the same rules exhaustively in user space.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <vector>

#include "runtime/seccomp_policy.h"
#include "tests/unit/bpf_eval.h"

using namespace declaw::runtime;
using namespace declaw::testing;

namespace {

std::vector<sock_filter> policyProgram(bool allow_inet) {
  auto bytes = buildSeccompProgram({.allow_inet = allow_inet});
  if (!bytes) FAIL("buildSeccompProgram: " << bytes.error().describe());
  return toInstructions(*bytes);
}

// Probes run under the installed filter, in order; the child exits with 1 + the index of the
// first that misbehaved, or 0.
constexpr const char* kKernelProbes[] = {
    "prctl(PR_SET_NO_NEW_PRIVS)",
    "prctl(PR_SET_SECCOMP) installs the exported program",
    "socket(AF_INET) fails with EACCES",
    "socket(0x100000002) fails with EACCES",
    "socket(AF_UNIX) succeeds",
    "socket(0x100000001), which the kernel reads as AF_UNIX, succeeds",
    "ioctl(TIOCSTI | 1 << 32) fails with EPERM (not ENOTTY: the filter stopped it)",
    "io_uring_setup fails with EPERM",
    "unshare(CLONE_NEWUSER) fails with EPERM",
    "clone3 fails with ENOSYS",
    "an x32 socket(AF_INET) fails",
    "fork and wait still work",
};

bool failsWith(long rc, int error) { return rc == -1 && errno == error; }

// Runs in the forked child: syscalls only, no allocation.
int runKernelProbes(const std::vector<sock_filter>& program) {
  int probe = 1;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return probe;
  ++probe;
  sock_fprog fprog{static_cast<unsigned short>(program.size()),
                   const_cast<sock_filter*>(program.data())};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) return probe;
  ++probe;
  if (!failsWith(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), EACCES)) return probe;
  ++probe;
  if (!failsWith(syscall(SYS_socket, 0x100000002ull, SOCK_STREAM, 0), EACCES)) return probe;
  ++probe;
  long unix_fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (unix_fd < 0) return probe;
  ++probe;
  if (syscall(SYS_socket, 0x100000001ull, SOCK_STREAM | SOCK_CLOEXEC, 0) < 0) return probe;
  ++probe;
  char byte = 'x';
  if (!failsWith(syscall(SYS_ioctl, unix_fd, 0x100000000ull | TIOCSTI, &byte), EPERM)) {
    return probe;
  }
  ++probe;
  char params[120] = {};  // struct io_uring_params
  if (!failsWith(syscall(SYS_io_uring_setup, 4, params), EPERM)) return probe;
  ++probe;
  if (!failsWith(syscall(SYS_unshare, CLONE_NEWUSER), EPERM)) return probe;
  ++probe;
  if (!failsWith(syscall(SYS_clone3, nullptr, 0), ENOSYS)) return probe;
  ++probe;
  if (syscall(0x40000000 | SYS_socket, AF_INET, SOCK_STREAM, 0) != -1) return probe;
  ++probe;
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 7) {
    return probe;
  }
  return 0;
}

// Forks, runs `body` in the child, returns the raw wait status.
template <typename Body>
int inChild(Body body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

// An i386 syscall from a 64-bit process: int 0x80 with the i386 number in eax.
long i386Syscall(long number, long arg1, long arg2) {
  long ret;
  asm volatile("int $0x80"
               : "=a"(ret)
               : "a"(number), "b"(arg1), "c"(arg2)
               : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

}  // namespace

TEST_CASE("installed in a real kernel, the program refuses what the table says it refuses") {
  const auto program = policyProgram(/*allow_inet=*/false);
  int status = inChild([&] { return runKernelProbes(program); });
  REQUIRE(WIFEXITED(status));
  int failed = WEXITSTATUS(status);
  INFO("failed probe: " << (failed > 0 ? kKernelProbes[failed - 1] : "none"));
  CHECK(failed == 0);
}

TEST_CASE("installed in a real kernel, i386 calls through int 0x80 get ENOSYS") {
  constexpr long kI386Getpid = 20;
  constexpr long kI386Socketcall = 102;
  const auto program = policyProgram(/*allow_inet=*/true);
  // The kernel's own answer first, unfiltered. A kernel without IA32 emulation (or booted with
  // ia32_emulation=0) faults int 0x80 with SIGSEGV. SIG_DFL: a sanitizer's SIGSEGV handler
  // would turn the fault into an exit and a report.
  const int unfiltered = inChild([&] {
    (void)::signal(SIGSEGV, SIG_DFL);
    return i386Syscall(kI386Getpid, 0, 0) > 0 ? 0 : 1;
  });
  int status = inChild([&] {
    (void)::signal(SIGSEGV, SIG_DFL);
    sock_fprog fprog{static_cast<unsigned short>(program.size()),
                     const_cast<sock_filter*>(program.data())};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 1;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) return 2;
    if (i386Syscall(kI386Getpid, 0, 0) != -ENOSYS) return 3;
    if (i386Syscall(kI386Socketcall, 1 /* SYS_SOCKET */, 0) != -ENOSYS) return 4;
    return 0;
  });
  if (WIFSIGNALED(unfiltered) && WTERMSIG(unfiltered) == SIGSEGV) {
    // No IA32 here: the filtered call faults the same way, before the filter sees it.
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGSEGV);
    WARN(
        "this kernel has no IA32 emulation (int 0x80 raises SIGSEGV, filtered or not); the "
        "filter's refusal is covered by the BPF table");
    return;
  }
  REQUIRE(WIFEXITED(unfiltered));
  CHECK(WEXITSTATUS(unfiltered) == 0);  // the kernel runs it: the filter must be what refuses
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
