#include "runtime/init/caps.h"

#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace declaw::runtime::init {

namespace {

// The highest capability number the loop below tries; PR_CAPBSET_DROP answers EINVAL past the
// kernel's last capability (/proc/sys/kernel/cap_last_cap), which ends the loop earlier.
constexpr int kMaxCapability = 63;
// RLIMIT_NPROC for every process the sandbox runs (commands and file helpers).
constexpr rlim_t kMaxProcessesPerUser = 4096;

// The inheritable set stays empty, as Docker's has since CVE-2022-24769: it would outlive a
// later change to a non-zero uid and, at the next execve, hand a program with file-inheritable
// bits those capabilities (capabilities(7), "Transformation of capabilities during execve()").
// The bounding set as limitBoundingSet left it; every capability until then. Read by forked
// children (a plain load: async-signal-safe).
uint64_t g_bounding_set = ~uint64_t{0};

// Drops every capability of the bounding set that is not in `keep` and was still in it.
CredsFailure dropBounding(uint64_t keep) {
  for (int cap = 0; cap <= kMaxCapability; ++cap) {
    if (((keep >> cap) & 1) != 0 || ((g_bounding_set >> cap) & 1) == 0) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // past the kernel's last capability
      return {"drop bounding capabilities", errno};
    }
  }
  return {};
}

int capset(uint64_t mask) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    auto word = static_cast<uint32_t>(mask >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = 0;
  }
  return static_cast<int>(::syscall(SYS_capset, &header, data));
}

bool capsAre(uint64_t mask) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  for (int i = 0; i < 2; ++i) {
    auto word = static_cast<uint32_t>(mask >> (32 * i));
    if (data[i].effective != word || data[i].permitted != word || data[i].inheritable != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

CredsFailure becomeIdentity(const Identity& id) {
  const uint64_t keep = capMaskFor(id);
  // The bounding set limits what any later execve can grant, even to a setuid-root or
  // file-capability binary (capabilities(7), "Capability bounding set"). Dropping needs
  // CAP_SETPCAP, so it comes before the uid change.
  if (CredsFailure f = dropBounding(keep)) return f;
  // Ambient capabilities would survive execve of unprivileged binaries.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return {"clear ambient capabilities", errno};
  }
  // Every sandbox has its own uid range, so a per-uid process limit is a per-sandbox one: a
  // fork bomb stops here even before cgroup limits exist. Set while still privileged, so the
  // hard limit cannot be raised again.
  const rlimit nproc{kMaxProcessesPerUser, kMaxProcessesPerUser};
  if (::setrlimit(RLIMIT_NPROC, &nproc) != 0) return {"setrlimit nproc", errno};
  const gid_t groups[] = {id.gid};
  if (::setgroups(1, groups) != 0) return {"setgroups", errno};
  if (::setresgid(id.gid, id.gid, id.gid) != 0) return {"setresgid", errno};
  // For a non-zero uid this also clears the permitted and effective sets (capabilities(7),
  // "Effect of user ID changes on capabilities"); the inheritable set is emptied below.
  if (::setresuid(id.uid, id.uid, id.uid) != 0) return {"setresuid", errno};
  if (capset(keep) != 0) return {"capset", errno};
  if (!capsAre(keep)) return {"verify capabilities", EPERM};
  return {};
}

CredsFailure limitBoundingSet(uint64_t keep) {
  if (CredsFailure f = dropBounding(keep)) return f;
  g_bounding_set = keep;
  return {};
}

}  // namespace declaw::runtime::init
