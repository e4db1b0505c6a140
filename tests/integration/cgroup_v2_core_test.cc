// The cgroup v2 code paths on the real kernel. On a v2 host this is the full module; on a v1 or
// hybrid host (this project's machines) the v2 controllers are bound to v1, but the cgroup2
// mount still offers the v2 core: mkdir, cgroup.procs, CLONE_INTO_CGROUP, cgroup.freeze with
// cgroup.events, cgroup.kill and cpu.stat. Those run for real here; limits are v1-only here.
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cgroup_test_support.h"
#include "common/io.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::cgroup_test;
using namespace std::chrono_literals;

namespace {

// The host's layout, switched to its cgroup2 mount; nullopt when it has none.
std::optional<CgroupLayout> v2Layout() {
  CgroupLayout layout = hostLayout();
  if (layout.v2.mount_point.empty()) return std::nullopt;
  layout.version = CgroupVersion::kV2;
  return layout;
}

// A child started inside the cgroup by clone3(CLONE_INTO_CGROUP): it never runs outside it.
// Spins until killed; killed and reaped on destruction.
class ClonedChild {
 public:
  explicit ClonedChild(int cgroup_fd) {
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
    pid_ = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
    if (pid_ == 0) spinForever(-1);
    REQUIRE(pid_ > 0);
  }
  ~ClonedChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
};

uint64_t cpuNs(const Cgroup& cg) {
  auto u = cg.usage();
  REQUIRE(u.ok());
  REQUIRE(u->cpu_usage_ns.has_value());
  return *u->cpu_usage_ns;
}

}  // namespace

TEST_CASE("v2: a clone3 child starts in the cgroup; freeze, thaw and cgroup.kill act on it") {
  requireRoot();
  auto layout = v2Layout();
  if (!layout) {
    // Not a silent pass: the host must truly have no cgroup2 mount (detection did not miss it).
    CHECK_FALSE(hostHasCgroup2Mount());
    WARN("no cgroup2 mount on this host (checked in /proc/self/mounts): the v2 core cannot run");
    return;
  }
  TestSubtree subtree(*layout);
  Cgroup cg = subtree.make("core", CgroupLimits{});
  auto dir = cg.openDir();
  REQUIRE(dir.ok());
  ClonedChild child(dir->get());

  // In the cgroup from birth: /proc/<pid>/cgroup names it, cgroup.procs lists it.
  auto self = readFile("/proc/" + std::to_string(child.pid()) + "/cgroup", 1 << 16);
  REQUIRE(self.ok());
  const std::string leaf_suffix = "/" + subtreeName() + "/core\n";
  CHECK(self->find("0::") != std::string::npos);
  CHECK(self->find(leaf_suffix) != std::string::npos);
  auto pids = cg.pids();
  REQUIRE(pids.ok());
  CHECK(*pids == std::vector<pid_t>{child.pid()});

  std::this_thread::sleep_for(300ms);
  const uint64_t ran = cpuNs(cg);
  std::printf("v2 core: cpu.stat usage after 0.3 s of spinning: %.3f s\n",
              static_cast<double>(ran) / 1e9);
  CHECK(ran > 50'000'000u);

  REQUIRE(cg.freeze().ok());
  CHECK(*cg.frozen());
  const uint64_t frozen_at = cpuNs(cg);
  std::this_thread::sleep_for(300ms);
  const uint64_t frozen_delta = cpuNs(cg) - frozen_at;
  std::printf("v2 core: cpu while frozen for 0.3 s: %.6f s\n",
              static_cast<double>(frozen_delta) / 1e9);
  CHECK(frozen_delta < 2'000'000u);

  REQUIRE(cg.thaw().ok());
  CHECK_FALSE(*cg.frozen());
  const uint64_t thawed_at = cpuNs(cg);
  std::this_thread::sleep_for(300ms);
  CHECK(cpuNs(cg) - thawed_at > 50'000'000u);

  auto u = cg.usage();
  REQUIRE(u.ok());
  if (!layout->hasController("memory")) CHECK_FALSE(u->memory_bytes.has_value());
  if (!layout->hasController("pids")) CHECK_FALSE(u->pids.has_value());

  auto killed = cg.killAll();  // cgroup.kill (5.14+)
  INFO((killed ? "" : killed.error().describe()));
  REQUIRE(killed.ok());
  const int status = child.wait();
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  REQUIRE(cg.remove().ok());
  for (const std::string& d : cg.plan().dirs) CHECK_FALSE(exists(d));
}

TEST_CASE("v2: a paused cgroup can be killed, and leftovers are found and removed") {
  requireRoot();
  auto layout = v2Layout();
  if (!layout) {
    // Not a silent pass: the host must truly have no cgroup2 mount (detection did not miss it).
    CHECK_FALSE(hostHasCgroup2Mount());
    WARN("no cgroup2 mount on this host (checked in /proc/self/mounts): the v2 core cannot run");
    return;
  }
  TestSubtree subtree(*layout);
  {
    Cgroup crashed = subtree.make("sbx-left", CgroupLimits{});
    auto dir = crashed.openDir();
    REQUIRE(dir.ok());
    ClonedChild child(dir->get());
    REQUIRE(crashed.freeze().ok());
    auto names = listSandboxCgroups(*layout, testOptions());
    REQUIRE(names.ok());
    CHECK(*names == std::vector<std::string>{"sbx-left"});
    auto r = removeLeftoverCgroup(*layout, testOptions(), "sbx-left");
    INFO((r ? "" : r.error().describe()));
    CHECK(r.ok());
    const int status = child.wait();
    CHECK(WIFSIGNALED(status));
  }
  auto names = listSandboxCgroups(*layout, testOptions());
  REQUIRE(names.ok());
  CHECK(names->empty());
}

TEST_CASE("no cgroup directory of this test run is left under /sys/fs/cgroup") {
  requireRoot();
  CHECK(findDirsNamed(kCgroupRoot, subtreeName()).empty());
}
