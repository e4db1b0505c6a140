// Support for the cgroup integration tests: a per-run subtree that cleans itself up, and forked
// children that wait to be attached before they run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/cgroup.h"

namespace declaw::cgroup_test {

inline constexpr uint64_t kMiB = 1 << 20;
inline constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

// Fails the current test loudly unless running as root (no silent skips).
void requireRoot();

// "declaw-test-<pid>": never the name of a running daemon's subtree.
const std::string& subtreeName();
runtime::CgroupOptions testOptions();
// The host's layout; the first call prints which case this host is (v1, hybrid or v2).
runtime::CgroupLayout hostLayout();
// Whether /proc/self/mounts lists a cgroup2 file system: read apart from detectCgroupLayout, so
// a test that finds no v2 mount can check that there truly is none.
bool hostHasCgroup2Mount();

bool exists(const std::string& path);
// Every directory named `name` anywhere below `dir`.
std::vector<std::string> findDirsNamed(const std::string& dir, const std::string& name);

// The test's subtree, made on construction and removed with everything in it on destruction,
// whether the test passed or not; the destructor then checks that no directory of this run is
// left anywhere under /sys/fs/cgroup.
class TestSubtree {
 public:
  explicit TestSubtree(runtime::CgroupLayout layout);
  ~TestSubtree();
  TestSubtree(const TestSubtree&) = delete;
  TestSubtree& operator=(const TestSubtree&) = delete;

  const runtime::CgroupLayout& layout() const { return layout_; }
  runtime::Cgroup make(const std::string& id, const runtime::CgroupLimits& limits) const;

 private:
  void cleanUp() const;
  runtime::CgroupLayout layout_;
};

// A forked child that runs `body` only after go(), so the test attaches it to a cgroup first.
// `body` gets a pipe to report on and returns the exit code. Killed and reaped on destruction.
class Child {
 public:
  explicit Child(const std::function<int(int report_fd)>& body);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void go();
  // Blocks until the child reports (or exits: then empty).
  std::string report();
  // waitpid status.
  int wait();

 private:
  pid_t pid_ = -1;
  UniqueFd go_;
  UniqueFd report_;
};

// A child body that never stops using cpu.
int spinForever(int report_fd);

}  // namespace declaw::cgroup_test
