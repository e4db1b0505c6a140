// The sandbox's root filesystem, built by the daemon (plan, then apply) and handed to
// declaw-init as detached mounts:
//
//   disk   a tmpfs of disk_mb, the sandbox's one writable store: overlay upper and work dirs
//   /      overlayfs: lowers = the template's layers, each an idmapped mount (the sandbox's user
//          namespace), over an empty dir; upper = disk/upper
//   /usr   host-backed built-ins only: overlayfs over the host's /usr, idmapped, upper disk/usr
//
// Why here and not in init: overlayfs mounted inside the sandbox's user namespace must use
// user.* xattrs, which tmpfs has only from 6.6 (Debian 12 runs 6.1); mounted by the daemon in
// the initial user namespace it uses trusted.* on any tmpfs. Idmapped lowers (5.19+) let one
// unpacked copy of a layer serve every sandbox whatever its host uid range: a file owned by
// uid 1000 in the image is uid 1000 inside, and nothing is ever chowned per sandbox.
//
// Where overlayfs takes layers that are detached mounts (6.15+), every mount of a build is made
// detached (fsopen/fsmount, open_tree) and stays so: nothing is attached anywhere. Before that,
// layers must be attached in the caller's mount namespace while overlayfs takes them, so the
// caller runs in a private mount namespace of its own (declawd unshares one at start): the
// temporary attach points under `work_dir` are never seen by the host, and are all detached
// again before this returns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::runtime {

// A disk made ahead of its create (detached builds only; prepareDisk): the tmpfs with the
// layout's directories, its upper dirs owned by the sandbox's root.
struct PreparedDisk {
  UniqueFd mount;  // the detached tmpfs (fsmount's fd): overlayfs takes only mounted uppers
  UniqueFd dir;    // its root, O_RDONLY | O_DIRECTORY
};

// How a build makes its mounts: kAuto is kDetached where the kernel allows it
// (overlayTakesDetachedLayers), else kAttached. Tests force one or the other.
enum class RootfsBuild { kAuto, kDetached, kAttached };

struct RootfsSpec {
  std::string sandbox_id;  // names the attach points under work_dir (attached builds)
  RootfsBuild build = RootfsBuild::kAuto;
  uint64_t disk_bytes = 0;
  // The template's layers, topmost first (host paths of unpacked layer trees).
  std::vector<std::string> layers;
  // Host-backed built-in: also an overlay for /usr over the host's /usr; `usr_layers` are the
  // template's layers' usr/ dirs that exist, topmost first (a snapshot of a built-in).
  bool host_usr = false;
  std::vector<std::string> usr_layers;
  std::string host_usr_path = "/usr";
  int userns_fd = -1;    // the sandbox's user namespace: the idmap of every lower
  uint32_t id_base = 0;  // the sandbox's root on the host: owner of the upper dirs
  // A detached build takes this disk (already of disk_bytes: resizeDisk) instead of making one;
  // whatever its upper holds (a skeleton) is the root's. Left empty (moved from) once taken.
  PreparedDisk* prepared = nullptr;
};

// One step of the plan, for tests and error messages.
struct RootfsStep {
  enum class Kind { kDisk, kUpperDirs, kIdmappedLower, kOverlay };
  Kind kind;
  std::string what;
};

// The overlay mount options for lowers given as fds (/proc/self/fd/N, top first), an upper and
// a work dir. Pure. Redirects are neither made nor followed (redirect_dir=nofollow: "off" would
// still follow one a lower layer carried), metacopy and index are off, whatever the kernel's
// defaults: an upper dir then holds whole files and plain whiteouts, what a snapshot reads.
std::string overlayOptions(const std::vector<int>& lower_fds, int upper_fd, int work_fd);
// The same as fsconfig(2) parameters, in order.
std::vector<std::pair<std::string, std::string>> overlayParams(const std::vector<int>& lower_fds,
                                                               int upper_fd, int work_fd);

// Whether overlayfs here takes layers, an upper and a work dir that are detached mounts (6.15+;
// before, it wants them in the mounter's mount namespace). Probed once, with a throwaway tmpfs;
// false without CAP_SYS_ADMIN.
bool overlayTakesDetachedLayers();

struct BuiltRootfs {
  UniqueFd root;  // detached overlay for /
  UniqueFd usr;   // detached overlay for /usr (host-backed), else invalid
  UniqueFd disk;  // the disk's root directory, O_DIRECTORY (snapshots read upper/, usr/)
};

// The disk's layout.
inline constexpr const char* kDiskUpper = "upper";
inline constexpr const char* kDiskWork = "work";
inline constexpr const char* kDiskUsrUpper = "usr";
inline constexpr const char* kDiskUsrWork = "usr-work";
inline constexpr const char* kDiskEmpty = "empty";

// An attached build: EPERM unless the caller entered a private mount namespace
// (enterPrivateMountNamespace) and is still in it. Nothing is left attached or on disk when it
// fails (the disk tmpfs dies with its last fd).
Result<BuiltRootfs> buildRootfs(const RootfsSpec& spec, const std::string& work_dir);

// A disk of `bytes` for a sandbox whose root is `id_base` on the host, as a detached build makes
// it (ENOTSUP where builds are not detached: overlayTakesDetachedLayers).
Result<PreparedDisk> prepareDisk(uint64_t bytes, uint32_t id_base);

// Gives the disk tmpfs (BuiltRootfs::disk) a new size limit, through the new mount API's
// reconfigure (fspick(2), fsconfig(2) "size"): a taken pooled sandbox gets the disk its create
// asked for. EINVAL when the tmpfs already holds more than that.
Result<void> resizeDisk(int disk_fd, uint64_t bytes);

// Whether this kernel and `path`'s filesystem allow an idmapped mount of it (EINVAL/EPERM from
// mount_setattr otherwise), tried with a throwaway user namespace mapping one id.
inline constexpr uint32_t kProbeIdBase = 4000000000u;
Result<void> probeIdmappedMount(const std::string& path);

// Joins a new mount namespace in which nothing propagates back to the host (MS_SLAVE: mounts
// made on the host still show up here). For declawd's main() while it is single-threaded.
Result<void> enterPrivateMountNamespace();

}  // namespace declaw::runtime
