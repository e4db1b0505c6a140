// Cgroup plans read as values, without root: which directories, which writes in which order,
// where a pid is attached and where usage is read, on v1, v2 and hybrid hosts.
#include "runtime/cgroup_plan.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "cgroup_samples.h"

using namespace declaw::runtime;
using namespace declaw::cgroup_samples;
using Strings = std::vector<std::string>;
using Kind = CgroupOp::Kind;

namespace {

constexpr const char* kMem = "/sys/fs/cgroup/memory/process_api/fea85fd0dc2a2b0b1ff4a658d5c91194";
constexpr const char* kService = "/sys/fs/cgroup/system.slice/declawd.service";

CgroupLayout thisMachine() { return *layoutFromProc(kThisMachineMountinfo, kThisMachineCgroup); }

CgroupLayout systemdV2(const char* proc_cgroup = kSystemdV2Cgroup,
                       const char* controllers = "cpuset cpu io memory pids") {
  CgroupLayout layout = *layoutFromProc(kSystemdV2Mountinfo, proc_cgroup);
  layout.v2.controllers = parseControllerList(controllers);
  return layout;
}

CgroupOp mkdirOp(std::string path, bool may_exist) {
  return {Kind::kMkdir, std::move(path), "", may_exist};
}
CgroupOp writeOp(std::string path, std::string value, bool optional = false) {
  return {Kind::kWrite, std::move(path), std::move(value), optional};
}

// The writes of a plan, as "path=value" lines, in order.
Strings writes(const std::vector<CgroupOp>& ops) {
  Strings out;
  for (const CgroupOp& op : ops) {
    if (op.kind == Kind::kWrite) out.push_back(op.path + "=" + op.value);
  }
  return out;
}

const CgroupLimits kLimits{0.5, 512ull << 20, 256};

}  // namespace

TEST_CASE("v1: one subtree directory per hierarchy, below this process's own cgroups") {
  auto plan = planSubtree(thisMachine(), CgroupOptions{});
  REQUIRE(plan.ok());
  CHECK(plan->subtree_dirs == Strings{"/sys/fs/cgroup/cpu/declaw", "/sys/fs/cgroup/cpuacct/declaw",
                                      std::string(kMem) + "/declaw",
                                      "/sys/fs/cgroup/freezer/declaw",
                                      "/sys/fs/cgroup/pids/declaw"});
  REQUIRE(plan->ops.size() == 5);
  for (const CgroupOp& op : plan->ops) {
    CHECK(op.kind == Kind::kMkdir);
    CHECK(op.tolerant);  // a restarted daemon finds them there
  }
}

TEST_CASE("v1 at the hierarchy root, Docker style, when asked") {
  auto plan = planSubtree(thisMachine(), CgroupOptions{"declaw", CgroupParent::kHierarchyRoot});
  REQUIRE(plan.ok());
  CHECK(plan->subtree_dirs[2] == "/sys/fs/cgroup/memory/declaw");
}

TEST_CASE("v1 sandbox: a leaf per hierarchy, limits in the right files and order") {
  auto plan = planSandboxCgroup(thisMachine(), CgroupOptions{}, "sbx-1", kLimits);
  REQUIRE(plan.ok());
  CHECK(plan->version == CgroupVersion::kV1);
  const std::string mem = std::string(kMem) + "/declaw/sbx-1";
  CHECK(plan->dirs ==
        Strings{"/sys/fs/cgroup/cpu/declaw/sbx-1", "/sys/fs/cgroup/cpuacct/declaw/sbx-1", mem,
                "/sys/fs/cgroup/freezer/declaw/sbx-1", "/sys/fs/cgroup/pids/declaw/sbx-1"});
  for (size_t i = 0; i < plan->dirs.size(); ++i) {
    CHECK(plan->create[i] == mkdirOp(plan->dirs[i], false));  // EEXIST is an error
    CHECK(plan->procs_files[i] == plan->dirs[i] + "/cgroup.procs");
  }
  CHECK(writes(plan->create) ==
        Strings{mem + "/memory.memsw.limit_in_bytes=-1", mem + "/memory.limit_in_bytes=536870912",
                mem + "/memory.memsw.limit_in_bytes=536870912", mem + "/memory.oom_control=0",
                "/sys/fs/cgroup/pids/declaw/sbx-1/pids.max=256",
                "/sys/fs/cgroup/cpu/declaw/sbx-1/cpu.cfs_period_us=100000",
                "/sys/fs/cgroup/cpu/declaw/sbx-1/cpu.cfs_quota_us=50000"});
  // memsw and oom_control may be missing (swap accounting off); the limits themselves may not.
  for (const CgroupOp& op : plan->create) {
    const bool optional = op.path.find("memsw") != std::string::npos ||
                          op.path.find("oom_control") != std::string::npos;
    CHECK(op.tolerant == (op.kind == Kind::kWrite && optional));
  }
  CHECK(plan->clone_into_dir.empty());  // CLONE_INTO_CGROUP is v2 only
  CHECK(plan->files.freeze == "/sys/fs/cgroup/freezer/declaw/sbx-1/freezer.state");
  CHECK(plan->files.kill.empty());
  CHECK(plan->files.cpu_usage == "/sys/fs/cgroup/cpuacct/declaw/sbx-1/cpuacct.usage");
  CHECK(plan->files.memory_current == mem + "/memory.usage_in_bytes");
  CHECK(plan->files.oom_events == mem + "/memory.oom_control");
  CHECK(plan->files.oom_fallback == mem + "/memory.failcnt");
  CHECK(plan->files.pids_limit == "/sys/fs/cgroup/pids/declaw/sbx-1/pids.max");
}

TEST_CASE("v1 unlimited sandbox writes the kernel's 'no limit' values") {
  auto plan = planSandboxCgroup(thisMachine(), CgroupOptions{}, "sbx-2", CgroupLimits{});
  REQUIRE(plan.ok());
  const std::string mem = std::string(kMem) + "/declaw/sbx-2";
  CHECK(writes(plan->create) ==
        Strings{mem + "/memory.memsw.limit_in_bytes=-1", mem + "/memory.limit_in_bytes=-1",
                mem + "/memory.oom_control=0", "/sys/fs/cgroup/pids/declaw/sbx-2/pids.max=max",
                "/sys/fs/cgroup/cpu/declaw/sbx-2/cpu.cfs_period_us=100000",
                "/sys/fs/cgroup/cpu/declaw/sbx-2/cpu.cfs_quota_us=-1"});
}

TEST_CASE("v1 with cpu,cpuacct co-mounted: one directory holds quota and accounting") {
  auto layout = layoutFromProc(kHybridMountinfo, kHybridCgroup);
  REQUIRE(layout.ok());
  auto plan = planSandboxCgroup(*layout, CgroupOptions{}, "sbx-3", kLimits);
  REQUIRE(plan.ok());
  const std::string cpu = "/sys/fs/cgroup/cpu,cpuacct/system.slice/declawd.service/declaw/sbx-3";
  CHECK(plan->dirs.size() == 4);
  CHECK(plan->dirs[0] == cpu);
  CHECK(plan->files.cpu_usage == cpu + "/cpuacct.usage");
  CHECK(std::count(plan->create.begin(), plan->create.end(),
                   writeOp(cpu + "/cpu.cfs_quota_us", "50000")) == 1);
}

TEST_CASE("v2 subtree: the daemon moves to a leaf, then controllers are enabled top-down") {
  auto plan = planSubtree(systemdV2(), CgroupOptions{});
  REQUIRE(plan.ok());
  const std::string root = kService;
  CHECK(plan->subtree_dirs == Strings{root + "/declaw"});
  REQUIRE(plan->ops.size() == 5);
  CHECK(plan->ops[0] == mkdirOp(root + "/daemon", true));
  CHECK(plan->ops[1] == CgroupOp{Kind::kMoveAllProcesses, root + "/daemon/cgroup.procs",
                                 root + "/cgroup.procs", false});
  CHECK(plan->ops[2] == mkdirOp(root + "/declaw", true));
  // cpuset and io are offered but not ours.
  CHECK(plan->ops[3] == writeOp(root + "/cgroup.subtree_control", "+cpu +memory +pids"));
  CHECK(plan->ops[4] == writeOp(root + "/declaw/cgroup.subtree_control", "+cpu +memory +pids"));
}

TEST_CASE("v2 subtree of a daemon already in its leaf is the same plan (idempotent)") {
  auto again = planSubtree(systemdV2("0::/system.slice/declawd.service/daemon\n"), {});
  auto first = planSubtree(systemdV2(), {});
  REQUIRE(again.ok());
  CHECK(again->ops == first->ops);
}

TEST_CASE("v2 subtree in the root cgroup moves nobody (the root may hold processes)") {
  auto plan = planSubtree(systemdV2("0::/\n"), CgroupOptions{});
  REQUIRE(plan.ok());
  CHECK(plan->subtree_dirs == Strings{"/sys/fs/cgroup/declaw"});
  for (const CgroupOp& op : plan->ops) CHECK(op.kind != Kind::kMoveAllProcesses);
}

TEST_CASE("v2 sandbox: one leaf, cpu.max as 'quota period', no swap, CLONE_INTO_CGROUP dir") {
  auto plan = planSandboxCgroup(systemdV2(), CgroupOptions{}, "sbx-1", kLimits);
  REQUIRE(plan.ok());
  const std::string leaf = std::string(kService) + "/declaw/sbx-1";
  CHECK(plan->version == CgroupVersion::kV2);
  CHECK(plan->dirs == Strings{leaf});
  CHECK(plan->create[0] == mkdirOp(leaf, false));
  CHECK(plan->create[1] == writeOp(leaf + "/memory.max", "536870912"));
  CHECK(plan->create[2] == writeOp(leaf + "/memory.swap.max", "0", true));
  CHECK(plan->create[3] == writeOp(leaf + "/pids.max", "256"));
  CHECK(plan->create[4] == writeOp(leaf + "/cpu.max", "50000 100000"));
  CHECK(plan->create.size() == 5);
  CHECK(plan->procs_files == Strings{leaf + "/cgroup.procs"});
  CHECK(plan->clone_into_dir == leaf);
  CHECK(plan->files.freeze == leaf + "/cgroup.freeze");
  CHECK(plan->files.freeze_state == leaf + "/cgroup.events");
  CHECK(plan->files.kill == leaf + "/cgroup.kill");
  CHECK(plan->files.cpu_usage == leaf + "/cpu.stat");
  CHECK(plan->files.memory_limit == leaf + "/memory.max");
  CHECK(plan->files.oom_events == leaf + "/memory.events");
  CHECK(plan->files.oom_fallback.empty());
}

TEST_CASE("v2 unlimited sandbox writes max") {
  auto plan = planSandboxCgroup(systemdV2(), CgroupOptions{}, "sbx-2", CgroupLimits{});
  REQUIRE(plan.ok());
  const std::string leaf = std::string(kService) + "/declaw/sbx-2";
  CHECK(writes(plan->create) == Strings{leaf + "/memory.max=max", leaf + "/memory.swap.max=max",
                                        leaf + "/pids.max=max", leaf + "/cpu.max=max 100000"});
}

TEST_CASE("a limit whose controller is not delegated is refused, naming the fix") {
  CgroupLayout layout = systemdV2(kSystemdV2Cgroup, "cpu pids");
  auto plan = planSandboxCgroup(layout, CgroupOptions{}, "sbx-1", kLimits);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().code == ENOTSUP);
  CHECK(plan.error().message.find("'memory'") != std::string::npos);
  CHECK(plan.error().message.find("Delegate=yes") != std::string::npos);
}

TEST_CASE("without a limit, a missing controller only leaves its usage unknown") {
  CgroupLayout layout = systemdV2(kSystemdV2Cgroup, "cpu pids");
  auto plan = planSandboxCgroup(layout, CgroupOptions{}, "sbx-1", CgroupLimits{1.0, 0, 64});
  REQUIRE(plan.ok());
  CHECK(plan->files.memory_current.empty());
  CHECK(plan->files.oom_events.empty());
  CHECK_FALSE(plan->files.pids_current.empty());
  auto subtree = planSubtree(layout, CgroupOptions{});
  CHECK(subtree->ops[3] ==
        writeOp(std::string(kService) + "/cgroup.subtree_control", "+cpu +pids"));
}

TEST_CASE("v2 core only (a hybrid host's unified mount): freeze and kill, no limits") {
  CgroupLayout layout = thisMachine();
  layout.version = CgroupVersion::kV2;
  layout.v2.controllers = {"hugetlb"};
  auto subtree = planSubtree(layout, CgroupOptions{"declaw-test"});
  REQUIRE(subtree.ok());
  CHECK(subtree->ops == std::vector<CgroupOp>{mkdirOp("/sys/fs/cgroup/unified/declaw-test", true)});
  auto plan = planSandboxCgroup(layout, CgroupOptions{"declaw-test"}, "t", CgroupLimits{});
  REQUIRE(plan.ok());
  CHECK(plan->create.size() == 1);
  CHECK(plan->files.freeze == "/sys/fs/cgroup/unified/declaw-test/t/cgroup.freeze");
  CHECK_FALSE(planSandboxCgroup(layout, {"declaw-test"}, "t", CgroupLimits{0, 0, 10}).ok());
}

TEST_CASE("a leftover leaf is taken over only when asked") {
  auto plan = planSandboxCgroup(systemdV2(), CgroupOptions{}, "sbx-1", kLimits, true);
  REQUIRE(plan.ok());
  CHECK(plan->create[0].tolerant);
}

TEST_CASE("names that could walk out of the subtree are refused") {
  for (const char* bad : {"", ".", "..", "../x", "a/b", "sbx 1", "daemon", "sbx\n",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    INFO(bad);
    auto plan = planSandboxCgroup(systemdV2(), CgroupOptions{}, bad, kLimits);
    REQUIRE_FALSE(plan.ok());
    CHECK(plan.error().code == EINVAL);
  }
  CHECK_FALSE(planSubtree(systemdV2(), CgroupOptions{"a/b"}).ok());
  CHECK_FALSE(planSubtree(systemdV2(), CgroupOptions{"daemon"}).ok());  // the daemon's leaf
  CHECK(validCgroupName("sbx-1a2b_c.d"));
}

TEST_CASE("cpu limits below the kernel's 1 ms quota or not numbers are refused") {
  for (double cores : {-1.0, 0.005, double(NAN), double(INFINITY), 1e6}) {
    INFO(cores);
    CHECK_FALSE(planSandboxCgroup(systemdV2(), {}, "s", CgroupLimits{cores, 0, 0}).ok());
  }
  auto smallest = planSandboxCgroup(systemdV2(), {}, "s", CgroupLimits{0.01, 0, 0});
  REQUIRE(smallest.ok());
  CHECK(writes(smallest->create).back() == std::string(kService) + "/declaw/s/cpu.max=1000 100000");
  auto many = planSandboxCgroup(systemdV2(), {}, "s", CgroupLimits{1.5, 0, 0});
  CHECK(writes(many->create).back() == std::string(kService) + "/declaw/s/cpu.max=150000 100000");
}

TEST_CASE("counters, limits and keyed files parse as the kernel writes them") {
  CHECK(parseCgroupCounter("12345\n") == 12345u);
  CHECK_FALSE(parseCgroupCounter("max\n").has_value());
  CHECK_FALSE(parseCgroupCounter("").has_value());
  CHECK(parseCgroupLimit("67108864\n") == 67108864u);
  CHECK_FALSE(parseCgroupLimit("max\n").has_value());
  CHECK_FALSE(parseCgroupLimit("9223372036854771712\n").has_value());  // v1 "unlimited"
  const char* stat = "usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n";
  CHECK(parseKeyedValue(stat, "usage_usec") == 250000u);
  CHECK(parseKeyedValue(stat, "system_usec") == 50000u);
  CHECK_FALSE(parseKeyedValue(stat, "usage").has_value());
  const char* events = "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n";
  CHECK(parseKeyedValue(events, "oom_kill") == 1u);
  CHECK(parseKeyedValue("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill") == 3u);
  CHECK_FALSE(parseKeyedValue("oom_kill_disable 0\nunder_oom 0\n", "oom_kill").has_value());
}

TEST_CASE("frozen means fully frozen: v1 FREEZING and v2 frozen 0 are not") {
  CHECK(parseFrozen(CgroupVersion::kV1, "FROZEN\n"));
  CHECK_FALSE(parseFrozen(CgroupVersion::kV1, "FREEZING\n"));
  CHECK_FALSE(parseFrozen(CgroupVersion::kV1, "THAWED\n"));
  CHECK(parseFrozen(CgroupVersion::kV2, "populated 1\nfrozen 1\n"));
  CHECK_FALSE(parseFrozen(CgroupVersion::kV2, "populated 1\nfrozen 0\n"));
}

TEST_CASE("cgroup.procs lists pids, one a line") {
  CHECK(parseProcs("12\n345\n") == std::vector<int>{12, 345});
  CHECK(parseProcs("").empty());
  CHECK(parseProcs("x\n0\n-3\n7") == std::vector<int>{7});
}
