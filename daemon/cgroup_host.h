// The daemon's side of cgroups: detection and its subtree at start, one cgroup per sandbox, and
// the removal of what a crashed daemon left (by sandbox id, from the state records).
#pragma once

#include <memory>
#include <string>

#include "api/services.h"
#include "common/result.h"
#include "runtime/cgroup.h"

namespace declaw::daemon {

class CgroupHost {
 public:
  // Detects v1/v2 and creates the subtree `subtree` under the daemon's own cgroup.
  static Result<std::unique_ptr<CgroupHost>> open(const std::string& subtree);

  std::string version() const;  // "v1" | "v2"
  // Created and limited; the caller attaches the sandbox's init before it runs.
  Result<runtime::Cgroup> create(const std::string& sandbox_id,
                                 const api::Resources& resources) const;
  // New limits for a sandbox's existing cgroup (a pooled sandbox taken by a create).
  Result<void> setLimits(const std::string& sandbox_id, const api::Resources& resources) const;
  // Live restore: a sandbox's existing cgroup, taken over as it is; ESRCH unless `init_pid` is
  // in it (in every hierarchy).
  Result<runtime::Cgroup> adopt(const std::string& sandbox_id, const api::Resources& resources,
                                pid_t init_pid) const;
  // Kills what is in a sandbox's cgroup from an earlier run and removes it. Logs failures.
  void removeLeftover(const std::string& sandbox_id) const;
  // At stop: the subtree, if it is empty (another daemon may share it).
  void removeSubtree() const;

 private:
  CgroupHost(runtime::CgroupLayout layout, runtime::CgroupOptions options)
      : layout_(std::move(layout)), options_(std::move(options)) {}

  runtime::CgroupLayout layout_;
  runtime::CgroupOptions options_;
};

}  // namespace declaw::daemon
