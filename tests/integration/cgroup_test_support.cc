#include "cgroup_test_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "common/io.h"

namespace declaw::cgroup_test {

using namespace declaw::runtime;

namespace {
// /proc/self/mounts: a few kB on a test host, a few hundred on a busy container host.
constexpr size_t kMaxMountsBytes = 4 << 20;
}  // namespace

void requireRoot() {
  if (::geteuid() != 0) {
    FAIL(
        "cgroup integration tests must run as root: they create cgroups under /sys/fs/cgroup. "
        "Run them with sudo (ctest -L integration as root).");
  }
}

// Unique on the host (v1 root cgroups are shared by its containers), and written to the ledger
// integration.zz_leaks reads.
const std::string& subtreeName() {
  static const std::string kName = [] {
    std::random_device random;
    std::string n = "declaw-test-" + std::to_string(::getpid()) + "-" + std::to_string(random());
    if (const char* ledger = std::getenv("DECLAW_TEST_CGROUP_LEDGER")) {
      UniqueFd f(::open(ledger, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
      if (f) (void)writeAll(f.get(), n + "\n");
    }
    return n;
  }();
  return kName;
}

CgroupOptions testOptions() { return CgroupOptions{subtreeName(), CgroupParent::kOwnCgroup}; }

CgroupLayout hostLayout() {
  auto layout = detectCgroupLayout();
  if (!layout) FAIL("detectCgroupLayout: " << layout.error().describe());
  static const bool kPrintedOnce = [&] {
    std::printf("cgroups on this host: %s%s, cgroup2 mount %s\n",
                layout->version == CgroupVersion::kV1 ? "v1" : "v2",
                layout->hybrid ? " (hybrid)" : "",
                layout->v2.mount_point.empty() ? "none" : layout->v2.mount_point.c_str());
    return true;
  }();
  (void)kPrintedOnce;
  return *layout;
}

bool hostHasCgroup2Mount() {
  auto mounts = readFile("/proc/self/mounts", kMaxMountsBytes);
  REQUIRE(mounts);
  return mounts->find(" cgroup2 ") != std::string::npos;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

namespace {

// cgroupfs has no symlinks to loop on.
void collectDirsNamed(const std::string& dir, const std::string& name,
                      std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());  // opendir() opens O_CLOEXEC
  if (d == nullptr) return;         // vanished meanwhile (another session's cgroup)
  while (dirent* e = ::readdir(d)) {
    const std::string entry = e->d_name;
    if (e->d_type != DT_DIR || entry == "." || entry == "..") continue;
    if (entry == name) out.push_back(dir + "/" + entry);
    collectDirsNamed(dir + "/" + entry, name, out);
  }
  ::closedir(d);
}

}  // namespace

std::vector<std::string> findDirsNamed(const std::string& dir, const std::string& name) {
  std::vector<std::string> out;
  collectDirsNamed(dir, name, out);
  return out;
}

TestSubtree::TestSubtree(CgroupLayout layout) : layout_(std::move(layout)) {
  auto plan = planSubtree(layout_, testOptions());
  if (!plan) FAIL("planSubtree: " << plan.error().describe());
  if (auto r = applySubtreePlan(*plan); !r) {
    cleanUp();  // the destructor does not run when the constructor fails
    FAIL("applySubtreePlan: " << r.error().describe());
  }
}

TestSubtree::~TestSubtree() {
  cleanUp();
  std::vector<std::string> left = findDirsNamed(kCgroupRoot, subtreeName());
  INFO("left behind: " << (left.empty() ? "" : left.front()));
  CHECK(left.empty());
}

void TestSubtree::cleanUp() const {
  if (auto names = listSandboxCgroups(layout_, testOptions())) {
    for (const std::string& name : *names) {
      if (auto r = removeLeftoverCgroup(layout_, testOptions(), name); !r) {
        (void)std::fprintf(stderr, "cleanup %s: %s\n", name.c_str(), r.error().describe().c_str());
      }
    }
  }
  if (auto r = removeSubtree(layout_, testOptions()); !r) {
    (void)std::fprintf(stderr, "cleanup: %s\n", r.error().describe().c_str());
  }
}

Cgroup TestSubtree::make(const std::string& id, const CgroupLimits& limits) const {
  auto plan = planSandboxCgroup(layout_, testOptions(), id, limits);
  if (!plan) FAIL("planSandboxCgroup: " << plan.error().describe());
  auto cgroup = Cgroup::create(*plan);
  if (!cgroup) FAIL("Cgroup::create: " << cgroup.error().describe());
  return std::move(*cgroup);
}

Child::Child(const std::function<int(int report_fd)>& body) {
  auto go = makePipe();
  auto report = makePipe();
  REQUIRE(go.ok());
  REQUIRE(report.ok());
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    go->write.reset();
    report->read.reset();
    char byte;
    if (::read(go->read.get(), &byte, 1) != 1) ::_exit(100);
    ::_exit(body(report->write.get()));
  }
  go_ = std::move(go->write);
  report_ = std::move(report->read);
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Child::go() { REQUIRE(::write(go_.get(), "g", 1) == 1); }

std::string Child::report() {
  char buf[64];
  ssize_t n = ::read(report_.get(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

int Child::wait() {
  int status = 0;
  REQUIRE(::waitpid(pid_, &status, 0) == pid_);
  pid_ = -1;
  return status;
}

int spinForever(int) {
  for (;;) asm volatile("" ::: "memory");  // a loop the compiler may not remove
}

}  // namespace declaw::cgroup_test
