// declawd's configuration: command-line flags plus an optional JSON file for limits and defaults.
#pragma once

#include <cstdint>
#include <string>

#include "api/services.h"
#include "common/result.h"

namespace declaw::daemon {

struct Config {
  std::string socket_path = "/run/declaw/declaw.sock";
  std::string state_dir = "/run/declaw";
  std::string init_path;  // declaw-init; default: next to declawd, else the installed libexec path
  std::string socket_group = "declaw";
  std::string log_level = "info";

  api::Limits limits;

  // Host uid/gid ranges for sandboxes: slot i maps sandbox ids 0..65535 to
  // id_pool_base + i * 65536 ... Far above ordinary users and the usual /etc/subuid ranges.
  uint32_t id_pool_base = 1u << 28;
  uint32_t id_pool_slots = 1024;

  // "auto": detect cgroup v1/v2 and enforce resources (declawd refuses to start if it cannot);
  // "off": no cgroups (resources other than disk_mb are not enforced; /v1/health says so).
  std::string cgroups = "auto";
  // The cgroup directory declawd owns, under its own cgroup in each hierarchy.
  std::string cgroup_subtree = "declaw";

  uint32_t killed_records_kept = 1000;  // killed sandboxes still listed / shown
};

// Reads a JSON config file over the defaults in `config`. Unknown keys are an error, so a typo
// does not silently keep a default.
Result<void> loadConfigFile(const std::string& path, Config& config);

}  // namespace declaw::daemon
