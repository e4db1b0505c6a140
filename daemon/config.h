// declawd's configuration: command-line flags plus an optional JSON file for limits and defaults.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/services.h"
#include "common/result.h"

namespace declaw::daemon {

// The metrics history of each live sandbox (docs/operations.md): a sample every interval_s for
// the last keep_s. interval_s 0: no history is kept.
struct MetricsHistoryConfig {
  uint32_t interval_s = 5;
  uint32_t keep_s = 3600;
  size_t samples() const { return interval_s == 0 ? 0 : keep_s / interval_s; }
};

struct Config {
  std::string socket_path = "/run/declaw/declaw.sock";
  std::string state_dir = "/run/declaw";
  // Templates (layers, blobs, records): persistent, so they survive a reboot (StateDirectory=).
  std::string data_dir = "/var/lib/declaw";
  // The built-ins' /usr: "overlay" (root inside may change its own copy; the host's /usr is
  // idmapped, so its root-owned files are root's inside, unreadable ones included) or
  // "read-only" (the host's /usr bound read-only, its files nobody's inside).
  std::string builtin_usr = "overlay";
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

  // The warm pool: ready sandboxes kept per template ({"python": 4, "base": 2}); empty: none.
  std::map<std::string, uint32_t> pool;

  // Sandboxes outlive the daemon: a stop, a crash or an upgrade leaves them running, and the
  // next declawd adopts them (docs/architecture.md, "Live restore"). false: they die with it.
  bool live_restore = true;

  // Sandbox inits are forked by the init zygote (runtime/launcher.h) rather than exec'd one by
  // one. false: every create execs declaw-init (for comparison; builds with sanitizers always do).
  bool init_zygote = true;

  // Inits launched ahead of the creates that take them (launch_ahead.h): this many kept ready.
  // 0: every create launches its own.
  uint32_t launch_ahead = 2;

  uint32_t killed_records_kept = 1000;  // killed sandboxes still listed / shown
  MetricsHistoryConfig metrics_history;

  // Networking (docs/network.md). "auto": set up at start; if that fails, declawd runs without
  // (sandboxes asking for internet access get 501, /v1/health says why). "off": never.
  std::string network = "auto";
  std::string net_pool = "10.200.0.0/16";  // one /30 per sandbox
  std::string net_pool6;                   // empty: no IPv6 inside sandboxes
  std::vector<std::string> dns_upstream;   // "addr[:port]"; empty: the host's resolv.conf
  // Replace netpolicy::Boundaries::defaults() when given (the host's addresses and the pools
  // are always added to always_denied).
  std::optional<std::vector<std::string>> always_denied;
  std::optional<std::vector<std::string>> private_ranges;
  uint16_t proxy_port = 3128;  // the egress proxy, on each sandbox's gateway address
};

// Reads a JSON config file over the defaults in `config`. Unknown keys are an error, so a typo
// does not silently keep a default.
Result<void> loadConfigFile(const std::string& path, Config& config);

}  // namespace declaw::daemon
