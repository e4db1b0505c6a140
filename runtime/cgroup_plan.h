// Plans for cgroups as plain values: which directories to make, which files to write, where to
// attach a pid and where to read usage. Pure, so unit tests check both versions without root;
// runtime/cgroup.h applies them.
//
// Placement (CgroupParent::kOwnCgroup, the default): sandboxes live below the cgroup this
// process was started in, which on a systemd host with Delegate=yes is the one the daemon owns:
//   v1: <own cgroup of each hierarchy>/<subtree>/<sandbox-id>
//   v2: <delegated root>/<subtree>/<sandbox-id>, the daemon itself in <delegated root>/daemon
// On a host where the daemon's own cgroup is the hierarchy root this is /sys/fs/cgroup/<ctrl>/
// declaw/<id> (v1) or /sys/fs/cgroup/declaw/<id> (v2). Below the own cgroup, sandboxes stay
// inside whatever limits the host gave the daemon; kHierarchyRoot opts out (Docker's v1 style).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "runtime/cgroup_layout.h"

namespace declaw::runtime {

struct CgroupLimits {
  double cpu_cores = 0;       // 0 = unlimited; else at least kMinCpuCores
  uint64_t memory_bytes = 0;  // 0 = unlimited
  uint64_t pids = 0;          // 0 = unlimited
};

enum class CgroupParent { kOwnCgroup, kHierarchyRoot };

struct CgroupOptions {
  std::string subtree = "declaw";  // one path component, owned by this daemon
  CgroupParent parent = CgroupParent::kOwnCgroup;
};

// CFS bandwidth period (cgroup-v1 sched-bwc.rst, cgroup-v2.rst cpu.max); the kernel refuses
// quotas under 1 ms, hence the smallest cpu limit.
inline constexpr uint64_t kCpuPeriodUs = 100000;
inline constexpr uint64_t kMinCpuQuotaUs = 1000;
inline constexpr double kMinCpuCores = static_cast<double>(kMinCpuQuotaUs) / kCpuPeriodUs;
inline constexpr double kMaxCpuCores = 65536;

// One step of a plan. Steps run in order; the first failure stops the apply.
struct CgroupOp {
  enum class Kind {
    kMkdir,             // path: the directory; tolerant: EEXIST is fine
    kWrite,             // path: the file, value: written with one write(); tolerant: a missing
                        // file (ENOENT on open) is skipped, for files some kernels lack
    kMoveAllProcesses,  // every pid listed in `value` (a cgroup.procs) is written to `path`
  };
  Kind kind = Kind::kMkdir;
  std::string path;
  std::string value;
  bool tolerant = false;

  bool operator==(const CgroupOp&) const = default;
};

// Daemon start, once: the subtree directories, and on v2 the daemon's move into its leaf and
// the controllers enabled down to the subtree. Idempotent, so a restarted daemon re-applies it.
struct SubtreePlan {
  CgroupVersion version = CgroupVersion::kV2;
  std::vector<std::string> subtree_dirs;  // one per v1 hierarchy, one on v2; sandboxes below
  std::vector<CgroupOp> ops;
};

// Where a sandbox cgroup's state is read or driven. An empty path: not available on this host.
struct CgroupFiles {
  std::string freeze;          // v1 freezer.state (FROZEN/THAWED); v2 cgroup.freeze (1/0)
  std::string freeze_state;    // v1 freezer.state; v2 cgroup.events ("frozen 1")
  std::string kill;            // v2 cgroup.kill (kernel 5.14+; may still be absent); v1: none
  std::string cpu_usage;       // v1 cpuacct.usage (ns); v2 cpu.stat (usage_usec)
  std::string memory_current;  // v1 memory.usage_in_bytes; v2 memory.current
  std::string memory_limit;    // v1 memory.limit_in_bytes; v2 memory.max
  std::string pids_current;    // pids.current
  std::string pids_limit;      // pids.max
  std::string oom_events;      // v1 memory.oom_control (oom_kill since 4.13); v2 memory.events
  std::string oom_fallback;    // v1 memory.failcnt, when memory.oom_control has no oom_kill
};

// One sandbox's cgroup.
struct CgroupPlan {
  CgroupVersion version = CgroupVersion::kV2;
  std::string sandbox_id;
  std::vector<std::string> dirs;         // the leaf directories (one per v1 hierarchy)
  std::vector<CgroupOp> create;          // mkdir of each leaf, then the limits
  std::vector<std::string> procs_files;  // attach: the pid is written to each cgroup.procs
  std::string clone_into_dir;            // v2: opened as the clone3() CLONE_INTO_CGROUP fd
  CgroupFiles files;
};

// A sandbox id or subtree name is one path component of [A-Za-z0-9._-], at most 64 bytes, and
// not "." or "..": nothing in it can walk out of the subtree.
bool validCgroupName(std::string_view name);

Result<SubtreePlan> planSubtree(const CgroupLayout& layout, const CgroupOptions& options);

// Errors: an invalid id, a limit out of range, or a limit whose controller this host does not
// offer. Controllers that are present get the sandbox even when unlimited, for usage numbers.
// `reuse_existing`: an existing leaf directory (left by a crashed run) is taken over instead of
// being an EEXIST error.
Result<CgroupPlan> planSandboxCgroup(const CgroupLayout& layout, const CgroupOptions& options,
                                     std::string_view sandbox_id, const CgroupLimits& limits,
                                     bool reuse_existing = false);

// Parsers for what the files above contain.
// "12345\n" -> 12345; anything else is nullopt.
std::optional<uint64_t> parseCgroupCounter(std::string_view text);
// A limit file: "max" (v2, pids.max) or a v1 memory limit of at least 2^62 (the kernel's
// "unlimited", PAGE_COUNTER_MAX pages in bytes) is nullopt; else the number.
std::optional<uint64_t> parseCgroupLimit(std::string_view text);
// The value of `key` in a flat keyed file ("usage_usec 123\nuser_usec 100\n").
std::optional<uint64_t> parseKeyedValue(std::string_view text, std::string_view key);
// Whether the freeze state file reports the cgroup fully frozen (v1 "FROZEN"; v2 "frozen 1").
// v1 "FREEZING" (still in progress) is not frozen.
bool parseFrozen(CgroupVersion version, std::string_view state_text);
// The pids in a cgroup.procs text; junk lines are skipped.
std::vector<int> parseProcs(std::string_view text);

}  // namespace declaw::runtime
