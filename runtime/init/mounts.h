// Applies a rootfs plan (mount_plan.h) and switches into it. Dumb on purpose: every decision is
// in the plan; this file only knows how to perform each kind of step and the kernel's rules for
// doing so inside a user namespace.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/init/mount_plan.h"

namespace declaw::runtime::init {

// Where the new root is assembled before pivot_root: the host's /tmp, which every host has
// (bubblewrap uses it the same way). Our tmpfs hides it in this mount namespace only.
inline constexpr const char* kStagingDir = "/tmp";

// Stops mount events propagating between this mount namespace and the host's, both ways.
Result<void> makeMountsPrivate();

// Performs every step under `staging` (a step's target "/" is `staging` itself); kAttach steps
// take their mounts from `root_fds`. Stops at the first failure, naming the step. Runs under
// umask 0 (set for its duration): every mode is the step's exactly.
Result<void> applyRootfsPlan(const std::vector<MountStep>& steps, const std::string& staging,
                             std::span<const UniqueFd> root_fds);

// Makes `new_root` (a mount point) the root and working directory, and detaches the old root so
// that no path leads back to the host's tree.
Result<void> pivotInto(const std::string& new_root);

}  // namespace declaw::runtime::init
