// Which cgroup filesystems this host has and where this process sits in them.
//
// Hosts come in three shapes (cgroups(7)):
//   - v2 ("unified"): one cgroup2 mount, usually /sys/fs/cgroup; the controllers we may use are
//     those listed in cgroup.controllers of the cgroup delegated to us.
//   - v1 ("legacy"): one cgroup mount per hierarchy, each holding one or more controllers
//     (cpu and cpuacct are often co-mounted as "cpu,cpuacct", but not on every host).
//   - hybrid: v1 hierarchies plus a cgroup2 mount (systemd's /sys/fs/cgroup/unified) that holds
//     whatever controllers v1 does not bind (often none, or only hugetlb).
// The parsing is pure so unit tests feed it captured /proc texts; detectCgroupLayout() is the
// thin reader over the real /proc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace declaw::runtime {

enum class CgroupVersion { kV1, kV2 };

// One line of /proc/self/mountinfo whose filesystem is cgroup or cgroup2.
struct CgroupMount {
  bool v2 = false;
  std::string mount_point;  // octal escapes (\040) decoded
  std::string root;         // the hierarchy path mounted there ("/" unless a subtree is bound)
  // v1: the controllers in the super options ("cpu", "cpuacct", "name=systemd"); v2: empty.
  std::vector<std::string> controllers;
};

// One line of /proc/self/cgroup: "hierarchy-id:controller-list:path".
struct ProcCgroupEntry {
  int hierarchy = 0;                     // 0 is the v2 hierarchy
  std::vector<std::string> controllers;  // empty for v2
  std::string path;                      // relative to the hierarchy root, starts with '/'
};

// A v1 hierarchy that holds at least one controller declaw uses.
struct V1Hierarchy {
  std::vector<std::string> controllers;  // every controller of the mount, e.g. {cpu, cpuacct}
  std::string mount_point;
  std::string own_dir;  // this process's cgroup in the hierarchy, as a filesystem path
};

// The cgroup2 mount and this process's place in it.
struct V2Mount {
  std::string mount_point;  // empty: no cgroup2 mount
  std::string own_dir;      // this process's cgroup, as a filesystem path
  // Controllers usable below the delegated root (cgroup.controllers of that directory); filled
  // by detectCgroupLayout(), empty straight out of layoutFromProc().
  std::vector<std::string> controllers;
};

struct CgroupLayout {
  CgroupVersion version = CgroupVersion::kV2;
  bool hybrid = false;          // v1 in use and a cgroup2 mount exists too
  std::vector<V1Hierarchy> v1;  // only hierarchies holding kV1Controllers
  V2Mount v2;

  // Where a v1 controller lives; nullptr when it is not mounted.
  const V1Hierarchy* v1HierarchyOf(std::string_view controller) const;
  // Whether the version in use offers the controller (v1: mounted; v2: in cgroup.controllers).
  bool hasController(std::string_view controller) const;
};

// The v1 controllers declaw uses: limits (memory, pids, cpu), cpu accounting (cpuacct) and
// pause (freezer). A host mounting any of them as v1 is treated as a v1 host.
inline constexpr std::string_view kV1Controllers[] = {"memory", "pids", "cpu", "cpuacct",
                                                      "freezer"};
// The v2 controllers declaw enables for sandboxes (freezing and killing are in the v2 core).
inline constexpr std::string_view kV2Controllers[] = {"cpu", "memory", "pids"};

// The leaf a v2 daemon moves itself into (cgroup v2 "no internal processes" rule). When this
// process already sits in such a leaf, the delegated root is the leaf's parent.
inline constexpr std::string_view kDaemonLeaf = "daemon";

std::vector<CgroupMount> parseCgroupMounts(std::string_view mountinfo);
std::vector<ProcCgroupEntry> parseProcCgroup(std::string_view proc_self_cgroup);
// "cpu io memory pids\n" -> {cpu, io, memory, pids}
std::vector<std::string> parseControllerList(std::string_view text);

// Combines both texts into a layout (v2.controllers left empty). Errors: no cgroup filesystem,
// or this process's cgroup not reachable through the mount (a bind of another subtree).
Result<CgroupLayout> layoutFromProc(std::string_view mountinfo, std::string_view proc_self_cgroup);

// The directory whose cgroup.controllers lists what v2 sandboxes may use: the own cgroup, or its
// parent when the own cgroup is the kDaemonLeaf.
std::string v2DelegatedRoot(const V2Mount& v2);

// Reads /proc/self/mountinfo, /proc/self/cgroup and (v2, or the v2 part of a hybrid host)
// cgroup.controllers of the delegated root.
Result<CgroupLayout> detectCgroupLayout();

}  // namespace declaw::runtime
