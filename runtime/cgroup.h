// A sandbox's cgroup on the real kernel: the dumb apply step of runtime/cgroup_plan.h, plus
// attach, freeze/thaw, usage, kill-all and removal. Needs root (or a delegated subtree).
//
//   auto layout = detectCgroupLayout();                     // once, at daemon start
//   applySubtreePlan(*planSubtree(*layout, options));       // once, at daemon start
//   auto cg = Cgroup::create(*planSandboxCgroup(*layout, options, "sbx-1", limits));
//   cg->attach(pid);  /  clone3(CLONE_INTO_CGROUP, cg->openDir())      // v1  /  v2
//   cg->killAll(); cg->remove();
//
// Every file is opened O_CLOEXEC and written with one write() (cgroup files take a value per
// write). Errors carry the file and the value: "write 67108864 to /sys/fs/.../memory.max: ...".
// Cgroup is not thread-safe; the daemon drives one sandbox's cgroup from one strand.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/cgroup_layout.h"
#include "runtime/cgroup_plan.h"

namespace declaw::runtime {

// How long freeze(), killAll() and remove() wait for the kernel before giving up.
inline constexpr std::chrono::milliseconds kCgroupSettleTimeout{5000};

struct CgroupUsage {
  std::optional<uint64_t> cpu_usage_ns;  // nullopt: no cpu accounting on this host
  std::optional<uint64_t> memory_bytes;  // nullopt: no memory controller
  std::optional<uint64_t> memory_limit;  // nullopt: unlimited or no memory controller
  std::optional<uint64_t> pids;          // nullopt: no pids controller
  std::optional<uint64_t> pids_limit;    // nullopt: unlimited or no pids controller
  std::optional<uint64_t> oom_kills;     // nullopt: no memory controller
  // false when oom_kills is v1 memory.failcnt (kernels before 4.13 have no oom_kill counter):
  // that counts every time usage hit the limit, reclaim included, so it over-counts kills.
  bool oom_kills_exact = true;
};

struct OomKills {
  std::optional<uint64_t> count;  // nullopt: no memory controller
  bool exact = true;              // as CgroupUsage::oom_kills_exact
};

// Runs a subtree plan (daemon start). Idempotent.
Result<void> applySubtreePlan(const SubtreePlan& plan);

class Cgroup {
 public:
  // Makes the directories and writes the limits. On failure, directories this call made are
  // removed again; an existing leaf is EEXIST unless the plan was made with reuse_existing.
  static Result<Cgroup> create(CgroupPlan plan);
  // Takes charge of a cgroup that already exists (or may not), without touching it: for
  // cleanup after a crash.
  static Cgroup adopt(CgroupPlan plan);

  Cgroup(Cgroup&&) = default;
  Cgroup& operator=(Cgroup&&) = default;

  const CgroupPlan& plan() const { return plan_; }

  // Moves `pid` (the whole thread group) in: v1 every hierarchy's cgroup.procs, v2 the one.
  Result<void> attach(pid_t pid) const;
  // v2: the leaf as an O_RDONLY|O_DIRECTORY|O_CLOEXEC fd for clone3()'s cgroup field, so the
  // child starts inside (CLONE_INTO_CGROUP, kernel 5.7+). v1: ENOTSUP.
  Result<UniqueFd> openDir() const;

  // Returns once every process is frozen (v1 freezer.state FROZEN, v2 cgroup.events frozen 1),
  // or ETIMEDOUT after kCgroupSettleTimeout (the cgroup stays freezing). ENOTSUP without v1
  // freezer.
  Result<void> freeze() const;
  Result<void> thaw() const;
  Result<bool> frozen() const;

  Result<CgroupUsage> usage() const;
  // usage()'s oom_kills alone: one file (two on kernels before 4.13), for every command's start
  // and end.
  Result<OomKills> oomKills() const;
  // The pids inside (union over v1 hierarchies).
  Result<std::vector<pid_t>> pids() const;

  // SIGKILLs every process and waits until none is left (bounded by kCgroupSettleTimeout).
  // v2 with cgroup.kill: one write. Otherwise rounds of freeze, kill every listed pid, thaw,
  // so a fork bomb cannot outrun the loop and a listed pid cannot be reused meanwhile. A missing
  // cgroup counts as empty.
  Result<void> killAll() const;

  // Removes the leaf directories; they must be empty of processes (killAll first). Retries
  // EBUSY briefly (exiting processes leave asynchronously). Idempotent: ENOENT is success.
  Result<void> remove() const;

 private:
  explicit Cgroup(CgroupPlan plan) : plan_(std::move(plan)) {}
  Result<void> setFrozen(bool want, std::chrono::milliseconds timeout) const;
  Result<void> killRounds() const;
  Result<void> waitEmpty() const;

  CgroupPlan plan_;
};

// Crash cleanup: kills what is left in a sandbox's cgroup and removes it. Nothing there is
// success.
Result<void> removeLeftoverCgroup(const CgroupLayout& layout, const CgroupOptions& options,
                                  const std::string& sandbox_id);

// The sandbox cgroups present under the subtree (union over v1 hierarchies), sorted: what a
// crashed daemon left, when called before this one made any. No subtree yet: empty.
Result<std::vector<std::string>> listSandboxCgroups(const CgroupLayout& layout,
                                                    const CgroupOptions& options);

// Removes the (empty) subtree directories, for uninstall and tests. The v2 daemon leaf stays:
// the daemon is in it. Idempotent.
Result<void> removeSubtree(const CgroupLayout& layout, const CgroupOptions& options);

}  // namespace declaw::runtime
