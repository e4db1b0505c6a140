// Cgroup layout detection from captured /proc texts: v1, v2 and hybrid hosts, containers, and
// the daemon's own place in each hierarchy.
#include "runtime/cgroup_layout.h"

#include <catch2/catch.hpp>

#include "cgroup_samples.h"

using namespace declaw::runtime;
using namespace declaw::cgroup_samples;
using Strings = std::vector<std::string>;

TEST_CASE("mountinfo yields only cgroup mounts, with v1 controllers from the super options") {
  auto mounts = parseCgroupMounts(kHybridMountinfo);
  REQUIRE(mounts.size() == 7);
  CHECK(mounts[0].v2);
  CHECK(mounts[0].mount_point == "/sys/fs/cgroup/unified");
  CHECK(mounts[0].controllers.empty());
  CHECK(mounts[1].controllers == Strings{"name=systemd"});       // "xattr" is a flag
  CHECK(mounts[2].mount_point == "/sys/fs/cgroup/cpu,cpuacct");  // despite "master:1"
  CHECK(mounts[2].controllers == Strings{"cpu", "cpuacct"});
  CHECK(mounts[2].root == "/");
}

TEST_CASE("mount points with escaped spaces are decoded") {
  auto mounts = parseCgroupMounts(
      "50 1 0:40 / /mnt/my\\040cgroups rw,relatime - cgroup cgroup rw,release_agent=/x,pids\n");
  REQUIRE(mounts.size() == 1);
  CHECK(mounts[0].mount_point == "/mnt/my cgroups");
  CHECK(mounts[0].controllers == Strings{"pids"});
}

TEST_CASE("/proc/self/cgroup lines keep colons inside the path") {
  auto entries = parseProcCgroup("4:cpu,cpuacct:/a:b\n0::/x\nnonsense\n");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].hierarchy == 4);
  CHECK(entries[0].controllers == Strings{"cpu", "cpuacct"});
  CHECK(entries[0].path == "/a:b");
  CHECK(entries[1].hierarchy == 0);
  CHECK(entries[1].controllers.empty());
  CHECK(entries[1].path == "/x");
}

TEST_CASE("this machine is a hybrid v1 host with cpu and cpuacct mounted apart") {
  auto layout = layoutFromProc(kThisMachineMountinfo, kThisMachineCgroup);
  REQUIRE(layout.ok());
  CHECK(layout->version == CgroupVersion::kV1);
  CHECK(layout->hybrid);
  // cpuset, devices, blkio and name=systemd are not ours.
  REQUIRE(layout->v1.size() == 5);
  CHECK(layout->v1HierarchyOf("cpu")->own_dir == "/sys/fs/cgroup/cpu");
  CHECK(layout->v1HierarchyOf("cpuacct")->own_dir == "/sys/fs/cgroup/cpuacct");
  CHECK(layout->v1HierarchyOf("memory")->own_dir ==
        "/sys/fs/cgroup/memory/process_api/fea85fd0dc2a2b0b1ff4a658d5c91194");
  CHECK(layout->v1HierarchyOf("freezer")->mount_point == "/sys/fs/cgroup/freezer");
  CHECK(layout->v1HierarchyOf("pids") != nullptr);
  CHECK(layout->v1HierarchyOf("cpuset") == nullptr);
  CHECK(layout->hasController("memory"));
  CHECK_FALSE(layout->hasController("hugetlb"));
  // The cgroup2 mount is kept: the v2 core (freeze, kill) is usable there.
  CHECK(layout->v2.mount_point == "/sys/fs/cgroup/unified");
  CHECK(layout->v2.own_dir == "/sys/fs/cgroup/unified");
}

TEST_CASE("a systemd v2 host delegates the service's own cgroup") {
  auto layout = layoutFromProc(kSystemdV2Mountinfo, kSystemdV2Cgroup);
  REQUIRE(layout.ok());
  CHECK(layout->version == CgroupVersion::kV2);
  CHECK_FALSE(layout->hybrid);
  CHECK(layout->v1.empty());
  CHECK(layout->v2.mount_point == "/sys/fs/cgroup");
  CHECK(layout->v2.own_dir == "/sys/fs/cgroup/system.slice/declawd.service");
  CHECK(v2DelegatedRoot(layout->v2) == "/sys/fs/cgroup/system.slice/declawd.service");
  // Controllers come from cgroup.controllers, which only the reader opens.
  CHECK_FALSE(layout->hasController("memory"));
  layout->v2.controllers = parseControllerList("cpuset cpu io memory pids\n");
  CHECK(layout->hasController("memory"));
  CHECK(layout->hasController("cpu"));
}

TEST_CASE("a v2 daemon restarted inside its leaf still delegates the leaf's parent") {
  auto layout = layoutFromProc(kSystemdV2Mountinfo, "0::/system.slice/declawd.service/daemon\n");
  REQUIRE(layout.ok());
  CHECK(layout->v2.own_dir == "/sys/fs/cgroup/system.slice/declawd.service/daemon");
  CHECK(v2DelegatedRoot(layout->v2) == "/sys/fs/cgroup/system.slice/declawd.service");
}

TEST_CASE("a v2 daemon in a top-level leaf delegates the root") {
  auto layout = layoutFromProc(kSystemdV2Mountinfo, "0::/daemon\n");
  REQUIRE(layout.ok());
  CHECK(v2DelegatedRoot(layout->v2) == "/sys/fs/cgroup");
}

TEST_CASE("a v2 daemon in the root cgroup delegates the root") {
  auto layout = layoutFromProc(kSystemdV2Mountinfo, "0::/\n");
  REQUIRE(layout.ok());
  CHECK(layout->v2.own_dir == "/sys/fs/cgroup");
  CHECK(v2DelegatedRoot(layout->v2) == "/sys/fs/cgroup");
}

TEST_CASE("a hybrid host uses v1, with co-mounted cpu,cpuacct as one hierarchy") {
  auto layout = layoutFromProc(kHybridMountinfo, kHybridCgroup);
  REQUIRE(layout.ok());
  CHECK(layout->version == CgroupVersion::kV1);
  CHECK(layout->hybrid);
  REQUIRE(layout->v1.size() == 4);  // cpu,cpuacct  memory  pids  freezer
  CHECK(layout->v1HierarchyOf("cpu") == layout->v1HierarchyOf("cpuacct"));
  CHECK(layout->v1HierarchyOf("cpu")->own_dir ==
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/declawd.service");
  CHECK(layout->v1HierarchyOf("freezer")->own_dir == "/sys/fs/cgroup/freezer");
  CHECK(layout->v2.own_dir == "/sys/fs/cgroup/unified/system.slice/declawd.service");
}

TEST_CASE("a container's bind of its own subtree maps to the mount point") {
  // Docker on v1 without a cgroup namespace: /docker/<id> of each hierarchy is mounted at
  // /sys/fs/cgroup/<ctrl>, and /proc/self/cgroup still shows the full path.
  const char* mountinfo =
      "700 690 0:40 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
      "701 690 0:41 /docker/abc /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids\n";
  auto layout = layoutFromProc(mountinfo, "5:memory:/docker/abc\n3:pids:/docker/abc/sub\n");
  REQUIRE(layout.ok());
  CHECK(layout->v1HierarchyOf("memory")->own_dir == "/sys/fs/cgroup/memory");
  CHECK(layout->v1HierarchyOf("pids")->own_dir == "/sys/fs/cgroup/pids/sub");
}

TEST_CASE("a cgroup outside the mounted subtree is not reachable") {
  const char* mountinfo =
      "700 690 0:40 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  auto layout = layoutFromProc(mountinfo, "5:memory:/elsewhere\n");
  REQUIRE_FALSE(layout.ok());
  CHECK(layout.error().code == ENOENT);
  // A cgroup namespace shows cgroups outside it as "/..": not reachable either.
  auto v2 = layoutFromProc(kSystemdV2Mountinfo, "0::/../other.service\n");
  REQUIRE_FALSE(v2.ok());
}

TEST_CASE("a host without any cgroup filesystem is an error that says so") {
  auto layout = layoutFromProc("29 1 254:1 / / rw - ext4 /dev/vda1 rw\n", "0::/\n");
  REQUIRE_FALSE(layout.ok());
  CHECK(layout.error().code == ENOENT);
  CHECK(layout.error().message.find("no usable cgroup") != std::string::npos);
}

TEST_CASE("cgroup.controllers lists words, whatever the whitespace") {
  CHECK(parseControllerList("cpu io memory pids\n") == Strings{"cpu", "io", "memory", "pids"});
  CHECK(parseControllerList("\n").empty());
  CHECK(parseControllerList("").empty());
}
