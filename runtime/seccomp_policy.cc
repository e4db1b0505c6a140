// Builds the seccomp filter with libseccomp and exports it as classic BPF (seccomp_policy.h).
//
// Two libseccomp facts shape this file (both checked by tests/unit/seccomp_policy_test.cc):
//   - it compares syscall arguments as 64-bit values, while the kernel reads the arguments ruled
//     on here as 32-bit ints (socket(int family, int type, int protocol), ioctl(unsigned int cmd),
//     personality(unsigned int), clone's flags via lower_32_bits()). An unmasked rule
//     "arg0 == AF_INET" misses 0x100000002, which the kernel still reads as AF_INET. So every
//     comparison here is a masked one whose mask has a zero upper half: the filter decides on
//     exactly the bits the kernel will use.
//   - a rule cannot compare one argument twice, cannot say "not equal" under a mask, and rules on
//     one syscall must not overlap with different actions. So "every family but these" is
//     written as disjoint aligned blocks of the 32-bit space (allLow32Except below).
// A rule whose action equals the default (ERRNO(EPERM)) is rejected by libseccomp with EACCES,
// so denied syscalls get no rule: the default refuses them.
#include "runtime/seccomp_policy.h"

#include <linux/filter.h>   // struct sock_filter, BPF_MAXINSNS
#include <linux/netlink.h>  // NETLINK_ROUTE
#include <sched.h>          // CLONE_NEW*
#include <seccomp.h>
#include <sys/ioctl.h>        // TIOCSTI, TIOCLINUX
#include <sys/mman.h>         // memfd_create
#include <sys/personality.h>  // PER_LINUX, PER_LINUX32, UNAME26
#include <sys/socket.h>       // AF_*
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <initializer_list>
#include <memory>

#include "common/io.h"
#include "common/unique_fd.h"

namespace declaw::runtime {
namespace {

struct FilterRelease {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterRelease>;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// Anything not listed: EPERM, as Docker's default profile.
constexpr uint32_t kDefaultAction = SCMP_ACT_ERRNO(EPERM);
// Socket families outside the allow-list, as DESIGN.md says: distinguishable from the default.
constexpr uint32_t kFamilyRefused = SCMP_ACT_ERRNO(EACCES);
// What a kernel without the syscall (or the ABI) answers; libc falls back on ENOSYS only.
constexpr uint32_t kNotImplemented = SCMP_ACT_ERRNO(ENOSYS);
// i386 (int 0x80, AUDIT_ARCH_I386) and x32 (AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT) calls.
// ENOSYS rather than KILL_PROCESS: the sandbox then looks like a kernel built without those ABIs,
// which is true to what it offers, and no syscall the sandbox can make produces a kernel log
// line (seccomp logs every RET_KILL_* by default; untrusted code could flood the host's log).
// Either way the call never runs, so nothing is gained by killing.
constexpr uint32_t kBadArchAction = kNotImplemented;

// Namespace flags clone() must not carry (Docker's mask 0x7E020000 for processes without
// CAP_SYS_ADMIN). CLONE_NEWTIME is 0x80, inside clone()'s exit-signal byte: only clone3 and
// unshare can ask for it, and both are refused.
constexpr uint64_t kNamespaceCloneFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;

// TIOCSTI pushes bytes into the terminal's input queue (a classic escape through a shared tty);
// TIOCLINUX can do the same on a virtual console.
constexpr uint32_t kDeniedIoctls[] = {TIOCSTI, TIOCLINUX};

// personality(): Docker's values. 0xffffffff queries without changing anything.
constexpr uint32_t kAllowedPersonalities[] = {PER_LINUX, PER_LINUX32, UNAME26,
                                              uint32_t{UNAME26} | PER_LINUX32, 0xffffffff};

constexpr uint32_t kLow32Mask = 0xffffffff;

// socket()'s type argument: the kernel keeps its low 4 bits as the type (SOCK_TYPE_MASK in
// include/linux/net.h) and reads the rest as SOCK_NONBLOCK | SOCK_CLOEXEC.
constexpr int kSockTypeBits = 4;

// One comparison on the low 32 bits of an argument: matches x when (x & mask) == value.
struct Low32 {
  uint32_t mask;
  uint32_t value;
};

Low32 exactly(uint32_t value) { return {kLow32Mask, value}; }

scmp_arg_cmp low32(unsigned arg, Low32 match) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, match.mask, match.value};
}

// Every value of the low `width` bits except `excluded`, as disjoint aligned blocks, the way an
// address range minus some addresses is written as CIDR prefixes: at most `width` blocks per
// excluded value, each one masked comparison. Bits above `width` are not looked at.
std::vector<Low32> allLowBitsExcept(int width, std::initializer_list<uint32_t> excluded) {
  const uint32_t field = width == 32 ? kLow32Mask : (uint32_t{1} << width) - 1;
  std::vector<Low32> blocks;
  // The block of values that share the top `bits` bits of the field with `prefix`. Recursion
  // at most `width` (<= 32) deep.
  auto cover = [&](auto& self, uint32_t prefix, int bits) -> void {  // NOLINT(misc-no-recursion)
    uint32_t mask = bits == 0 ? 0 : (~uint32_t{0} << (width - bits)) & field;
    bool holds_excluded = std::any_of(excluded.begin(), excluded.end(),
                                      [&](uint32_t value) { return (value & mask) == prefix; });
    if (!holds_excluded) {
      blocks.push_back({mask, prefix});
      return;
    }
    if (bits == width) return;  // the excluded value itself
    self(self, prefix, bits + 1);
    self(self, prefix | (uint32_t{1} << (width - 1 - bits)), bits + 1);
  };
  cover(cover, 0, 0);
  return blocks;
}

std::vector<Low32> allLow32Except(std::initializer_list<uint32_t> excluded) {
  return allLowBitsExcept(32, excluded);
}

Result<void> addRule(scmp_filter_ctx ctx, uint32_t action, int nr,
                     std::initializer_list<scmp_arg_cmp> args, const char* what) {
  // _exact: fail rather than let libseccomp rewrite a rule into something else.
  int rc = seccomp_rule_add_exact_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                        args.begin());
  if (rc < 0) return ErrnoError(-rc) << "seccomp_rule_add " << what;
  return Ok{};
}

// The x86_64 number for a name, or -1 when this libseccomp does not know it or it is not an
// x86_64 syscall (libseccomp answers negative pseudo-numbers for other architectures' names).
int nativeSyscall(const char* name) {
  int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
  return nr < 0 ? -1 : nr;
}

Result<void> addAllowList(scmp_filter_ctx ctx) {
  for (const char* name : allowedSyscalls()) {
    int nr = nativeSyscall(name);
    if (nr < 0) continue;
    if (auto r = addRule(ctx, SCMP_ACT_ALLOW, nr, {}, name); !r) return r;
  }
  return Ok{};
}

Result<void> addProcessRules(scmp_filter_ctx ctx) {
  // Masked with a zero upper half: clone flags are read as lower_32_bits() by the kernel.
  if (auto r = addRule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone),
                       {low32(0, {static_cast<uint32_t>(kNamespaceCloneFlags), 0})}, "clone");
      !r) {
    return r;
  }
  // clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes glibc retry
  // with clone(), whose flags the rule above checks (Docker does the same).
  if (auto r = addRule(ctx, kNotImplemented, SCMP_SYS(clone3), {}, "clone3"); !r) return r;
  for (uint32_t persona : kAllowedPersonalities) {
    if (auto r = addRule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), {low32(0, exactly(persona))},
                         "personality");
        !r) {
      return r;
    }
  }
  return Ok{};
}

Result<void> addSocketRules(scmp_filter_ctx ctx, const SeccompOptions& options) {
  const int socket_nr = SCMP_SYS(socket);
  std::vector<uint32_t> allowed = {AF_UNIX};
  if (options.allow_inet) allowed.push_back(AF_INET6);
  for (uint32_t family : allowed) {
    if (auto r = addRule(ctx, SCMP_ACT_ALLOW, socket_nr, {low32(0, exactly(family))}, "socket");
        !r) {
      return r;
    }
  }
  if (options.allow_inet) {
    // AF_INET with any type but SOCK_PACKET: the kernel turns socket(AF_INET, SOCK_PACKET, p)
    // into an AF_PACKET socket (__sock_create in net/socket.c), which namespace root's
    // CAP_NET_RAW would then get. AF_INET6 has no such translation (SOCK_PACKET is EINVAL).
    for (Low32 types : allLowBitsExcept(kSockTypeBits, {SOCK_PACKET})) {
      if (auto r = addRule(ctx, SCMP_ACT_ALLOW, socket_nr,
                           {low32(0, exactly(AF_INET)), low32(1, types)}, "socket AF_INET");
          !r) {
        return r;
      }
    }
    const Low32 sock_packet = {(uint32_t{1} << kSockTypeBits) - 1, SOCK_PACKET};
    if (auto r = addRule(ctx, kFamilyRefused, socket_nr,
                         {low32(0, exactly(AF_INET)), low32(1, sock_packet)}, "socket SOCK_PACKET");
        !r) {
      return r;
    }
  }
  // AF_NETLINK for NETLINK_ROUTE only (ip addr, getifaddrs); audit, uevent, netfilter and the
  // other protocols are refused. The protocol is arg2.
  if (auto r = addRule(ctx, SCMP_ACT_ALLOW, socket_nr,
                       {low32(0, exactly(AF_NETLINK)), low32(2, exactly(NETLINK_ROUTE))},
                       "socket netlink");
      !r) {
    return r;
  }
  for (Low32 protocols : allLow32Except({NETLINK_ROUTE})) {
    if (auto r = addRule(ctx, kFamilyRefused, socket_nr,
                         {low32(0, exactly(AF_NETLINK)), low32(2, protocols)}, "socket netlink");
        !r) {
      return r;
    }
  }
  std::vector<Low32> refused = options.allow_inet
                                   ? allLow32Except({AF_UNIX, AF_NETLINK, AF_INET, AF_INET6})
                                   : allLow32Except({AF_UNIX, AF_NETLINK});
  for (Low32 families : refused) {
    if (auto r = addRule(ctx, kFamilyRefused, socket_nr, {low32(0, families)}, "socket"); !r) {
      return r;
    }
  }

  const int socketpair_nr = SCMP_SYS(socketpair);
  if (auto r =
          addRule(ctx, SCMP_ACT_ALLOW, socketpair_nr, {low32(0, exactly(AF_UNIX))}, "socketpair");
      !r) {
    return r;
  }
  for (Low32 families : allLow32Except({AF_UNIX})) {
    if (auto r = addRule(ctx, kFamilyRefused, socketpair_nr, {low32(0, families)}, "socketpair");
        !r) {
      return r;
    }
  }
  return Ok{};
}

Result<void> addIoctlRules(scmp_filter_ctx ctx) {
  // Allow every request but the denied ones, which fall through to the default (EPERM).
  for (Low32 requests : allLow32Except({kDeniedIoctls[0], kDeniedIoctls[1]})) {
    if (auto r = addRule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), {low32(1, requests)}, "ioctl"); !r) {
      return r;
    }
  }
  return Ok{};
}

// Numbers this libseccomp has no name for are syscalls newer than it (or holes in the table):
// answer as a kernel without them would, so libc falls back (e.g. fchmodat2 -> fchmodat).
Result<void> addUnnamedSyscallRules(scmp_filter_ctx ctx) {
  for (int nr = 0; nr < kUnnamedSyscallEnosysLimit; ++nr) {
    std::unique_ptr<char, FreeDeleter> name(seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr));
    if (name) continue;
    if (auto r = addRule(ctx, kNotImplemented, nr, {}, "unnamed syscall"); !r) return r;
  }
  return Ok{};
}

Result<std::vector<uint8_t>> exportBpf(scmp_filter_ctx ctx) {
  UniqueFd fd(memfd_create("declaw-seccomp", MFD_CLOEXEC));
  if (!fd) return ErrnoError() << "memfd_create";
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0) {
    return ErrnoError(-rc) << "seccomp_export_bpf";
  }
  if (lseek(fd.get(), 0, SEEK_SET) < 0) return ErrnoError() << "lseek seccomp memfd";
  // The kernel refuses longer programs; readAll turns a longer one into E2BIG.
  auto text = readAll(fd.get(), BPF_MAXINSNS * sizeof(sock_filter));
  if (!text)
    return ErrorBuilder(text.error().code) << "read seccomp program: " << text.error().message;
  if (text->empty() || text->size() % sizeof(sock_filter) != 0) {
    return PlainError() << "seccomp program of " << text->size()
                        << " bytes is not a whole number of instructions";
  }
  return std::vector<uint8_t>(text->begin(), text->end());
}

}  // namespace

Result<std::vector<uint8_t>> buildSeccompProgram(const SeccompOptions& options) {
  // The rules name x86_64 numbers and argument layouts (clone's flags in arg0, ...).
  if (seccomp_arch_native() != SCMP_ARCH_X86_64) {
    return PlainError() << "the seccomp policy is written for x86_64 only";
  }
  Filter filter(seccomp_init(kDefaultAction));
  if (!filter) return PlainError() << "seccomp_init failed";
  scmp_filter_ctx ctx = filter.get();
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, kBadArchAction); rc < 0) {
    return ErrnoError(-rc) << "seccomp_attr_set ACT_BADARCH";
  }
  // A binary search over syscall numbers instead of libseccomp's default linear list: calls with
  // argument rules (ioctl, socket, clone) run ~100 instructions instead of ~550. The kernel skips
  // the filter for calls allowed whatever their arguments (its action cache, Linux 5.11+).
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0) {
    return ErrnoError(-rc) << "seccomp_attr_set CTL_OPTIMIZE";
  }
  // The filter holds only the native arch: no seccomp_arch_add(SCMP_ARCH_X86/X32), so i386
  // calls take the bad-arch action above, and so do x32 ones: libseccomp's x86_64 filter sends
  // nr >= __X32_SYSCALL_BIT there, except nr -1 (a tracer's "skip"), which meets the default.
  if (auto r = addAllowList(ctx); !r) return r.error();
  if (auto r = addProcessRules(ctx); !r) return r.error();
  if (auto r = addSocketRules(ctx, options); !r) return r.error();
  if (auto r = addIoctlRules(ctx); !r) return r.error();
  if (auto r = addUnnamedSyscallRules(ctx); !r) return r.error();
  return exportBpf(ctx);
}

}  // namespace declaw::runtime
