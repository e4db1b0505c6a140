// Credentials and capabilities of the processes init starts (commands and file-op helpers).
//
// capabilities(7): the sets are set with raw capget/capset (_LINUX_CAPABILITY_VERSION_3, two
// 32-bit words), so no libcap. Everything here is async-signal-safe: it runs in forked children.
#pragma once

#include <linux/capability.h>

#include <cstdint>

namespace declaw::runtime::init {

// Docker's default capability set (moby oci/caps/defaults.go). Crucially without CAP_SYS_ADMIN
// and CAP_SYS_PTRACE: namespace root cannot mount, nor reach declaw-init through ptrace.
inline constexpr int kDockerDefaultCaps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

// The set above as a bit mask (bit n = capability n): 0xa80425fb.
constexpr uint64_t dockerDefaultCapMask() {
  uint64_t mask = 0;
  for (int cap : kDockerDefaultCaps) mask |= uint64_t{1} << cap;
  return mask;
}

struct Identity {
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool keep_caps = false;  // honoured for uid 0 only
};

// The capability mask a process with `id` ends with: Docker's set for uid 0 with keep_caps,
// nothing otherwise.
constexpr uint64_t capMaskFor(const Identity& id) {
  return (id.uid == 0 && id.keep_caps) ? dockerDefaultCapMask() : 0;
}

// What failed, when something did: a static string and an errno.
struct CredsFailure {
  const char* what = nullptr;
  int error = 0;
  explicit operator bool() const { return what != nullptr; }
};

// Becomes `id` for good, from namespace root with full capabilities: bounding set cut to the
// mask (while CAP_SETPCAP is still held), ambient set cleared, groups = {gid}, real/effective/
// saved gid and uid set, then effective and permitted set to exactly the mask, inheritable
// emptied, and read back to check. Async-signal-safe.
CredsFailure becomeIdentity(const Identity& id);

// Cuts this process's own bounding set to `keep` (its effective and permitted sets stay as they
// are) and remembers it, so that becomeIdentity in the children forked later drops only what is
// left: init does this once at setup with Docker's set, and a command's start then makes 14
// prctl calls at most instead of one per capability the kernel has.
CredsFailure limitBoundingSet(uint64_t keep);

}  // namespace declaw::runtime::init
