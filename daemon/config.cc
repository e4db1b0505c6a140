#include "daemon/config.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/io.h"
#include "runtime/protocol.h"

namespace declaw::daemon {

namespace {
constexpr size_t kMaxConfigBytes = 1 << 20;
// Each pooled sandbox holds memory and an id range while nobody uses it.
constexpr uint32_t kMaxPooledPerTemplate = 64;
// Each is a uid range, a cgroup and an idle init; more than a few buy nothing but waste.
constexpr uint32_t kMaxLaunchAhead = 16;
// A day of samples at 5 s: 64 bytes each, so at most ~1.1 MB per sandbox.
constexpr uint32_t kMaxHistorySamples = 17280;
constexpr uint32_t kMaxHistoryIntervalS = 3600;
// "metrics_history": {"interval_s": N, "keep_s": N}, over the defaults.
Result<void> readMetricsHistory(const nlohmann::json& j, MetricsHistoryConfig& out,
                                const std::string& path);
// The values loadConfigFile read, against each other and the choices each key allows.
Result<void> checkValues(const Config& c, const std::string& path);
}  // namespace

Result<void> loadConfigFile(const std::string& path, Config& c) {
  auto text = readFile(path, kMaxConfigBytes);
  if (!text) return text.error();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return PlainError() << "config " << path << ": not a JSON object";
  }
  std::set<std::string> known;
  std::string bad;
  auto read = [&](const char* key, auto& out) {
    known.insert(key);
    auto it = j.find(key);
    if (it == j.end()) return true;
    try {
      out = it->get<std::remove_reference_t<decltype(out)>>();
      return true;
    } catch (const nlohmann::json::exception&) {
      bad = key;
      return false;
    }
  };
  api::Limits& l = c.limits;
  bool ok =
      read("socket_group", c.socket_group) && read("log_level", c.log_level) &&
      read("init_path", c.init_path) && read("id_pool_base", c.id_pool_base) &&
      read("id_pool_slots", c.id_pool_slots) && read("cgroups", c.cgroups) &&
      read("cgroup_subtree", c.cgroup_subtree) && read("default_cpu", l.default_resources.cpu) &&
      read("default_memory_mb", l.default_resources.memory_mb) &&
      read("default_pids", l.default_resources.pids) &&
      read("default_disk_mb", l.default_resources.disk_mb) &&
      read("max_cpu", l.max_resources.cpu) && read("max_memory_mb", l.max_resources.memory_mb) &&
      read("max_pids", l.max_resources.pids) && read("max_disk_mb", l.max_resources.disk_mb) &&
      read("killed_records_kept", c.killed_records_kept) &&
      read("max_json_body_bytes", l.max_json_body_bytes) &&
      read("max_upload_bytes", l.max_upload_bytes) &&
      read("max_template_bytes", l.max_template_bytes) &&
      read("max_template_unpacked_bytes", l.max_template_unpacked_bytes) &&
      read("data_dir", c.data_dir) && read("builtin_usr", c.builtin_usr) &&
      read("max_header_bytes", l.max_header_bytes) &&
      read("max_text_read_bytes", l.max_text_read_bytes) &&
      read("idle_timeout_s", l.idle_timeout_s) && read("request_timeout_s", l.request_timeout_s) &&
      read("max_connections", l.max_connections) && read("max_sandboxes", l.max_sandboxes) &&
      read("max_output_bytes", l.max_output_bytes) &&
      read("default_sandbox_timeout_s", l.default_sandbox_timeout_s) &&
      read("max_sandbox_timeout_s", l.max_sandbox_timeout_s) &&
      read("default_command_timeout_s", l.default_command_timeout_s) &&
      read("output_buffer_bytes", l.output_buffer_bytes) &&
      read("max_processes", l.max_processes) &&
      read("max_finished_processes", l.max_finished_processes) &&
      read("max_watch_dirs", l.max_watch_dirs) &&
      read("max_stdin_buffer_bytes", l.max_stdin_buffer_bytes) &&
      read("max_buffered_output_bytes", l.max_buffered_output_bytes) &&
      read("network", c.network) && read("net_pool", c.net_pool) &&
      read("dns_upstream", c.dns_upstream) && read("proxy_port", c.proxy_port) &&
      read("pool", c.pool) && read("live_restore", c.live_restore) &&
      read("init_zygote", c.init_zygote) && read("launch_ahead", c.launch_ahead);
  // Keys whose null means "the default".
  auto readOptional = [&](const char* key, auto& out) {
    known.insert(key);
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return true;
    try {
      out = it->get<typename std::remove_reference_t<decltype(out)>::value_type>();
      return true;
    } catch (const nlohmann::json::exception&) {
      bad = key;
      return false;
    }
  };
  std::optional<std::string> pool6;
  ok = ok && readOptional("net_pool6", pool6) && readOptional("always_denied", c.always_denied) &&
       readOptional("private_ranges", c.private_ranges);
  if (pool6) c.net_pool6 = *pool6;
  if (!ok) return PlainError() << "config " << path << ": '" << bad << "' has the wrong type";
  known.insert("metrics_history");
  if (auto it = j.find("metrics_history"); it != j.end()) {
    if (auto r = readMetricsHistory(*it, c.metrics_history, path); !r) return r;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!known.contains(it.key())) {
      return PlainError() << "config " << path << ": unknown key '" << it.key() << "'";
    }
  }
  return checkValues(c, path);
}

namespace {

Result<void> readMetricsHistory(const nlohmann::json& j, MetricsHistoryConfig& out,
                                const std::string& path) {
  auto wrong = [&](const std::string& what) {
    return PlainError() << "config " << path << ": 'metrics_history' " << what;
  };
  if (!j.is_object()) return wrong("must be an object {\"interval_s\": 5, \"keep_s\": 3600}");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "interval_s" && it.key() != "keep_s") {
      return wrong("has an unknown key '" + it.key() + "'");
    }
    if (!it->is_number_unsigned() || it->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
      return wrong("'" + it.key() + "' must be a whole number of seconds");
    }
  }
  out.interval_s = j.value("interval_s", out.interval_s);
  out.keep_s = j.value("keep_s", out.keep_s);
  if (out.interval_s > kMaxHistoryIntervalS) {
    return wrong("'interval_s' must be 0 (no history) to " + std::to_string(kMaxHistoryIntervalS));
  }
  if (out.interval_s != 0 && (out.keep_s < out.interval_s || out.samples() > kMaxHistorySamples)) {
    return wrong("'keep_s' must hold 1 to " + std::to_string(kMaxHistorySamples) +
                 " samples of 'interval_s'");
  }
  return {};
}

Result<void> checkValues(const Config& c, const std::string& path) {
  const api::Limits& l = c.limits;
  if (c.cgroups != "auto" && c.cgroups != "off") {
    return PlainError() << "config " << path << ": 'cgroups' must be \"auto\" or \"off\"";
  }
  if (c.builtin_usr != "overlay" && c.builtin_usr != "read-only") {
    return PlainError() << "config " << path
                        << ": 'builtin_usr' must be \"overlay\" or \"read-only\"";
  }
  if (c.network != "auto" && c.network != "off") {
    return PlainError() << "config " << path << ": 'network' must be \"auto\" or \"off\"";
  }
  if (c.cgroup_subtree.empty() || c.cgroup_subtree.find('/') != std::string::npos ||
      c.cgroup_subtree[0] == '.') {
    return PlainError() << "config " << path << ": 'cgroup_subtree' must be one path component";
  }
  const api::Resources& d = l.default_resources;
  const api::Resources& m = l.max_resources;
  if (d.cpu > m.cpu || d.memory_mb > m.memory_mb || d.pids > m.pids || d.disk_mb > m.disk_mb ||
      d.disk_mb == 0) {
    return PlainError() << "config " << path
                        << ": default resources must be within the maxima, and disk at least 1 MB";
  }
  if (l.max_watch_dirs == 0) {
    return PlainError() << "config " << path << ": 'max_watch_dirs' must be at least 1";
  }
  if (l.output_buffer_bytes == 0 || l.max_output_bytes == 0) {
    return PlainError() << "config " << path << ": output buffers must hold at least one byte";
  }
  if (c.id_pool_slots == 0 ||
      uint64_t{c.id_pool_base} + uint64_t{c.id_pool_slots} * runtime::kIdsPerSandbox >
          std::numeric_limits<uint32_t>::max()) {
    return PlainError() << "config " << path << ": the id pool does not fit in 32-bit ids";
  }
  if (c.launch_ahead > kMaxLaunchAhead) {
    return PlainError() << "config " << path << ": 'launch_ahead' is at most " << kMaxLaunchAhead;
  }
  uint64_t pooled = c.launch_ahead;
  for (const auto& [name, count] : c.pool) {
    if (name.empty() || count > kMaxPooledPerTemplate) {
      return PlainError() << "config " << path << ": 'pool' maps template names to at most "
                          << kMaxPooledPerTemplate << " ready sandboxes each";
    }
    pooled += count;
  }
  if (pooled >= c.id_pool_slots) {
    return PlainError() << "config " << path << ": 'pool' and 'launch_ahead' hold " << pooled
                        << " sandboxes, but there are only " << c.id_pool_slots
                        << " id ranges (id_pool_slots)";
  }
  return {};
}

}  // namespace

}  // namespace declaw::daemon
