#include "daemon/cgroup_host.h"

#include "common/io.h"
#include "common/log.h"

namespace declaw::daemon {

Result<std::unique_ptr<CgroupHost>> CgroupHost::open(const std::string& subtree) {
  auto layout = runtime::detectCgroupLayout();
  if (!layout) return layout.error();
  runtime::CgroupOptions options;
  options.subtree = subtree;
  auto plan = runtime::planSubtree(*layout, options);
  if (!plan) return plan.error();
  if (auto r = runtime::applySubtreePlan(*plan); !r) return r.error();
  return std::unique_ptr<CgroupHost>(new CgroupHost(std::move(*layout), std::move(options)));
}

std::string CgroupHost::version() const {
  return layout_.version == runtime::CgroupVersion::kV2 ? "v2" : "v1";
}

namespace {

runtime::CgroupLimits limitsOf(const api::Resources& resources) {
  runtime::CgroupLimits limits;
  limits.cpu_cores = resources.cpu;
  limits.memory_bytes = resources.memory_mb << 20;
  limits.pids = resources.pids;
  return limits;
}

}  // namespace

Result<runtime::Cgroup> CgroupHost::create(const std::string& sandbox_id,
                                           const api::Resources& resources) const {
  auto plan = runtime::planSandboxCgroup(layout_, options_, sandbox_id, limitsOf(resources));
  if (!plan) return plan.error();
  return runtime::Cgroup::create(std::move(*plan));
}

Result<void> CgroupHost::setLimits(const std::string& sandbox_id,
                                   const api::Resources& resources) const {
  // The same plan with its directories taken as they are: applying it writes the limits again.
  auto plan = runtime::planSandboxCgroup(layout_, options_, sandbox_id, limitsOf(resources),
                                         /*reuse_existing=*/true);
  if (!plan) return plan.error();
  auto applied = runtime::Cgroup::create(std::move(*plan));
  if (!applied) return applied.error();
  return {};
}

Result<runtime::Cgroup> CgroupHost::adopt(const std::string& sandbox_id,
                                          const api::Resources& resources, pid_t init_pid) const {
  auto plan = runtime::planSandboxCgroup(layout_, options_, sandbox_id, limitsOf(resources),
                                         /*reuse_existing=*/true);
  if (!plan) return plan.error();
  const std::string pid = std::to_string(init_pid);
  for (const std::string& procs : plan->procs_files) {
    auto text = readFile(procs, 4 << 20);
    if (!text) return ErrnoError(ESRCH) << "cgroup " << procs << ": " << text.error().describe();
    bool found = false;
    size_t start = 0;
    while (start < text->size() && !found) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      found = text->compare(start, end - start, pid) == 0;
      start = end + 1;
    }
    if (!found) return ErrnoError(ESRCH) << "init " << pid << " is not in " << procs;
  }
  return runtime::Cgroup::adopt(std::move(*plan));
}

void CgroupHost::removeLeftover(const std::string& sandbox_id) const {
  if (auto r = runtime::removeLeftoverCgroup(layout_, options_, sandbox_id); !r) {
    logger("daemon")->warn("[{}] leftover cgroup: {}", sandbox_id, r.error().describe());
  }
}

void CgroupHost::removeSubtree() const {
  if (auto r = runtime::removeSubtree(layout_, options_); !r) {
    logger("daemon")->debug("cgroup subtree kept: {}", r.error().describe());
  }
}

}  // namespace declaw::daemon
