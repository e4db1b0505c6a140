#include "runtime/cgroup_plan.h"

#include <charconv>
#include <cmath>

namespace declaw::runtime {

namespace {

constexpr size_t kMaxNameBytes = 64;
// v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712 on 4 KiB pages);
// no real limit comes near 2^62 bytes.
constexpr uint64_t kV1UnlimitedFloor = uint64_t{1} << 62;

CgroupOp mkdirOp(std::string path, bool may_exist) {
  return CgroupOp{CgroupOp::Kind::kMkdir, std::move(path), "", may_exist};
}

CgroupOp writeOp(std::string path, std::string value, bool optional = false) {
  return CgroupOp{CgroupOp::Kind::kWrite, std::move(path), std::move(value), optional};
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return std::string(s);
}

Result<void> checkLimits(const CgroupLayout& layout, const CgroupLimits& limits) {
  const double cores = limits.cpu_cores;
  if (!std::isfinite(cores) || cores < 0 || (cores > 0 && cores < kMinCpuCores) ||
      cores > kMaxCpuCores) {
    return ErrnoError(EINVAL) << "cpu limit " << cores << " cores: must be 0 (unlimited) or "
                              << kMinCpuCores << ".." << kMaxCpuCores;
  }
  const char* version = layout.version == CgroupVersion::kV1 ? "v1" : "v2";
  auto need = [&](bool wanted, std::string_view controller) -> Result<void> {
    if (!wanted || layout.hasController(controller)) return {};
    return ErrnoError(ENOTSUP) << "a " << controller << " limit needs the cgroup " << version
                               << " controller '" << controller << "', which is not "
                               << (layout.version == CgroupVersion::kV1
                                       ? "mounted"
                                       : "delegated (systemd: Delegate=yes)");
  };
  if (auto r = need(limits.memory_bytes > 0, "memory"); !r) return r;
  if (auto r = need(limits.pids > 0, "pids"); !r) return r;
  return need(cores > 0, "cpu");
}

uint64_t cpuQuotaUs(double cores) {
  return static_cast<uint64_t>(std::llround(cores * static_cast<double>(kCpuPeriodUs)));
}

// The controllers enabled for sandboxes on v2: the ones we use that the delegated root offers.
std::string v2EnableLine(const CgroupLayout& layout) {
  std::string line;
  for (std::string_view c : kV2Controllers) {
    if (!layout.hasController(c)) continue;
    if (!line.empty()) line += ' ';
    line += '+';
    line += c;
  }
  return line;
}

std::string v2Root(const CgroupLayout& layout, const CgroupOptions& options) {
  return options.parent == CgroupParent::kOwnCgroup ? v2DelegatedRoot(layout.v2)
                                                    : layout.v2.mount_point;
}

void planV1Limits(const CgroupLayout& layout, const std::string& id,
                  const std::vector<std::string>& subtree_dirs, const CgroupLimits& limits,
                  CgroupPlan& plan) {
  auto leafOf = [&](std::string_view controller) -> std::string {
    for (size_t i = 0; i < layout.v1.size(); ++i) {
      for (const std::string& c : layout.v1[i].controllers) {
        if (c == controller) return subtree_dirs[i] + "/" + id;
      }
    }
    return "";
  };
  if (std::string m = leafOf("memory"); !m.empty()) {
    // memory.memsw.limit_in_bytes (memory+swap) may never be below memory.limit_in_bytes, so
    // lift it first, set the memory limit, then pin memsw to the same value: no swap, in any
    // order of old and new values. memsw.* is absent when swap accounting is off.
    const std::string bytes = limits.memory_bytes > 0 ? std::to_string(limits.memory_bytes) : "-1";
    plan.create.push_back(writeOp(m + "/memory.memsw.limit_in_bytes", "-1", true));
    plan.create.push_back(writeOp(m + "/memory.limit_in_bytes", bytes));
    if (limits.memory_bytes > 0) {
      plan.create.push_back(writeOp(m + "/memory.memsw.limit_in_bytes", bytes, true));
    }
    // oom_kill_disable is inherited from the parent at mkdir; the sandbox must be OOM-killed,
    // not hang at its limit (cgroup-v1 memory.rst, 10. OOM Control).
    plan.create.push_back(writeOp(m + "/memory.oom_control", "0", true));
    plan.files.memory_current = m + "/memory.usage_in_bytes";
    plan.files.memory_limit = m + "/memory.limit_in_bytes";
    plan.files.oom_events = m + "/memory.oom_control";
    plan.files.oom_fallback = m + "/memory.failcnt";
  }
  if (std::string p = leafOf("pids"); !p.empty()) {
    plan.create.push_back(
        writeOp(p + "/pids.max", limits.pids > 0 ? std::to_string(limits.pids) : "max"));
    plan.files.pids_current = p + "/pids.current";
    plan.files.pids_limit = p + "/pids.max";
  }
  if (std::string c = leafOf("cpu"); !c.empty()) {
    plan.create.push_back(writeOp(c + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs)));
    plan.create.push_back(
        writeOp(c + "/cpu.cfs_quota_us",
                limits.cpu_cores > 0 ? std::to_string(cpuQuotaUs(limits.cpu_cores)) : "-1"));
  }
  if (std::string a = leafOf("cpuacct"); !a.empty()) plan.files.cpu_usage = a + "/cpuacct.usage";
  if (std::string f = leafOf("freezer"); !f.empty()) {
    plan.files.freeze = f + "/freezer.state";
    plan.files.freeze_state = f + "/freezer.state";
  }
}

void planV2Limits(const CgroupLayout& layout, const std::string& leaf, const CgroupLimits& limits,
                  CgroupPlan& plan) {
  if (layout.hasController("memory")) {
    const bool limited = limits.memory_bytes > 0;
    plan.create.push_back(
        writeOp(leaf + "/memory.max", limited ? std::to_string(limits.memory_bytes) : "max"));
    // No swap for a limited sandbox, so the limit is the limit. Absent without swap accounting.
    plan.create.push_back(writeOp(leaf + "/memory.swap.max", limited ? "0" : "max", true));
    plan.files.memory_current = leaf + "/memory.current";
    plan.files.memory_limit = leaf + "/memory.max";
    plan.files.oom_events = leaf + "/memory.events";
  }
  if (layout.hasController("pids")) {
    plan.create.push_back(
        writeOp(leaf + "/pids.max", limits.pids > 0 ? std::to_string(limits.pids) : "max"));
    plan.files.pids_current = leaf + "/pids.current";
    plan.files.pids_limit = leaf + "/pids.max";
  }
  if (layout.hasController("cpu")) {
    const std::string quota =
        limits.cpu_cores > 0 ? std::to_string(cpuQuotaUs(limits.cpu_cores)) : "max";
    plan.create.push_back(writeOp(leaf + "/cpu.max", quota + " " + std::to_string(kCpuPeriodUs)));
  }
  // cpu.stat's usage_usec, cgroup.freeze, cgroup.events and cgroup.kill are in the v2 core:
  // they exist whichever controllers are enabled.
  plan.files.cpu_usage = leaf + "/cpu.stat";
  plan.files.freeze = leaf + "/cgroup.freeze";
  plan.files.freeze_state = leaf + "/cgroup.events";
  plan.files.kill = leaf + "/cgroup.kill";
}

}  // namespace

bool validCgroupName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<SubtreePlan> planSubtree(const CgroupLayout& layout, const CgroupOptions& options) {
  if (!validCgroupName(options.subtree) || options.subtree == kDaemonLeaf) {
    return ErrnoError(EINVAL) << "cgroup subtree name '" << options.subtree << "' is invalid";
  }
  SubtreePlan plan;
  plan.version = layout.version;
  if (layout.version == CgroupVersion::kV1) {
    for (const V1Hierarchy& h : layout.v1) {
      const std::string& base =
          options.parent == CgroupParent::kOwnCgroup ? h.own_dir : h.mount_point;
      plan.subtree_dirs.push_back(base + "/" + options.subtree);
      plan.ops.push_back(mkdirOp(plan.subtree_dirs.back(), true));
    }
    return plan;
  }
  if (layout.v2.mount_point.empty()) return ErrnoError(ENOENT) << "no cgroup2 mount";
  const std::string root = v2Root(layout, options);
  const std::string subtree = root + "/" + options.subtree;
  if (root != layout.v2.mount_point) {
    // "No internal processes" (cgroup-v2.rst 2-4-3): a non-root cgroup with processes cannot
    // enable controllers for its children. Everything in the delegated root, the daemon
    // included, moves to a leaf first; re-running moves nothing.
    const std::string leaf = root + "/" + std::string(kDaemonLeaf);
    plan.ops.push_back(mkdirOp(leaf, true));
    plan.ops.push_back(CgroupOp{CgroupOp::Kind::kMoveAllProcesses, leaf + "/cgroup.procs",
                                root + "/cgroup.procs", false});
  }
  plan.ops.push_back(mkdirOp(subtree, true));
  // Top-down (2-4-2): a controller must be enabled in the parent before in the child.
  if (std::string enable = v2EnableLine(layout); !enable.empty()) {
    plan.ops.push_back(writeOp(root + "/cgroup.subtree_control", enable));
    plan.ops.push_back(writeOp(subtree + "/cgroup.subtree_control", enable));
  }
  plan.subtree_dirs.push_back(subtree);
  return plan;
}

Result<CgroupPlan> planSandboxCgroup(const CgroupLayout& layout, const CgroupOptions& options,
                                     std::string_view sandbox_id, const CgroupLimits& limits,
                                     bool reuse_existing) {
  if (!validCgroupName(sandbox_id) || sandbox_id == kDaemonLeaf) {
    return ErrnoError(EINVAL) << "sandbox cgroup name '" << sandbox_id << "' is invalid";
  }
  if (auto r = checkLimits(layout, limits); !r) return r.error();
  auto subtree = planSubtree(layout, options);
  if (!subtree) return subtree.error();

  CgroupPlan plan;
  plan.version = layout.version;
  plan.sandbox_id = std::string(sandbox_id);
  for (const std::string& dir : subtree->subtree_dirs) {
    plan.dirs.push_back(dir + "/" + plan.sandbox_id);
    plan.create.push_back(mkdirOp(plan.dirs.back(), reuse_existing));
    plan.procs_files.push_back(plan.dirs.back() + "/cgroup.procs");
  }
  if (layout.version == CgroupVersion::kV1) {
    planV1Limits(layout, plan.sandbox_id, subtree->subtree_dirs, limits, plan);
  } else {
    plan.clone_into_dir = plan.dirs.front();
    planV2Limits(layout, plan.dirs.front(), limits, plan);
  }
  return plan;
}

std::optional<uint64_t> parseCgroupCounter(std::string_view text) {
  const std::string s = trimmed(text);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> parseCgroupLimit(std::string_view text) {
  auto v = parseCgroupCounter(text);
  if (!v || *v >= kV1UnlimitedFloor) return std::nullopt;
  return v;
}

std::optional<uint64_t> parseKeyedValue(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      return parseCgroupCounter(line.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

bool parseFrozen(CgroupVersion version, std::string_view state_text) {
  if (version == CgroupVersion::kV1) return trimmed(state_text) == "FROZEN";
  return parseKeyedValue(state_text, "frozen") == uint64_t{1};
}

std::vector<int> parseProcs(std::string_view text) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    int pid = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && p == line.data() + line.size() && pid > 0) out.push_back(pid);
    pos = end + 1;
  }
  return out;
}

}  // namespace declaw::runtime
