// The sandbox's seccomp policy (DESIGN.md, "Network" and "Sandboxes"), planned in the daemon.
//
// Plan, then apply: declawd builds the filter here with libseccomp and exports it as classic BPF;
// declaw-init receives the bytes and installs them with prctl(PR_SET_SECCOMP,
// SECCOMP_MODE_FILTER) after PR_SET_NO_NEW_PRIVS, so init does not link libseccomp. Unit tests
// run the same bytes through a BPF interpreter.
//
// The policy, for the native x86_64 ABI only:
//   - default for an unlisted syscall: ERRNO(EPERM), as Docker's default profile;
//   - an allow-list in the spirit of Docker's profile (allowedSyscalls());
//   - socket()/socketpair(): families are an allow-list compared on the low 32 bits of arg0
//     (AF_UNIX; AF_NETLINK with NETLINK_ROUTE only; AF_INET/AF_INET6 when allow_inet), every
//     other family fails with EACCES;
//   - clone() only without namespace flags, clone3() fails with ENOSYS (glibc falls back);
//   - ioctl() except TIOCSTI and TIOCLINUX; personality() with Docker's values only;
//   - syscall numbers the linked libseccomp does not know fail with ENOSYS (as on an older
//     kernel), so libc fallbacks for syscalls newer than this policy keep working;
//   - i386 and x32 calls fail with ENOSYS, as on a kernel built without those ABIs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace declaw::runtime {

struct SeccompOptions {
  // AF_INET/AF_INET6 sockets allowed (the sandbox has network, or loopback-only TCP).
  bool allow_inet = false;
};

// Builds the filter for `options` and returns it as classic BPF: an array of struct sock_filter
// in host byte order, ready for struct sock_fprog. Fails on a non-x86_64 host.
Result<std::vector<uint8_t>> buildSeccompProgram(const SeccompOptions& options);

// The tables behind the policy (seccomp_syscalls.cc), exposed for tests and review. Names that
// are not x86_64 syscalls for the linked libseccomp are skipped when the filter is built.
//
// Allowed whatever the arguments.
std::span<const char* const> allowedSyscalls();
// Refused with EPERM whatever the arguments. The default action already does this; the list
// records the decisions so that tests can check them and nobody adds one to the allow-list.
std::span<const char* const> deniedSyscalls();

// Syscall numbers below this limit that the linked libseccomp cannot name fail with ENOSYS
// instead of EPERM. x86_64 numbers from 512 on are the x32 ABI's slots.
inline constexpr int kUnnamedSyscallEnosysLimit = 512;

}  // namespace declaw::runtime
