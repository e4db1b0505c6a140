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
  kAttach,     // attach the mount fd number `fd_index` of the InitConfig's fds at target
  kTmpfs,      // mount a tmpfs (source = its name in mountinfo, data = options)
  kProc,       // mount a new proc for this pid namespace
  kDevpts,     // mount a new devpts instance (data = options)
  kBind,       // bind `source` onto target; then remount with `flags` (read-only if asked)
  kMkdir,      // target is a directory: made with `mode`, owned by uid:gid, if it is not one
  kTouch,      // create an empty file with `mode` (a mount point for a file bind)
  kSymlink,    // target becomes a symlink whose contents are `source` (a directory there stays)
  kCopyFile,   // copy the host file `source` (a regular file) to target, keeping its mode
  kWriteFile,  // write `contents` to target with `mode`
  kAccounts,   // /etc/passwd or /etc/group: `contents` lines added for names the file lacks
};

// The root already holds what the template put there (an image, a snapshot), written by whoever
// made it. So every target is resolved inside the new root by the kernel (openat2 with
// RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS): no step follows a symlink of the image, and a
// non-directory where a step needs a directory, or a symlink where it writes a file, is
// replaced (in the sandbox's own upper layer) rather than followed. A symlink in a *parent*
// of a target fails the setup with ELOOP, naming the path.

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
  int fd_index = 0;           // kAttach: which of the InitConfig's fds
  bool id_from_euid = false;  // kCopyFile: the copy goes through answerIdFromEuid (etc_files.h)
};

// kAccounts: `existing` (a passwd or group file) with each line of `required` appended whose
// name (the first field) it lacks. Pure.
std::string mergeAccounts(const std::string& existing, const std::string& required);

// One line per step, stable, for error messages and tests:
//   "bind ro rec /usr -> /usr [nosuid,nodev]", "tmpfs / size=1048576,mode=0755 [nosuid,nodev]".
std::string describe(const MountStep& step);

// Refuses what the plan cannot build safely: an unknown built-in, an invalid hostname, user ids
// outside 1..65533 or clashing with the fixed groups, an empty seccomp filter, fds that do not
// match the root kind. EINVAL with the reason.
Result<void> validateConfig(const InitConfig& config, size_t fd_count);
// How many mount fds the InitConfig carries: the root, and /usr where usr_mount.
size_t rootFdCount(const InitConfig& config);

// The binary a template needs inside the built root ("" for base): python -> /usr/bin/python3.
std::string templateRequirement(const std::string& template_name);

// Fixed host paths planRootfs() consults (probeHost() also lists /etc).
std::vector<std::string> hostPathsToProbe();

// The ordered steps that build the sandbox root on the daemon's mounts. Fails (ENOENT) when a
// host-backed root needs the host's /usr and it has none, or the host lacks /dev/null. With
// config.skeleton (host-backed only) the skeleton's steps are left out: the root has them.
Result<std::vector<MountStep>> planRootfs(const InitConfig& config, const HostFacts& host);

// A built-in's skeleton: the steps of its plan that make directories, links and /etc copies
// outside /dev (whose tmpfs would hide them), in order. None depends on the create (the sandbox
// id, its network, its resources): the daemon writes them into an upper dir ahead of a create
// (Sandbox::launchEarly), and an init told config.skeleton leaves them out. Pure.
bool isSkeletonStep(const MountStep& step);
Result<std::vector<MountStep>> planSkeleton(const InitConfig& config, const HostFacts& host);

// Size limits of the small tmpfs mounts (the big ones come from InitConfig).
inline constexpr uint64_t kDevTmpfsBytes = 1 << 20;
inline constexpr uint64_t kShmTmpfsBytes = 64 << 20;  // Docker's default /dev/shm size

}  // namespace declaw::runtime::init
