// runtime/cgroup against the real kernel: limits hold, freezing stops the clock, killAll empties
// a cgroup, and nothing is left behind. Runs as root. Every cgroup lives under a subtree named
// for this test process (declaw-test-<pid>), so a daemon running on the same host is never
// touched, and each test removes its subtree even when it fails.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cgroup_test_support.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::cgroup_test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

uint64_t cpuNs(const Cgroup& cg) {
  auto u = cg.usage();
  REQUIRE(u.ok());
  REQUIRE(u->cpu_usage_ns.has_value());
  return *u->cpu_usage_ns;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Cores used over `window`, from the cgroup's own cpu accounting.
double coresOver(const Cgroup& cg, std::chrono::milliseconds window) {
  const uint64_t before = cpuNs(cg);
  const auto start = Clock::now();
  std::this_thread::sleep_for(window);
  const uint64_t after = cpuNs(cg);
  return static_cast<double>(after - before) / 1e9 / seconds(Clock::now() - start);
}

// killAll empties the cgroup and remove() deletes it while the killed child is still an
// unreaped zombie: a zombie holds no cgroup, so the daemon may reap and remove in either order.
void expectKilledAndGone(const Cgroup& cg, Child& child) {
  auto killed = cg.killAll();
  INFO((killed ? "" : killed.error().describe()));
  REQUIRE(killed.ok());
  auto left = cg.pids();
  REQUIRE(left.ok());
  CHECK(left->empty());
  auto removed = cg.remove();
  INFO((removed ? "" : removed.error().describe()));
  REQUIRE(removed.ok());
  for (const std::string& dir : cg.plan().dirs) CHECK_FALSE(exists(dir));
  CHECK(cg.remove().ok());  // idempotent
  const int status = child.wait();
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

}  // namespace

TEST_CASE("a process limited to 20 pids cannot fork past the limit") {
  requireRoot();
  TestSubtree subtree(hostLayout());
  Cgroup cg = subtree.make("pids", CgroupLimits{0, 0, 20});
  Child child([](int report) {
    int forks = 0;
    for (; forks < 100; ++forks) {
      pid_t pid = ::fork();
      if (pid < 0) break;
      if (pid == 0) {
        ::pause();
        ::_exit(0);
      }
    }
    std::string n = std::to_string(forks);
    (void)!::write(report, n.data(), n.size());
    ::pause();
    return 0;
  });
  REQUIRE(cg.attach(child.pid()).ok());
  child.go();
  const int forks = std::stoi(child.report());
  std::printf("pids=20: the attached process forked %d times before EAGAIN\n", forks);
  CHECK(forks >= 15);
  CHECK(forks <= 19);  // the forking process itself is the 20th
  auto u = cg.usage();
  REQUIRE(u.ok());
  CHECK(u->pids == uint64_t{20});
  CHECK(u->pids_limit == uint64_t{20});
  expectKilledAndGone(cg, child);
}

TEST_CASE("a process touching 256 MiB under a 64 MiB limit is OOM-killed and counted") {
  requireRoot();
  TestSubtree subtree(hostLayout());
  Cgroup cg = subtree.make("mem", CgroupLimits{0, 64 * kMiB, 0});
  auto before = cg.usage();
  REQUIRE(before.ok());
  CHECK(before->memory_limit == 64 * kMiB);
  REQUIRE(before->oom_kills.has_value());
  CHECK(*before->oom_kills == 0);
  Child child([](int) {
    const size_t size = 256 * kMiB;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 3;
    std::memset(p, 0x5a, size);
    return 0;  // survived: the limit did not hold
  });
  REQUIRE(cg.attach(child.pid()).ok());
  child.go();
  const int status = child.wait();
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  auto after = cg.usage();
  REQUIRE(after.ok());
  REQUIRE(after->oom_kills.has_value());
  std::printf("memory=64MiB: child killed by signal %d, oom_kills %llu -> %llu (exact: %s)\n",
              WTERMSIG(status), static_cast<unsigned long long>(*before->oom_kills),
              static_cast<unsigned long long>(*after->oom_kills),
              after->oom_kills_exact ? "yes" : "no, failcnt");
  CHECK(*after->oom_kills >= 1);
  CHECK(*after->memory_bytes < 64 * kMiB);
  REQUIRE(cg.remove().ok());
}

TEST_CASE("cpu=0.5 gets about half a core; frozen it gets none; thawed it runs again") {
  requireRoot();
  TestSubtree subtree(hostLayout());
  Cgroup cg = subtree.make("cpu", CgroupLimits{0.5, 0, 0});
  Child child(spinForever);
  REQUIRE(cg.attach(child.pid()).ok());
  child.go();
  std::this_thread::sleep_for(200ms);

  const double running = coresOver(cg, 2000ms);
  std::printf("cpu=0.5: a busy loop used %.3f cores over 2 s\n", running);
  CHECK(running > 0.2);
  CHECK(running < 0.8);

  REQUIRE(cg.freeze().ok());
  CHECK(*cg.frozen());
  const double frozen = coresOver(cg, 500ms);
  std::printf("frozen: %.6f cores over 0.5 s\n", frozen);
  CHECK(frozen < 0.005);

  REQUIRE(cg.thaw().ok());
  CHECK_FALSE(*cg.frozen());
  const double thawed = coresOver(cg, 1000ms);
  std::printf("thawed: %.3f cores over 1 s\n", thawed);
  CHECK(thawed > 0.2);

  expectKilledAndGone(cg, child);
}

TEST_CASE("killAll empties a cgroup whose processes keep forking, and a frozen one") {
  requireRoot();
  TestSubtree subtree(hostLayout());
  Cgroup cg = subtree.make("bomb", CgroupLimits{0, 0, 64});
  Child child([](int) -> int {
    for (;;) (void)::fork();  // every child forks too: a bomb held only by pids.max
  });
  REQUIRE(cg.attach(child.pid()).ok());
  child.go();
  std::this_thread::sleep_for(300ms);
  auto u = cg.usage();
  REQUIRE(u.ok());
  std::printf("fork bomb: %llu pids in the cgroup before killAll\n",
              static_cast<unsigned long long>(u->pids.value_or(0)));
  CHECK(u->pids.value_or(0) > 32);
  REQUIRE(cg.freeze().ok());  // a paused sandbox can be killed too
  const auto start = Clock::now();
  expectKilledAndGone(cg, child);
  std::printf("fork bomb: killAll + remove took %.3f s\n", seconds(Clock::now() - start));
}

TEST_CASE("leftovers of a crashed run are listed, killed and removed") {
  requireRoot();
  TestSubtree subtree(hostLayout());
  {
    // "Crash": the Cgroup objects go away without remove().
    Cgroup a = subtree.make("sbx-a", CgroupLimits{0, 0, 10});
    Cgroup b = subtree.make("sbx-b", CgroupLimits{});
    (void)b;
  }
  auto plan = planSandboxCgroup(subtree.layout(), testOptions(), "sbx-a", CgroupLimits{});
  REQUIRE(plan.ok());
  Child child([](int) {
    ::pause();
    return 0;
  });
  REQUIRE(Cgroup::adopt(*plan).attach(child.pid()).ok());

  // A second create of the same id is an error naming the directory, unless told to reuse it.
  auto again = Cgroup::create(*plan);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == EEXIST);
  CHECK(again.error().message.find(plan->dirs.front()) != std::string::npos);
  auto reuse = planSandboxCgroup(subtree.layout(), testOptions(), "sbx-a", CgroupLimits{}, true);
  CHECK(Cgroup::create(*reuse).ok());

  auto names = listSandboxCgroups(subtree.layout(), testOptions());
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"sbx-a", "sbx-b"});
  for (const std::string& name : *names) {
    auto r = removeLeftoverCgroup(subtree.layout(), testOptions(), name);
    INFO((r ? "" : r.error().describe()));
    CHECK(r.ok());
  }
  const int status = child.wait();
  CHECK(WIFSIGNALED(status));
  names = listSandboxCgroups(subtree.layout(), testOptions());
  REQUIRE(names.ok());
  CHECK(names->empty());
  for (const std::string& dir : plan->dirs) CHECK_FALSE(exists(dir));
  CHECK(removeLeftoverCgroup(subtree.layout(), testOptions(), "sbx-a").ok());  // nothing: fine
}

TEST_CASE("writes carry the file and the value in their errors") {
  requireRoot();
  TestSubtree subtree(hostLayout());
  auto plan = planSandboxCgroup(subtree.layout(), testOptions(), "bad", CgroupLimits{});
  REQUIRE(plan.ok());
  plan->create.push_back(
      CgroupOp{CgroupOp::Kind::kWrite, plan->procs_files.front(), "not-a-pid", false});
  auto cg = Cgroup::create(*plan);
  REQUIRE_FALSE(cg.ok());
  CHECK(cg.error().describe().find("write not-a-pid to " + plan->procs_files.front() + ": ") == 0);
  for (const std::string& dir : plan->dirs) CHECK_FALSE(exists(dir));  // undone
}
