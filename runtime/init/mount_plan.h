// The sandbox's root filesystem as a plain value (plan, then apply): planRootfs() turns the
// InitConfig and what the host offers into an ordered list of MountSteps; mounts.h applies them
// without decisions of its own. Unit tests read the plan without root.
//
// Every target is a path inside the new root ("/" is the new root itself); the applier prefixes
// the staging directory where the root is built before pivot_root.
#pragma once

#include <sys/mount.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/init/host_facts.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

enum class StepKind : uint8_t {
  kTmpfs,      // mount a tmpfs (source = its name in mountinfo, data = options)
  kProc,       // mount a new proc for this pid namespace
  kDevpts,     // mount a new devpts instance (data = options)
  kBind,       // bind `source` onto target; then remount with `flags` (read-only if asked)
  kMkdir,      // mkdir target with `mode`, owned by uid:gid
  kTouch,      // create an empty file with `mode` (a mount point for a file bind)
  kSymlink,    // target becomes a symlink whose contents are `source`
  kCopyFile,   // copy the host file `source` (a regular file) to target, keeping its mode
  kWriteFile,  // write `contents` to target with `mode`
};

// Where a bind's source lives.
enum class SourceRoot : uint8_t { kHost, kNewRoot };

struct MountStep {
  StepKind kind = StepKind::kMkdir;
  std::string target;
  std::string source;
  SourceRoot source_root = SourceRoot::kHost;
  unsigned long flags = 0;  // MS_* (kBind: applied by the remount that follows the bind)
  std::string data;         // mount options
  bool recursive = false;   // kBind: MS_REC, and the remount covers every submount
  bool readonly = false;    // kBind: remount read-only
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string contents;
};

// One line per step, stable, for error messages and tests:
//   "bind ro rec /usr -> /usr [nosuid,nodev]", "tmpfs / size=1048576,mode=0755 [nosuid,nodev]".
std::string describe(const MountStep& step);

// Refuses what the plan cannot build safely: an unknown template, an invalid hostname, a zero
// tmpfs size (size=0 means "unlimited" to tmpfs), user ids outside 1..65533 or clashing with
// the fixed groups, an empty seccomp filter. EINVAL with the reason.
Result<void> validateConfig(const InitConfig& config);

// The binary a template needs inside the built root ("" for base): python -> /usr/bin/python3.
std::string templateRequirement(const std::string& template_name);

// Fixed host paths planRootfs() consults (probeHost() also lists /etc).
std::vector<std::string> hostPathsToProbe();

// The ordered steps that build the sandbox root. Fails (ENOENT) when the host lacks /usr or
// /dev/null.
Result<std::vector<MountStep>> planRootfs(const InitConfig& config, const HostFacts& host);

// Size limits of the small tmpfs mounts (the big ones come from InitConfig).
inline constexpr uint64_t kDevTmpfsBytes = 1 << 20;
inline constexpr uint64_t kShmTmpfsBytes = 64 << 20;  // Docker's default /dev/shm size

}  // namespace declaw::runtime::init
