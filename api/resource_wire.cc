#include "api/resource_wire.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

#include "api/errors.h"
#include "api/json_fields.h"
#include "api/wire.h"

namespace declaw::api {

namespace {

// The smallest limits that still let bash -l start; below them a sandbox cannot run anything.
constexpr double kMinCpu = 0.01;  // the kernel's smallest CFS quota (1 ms per 100 ms)
constexpr uint64_t kMinMemoryMb = 16;
constexpr uint64_t kMinPids = 8;
constexpr uint64_t kMinDiskMb = 1;
// Unix seconds as a query parameter: up to the year 33658, far past any sample.
constexpr size_t kMaxUnixSecondsDigits = 12;
constexpr size_t kNanosecondDigits = 9;

void refuseUnknownKeys(const nlohmann::json& object, const std::string& what,
                       const std::set<std::string>& known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!known.contains(it.key())) {
      throw badRequest("'" + what + "' has no field " + quoteInput(it.key(), 64));
    }
  }
}

std::string number(double v) {
  char text[64];
  (void)std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

}  // namespace

Resources parseResources(const nlohmann::json& body, const Limits& limits) {
  Resources r = limits.default_resources;
  const nlohmann::json* field = findField(body, "resources");
  if (!field || field->is_null()) return r;
  if (!field->is_object()) throw badRequest("'resources' must be an object");
  refuseUnknownKeys(*field, "resources", {"cpu", "memory_mb", "pids", "disk_mb"});
  const Resources& max = limits.max_resources;
  if (const nlohmann::json* cpu = findField(*field, "cpu")) {
    if (!cpu->is_number()) throw badRequest("'resources.cpu' must be a number of cores");
    double cores = cpu->get<double>();
    if (!std::isfinite(cores) || cores < kMinCpu || cores > max.cpu) {
      throw badRequest("'resources.cpu' must be " + number(kMinCpu) + ".." + number(max.cpu) +
                       " cores");
    }
    r.cpu = cores;
  }
  auto integer = [&](const char* name, uint64_t min, uint64_t most, uint64_t& out) {
    const nlohmann::json* value = findField(*field, name);
    if (!value) return;
    const std::string what = std::string("'resources.") + name + "'";
    if (!value->is_number_integer()) throw badRequest(what + " must be an integer");
    // Compared as signed first: a negative number must not wrap into a huge unsigned one.
    if (value->get<int64_t>() < static_cast<int64_t>(min) || value->get<uint64_t>() > most) {
      throw badRequest(what + " must be " + std::to_string(min) + ".." + std::to_string(most));
    }
    out = value->get<uint64_t>();
  };
  integer("memory_mb", kMinMemoryMb, max.memory_mb, r.memory_mb);
  integer("pids", kMinPids, max.pids, r.pids);
  integer("disk_mb", kMinDiskMb, max.disk_mb, r.disk_mb);
  return r;
}

std::string parseLifecycle(const nlohmann::json& body) {
  const nlohmann::json* field = findField(body, "lifecycle");
  if (!field || field->is_null()) return "kill";
  if (!field->is_object()) throw badRequest("'lifecycle' must be an object");
  refuseUnknownKeys(*field, "lifecycle", {"on_timeout"});
  std::string on_timeout = stringField(*field, "on_timeout").value_or("kill");
  if (on_timeout != "kill" && on_timeout != "pause") {
    throw badRequest("'lifecycle.on_timeout' must be \"kill\" or \"pause\", not " +
                     quoteInput(on_timeout, 32));
  }
  return on_timeout;
}

Clock::time_point parseTimeParam(std::string_view text, std::string_view name) {
  using namespace std::chrono;
  auto fail = [&]() {
    return badRequest("'" + std::string(name) +
                      "' must be an RFC 3339 time (2026-01-02T03:04:05Z) or unix seconds, not " +
                      quoteInput(text));
  };
  // Reads exactly `width` digits at `at` (or up to `width` when `exact` is false).
  size_t at = 0;
  auto number = [&](size_t width, bool exact = true) -> int64_t {
    int64_t value = 0;
    size_t digits = 0;
    while (at < text.size() && digits < width && text[at] >= '0' && text[at] <= '9') {
      value = value * 10 + (text[at++] - '0');
      ++digits;
    }
    if (digits == 0 || (exact && digits != width)) throw fail();
    return value;
  };
  auto expect = [&](std::string_view options) {
    if (at >= text.size() || options.find(text[at]) == std::string_view::npos) throw fail();
    return text[at++];
  };
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > kMaxUnixSecondsDigits) throw fail();
    return Clock::time_point(seconds(number(kMaxUnixSecondsDigits, false)));
  }
  const int64_t y = number(4);
  expect("-");
  const int64_t mo = number(2);
  expect("-");
  const int64_t d = number(2);
  expect("Tt ");
  const int64_t h = number(2);
  expect(":");
  const int64_t mi = number(2);
  expect(":");
  const int64_t s = number(2);
  nanoseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    ++at;
    const size_t from = at;
    int64_t digits = number(kNanosecondDigits, false);
    for (size_t n = at - from; n < kNanosecondDigits; ++n) digits *= 10;
    fraction = nanoseconds(digits);
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;  // past nanoseconds
  }
  minutes offset{0};
  const char zone = expect("Zz+-");
  if (zone == '+' || zone == '-') {
    const int64_t oh = number(2);
    expect(":");
    const int64_t om = number(2);
    if (oh > 23 || om > 59) throw fail();
    offset = minutes((zone == '-' ? -1 : 1) * (oh * 60 + om));
  }
  const year_month_day date{year(static_cast<int>(y)), month(static_cast<unsigned>(mo)),
                            day(static_cast<unsigned>(d))};
  if (at != text.size() || !date.ok() || h > 23 || mi > 59 || s > 60) throw fail();
  const sys_time<nanoseconds> utc =
      sys_days(date) + hours(h) + minutes(mi) + seconds(s) + fraction - offset;
  return time_point_cast<Clock::duration>(utc);
}

MetricsRange parseMetricsRange(const Query& query) {
  MetricsRange range;
  if (auto start = query.single("start")) range.start = parseTimeParam(*start, "start");
  if (auto end = query.single("end")) range.end = parseTimeParam(*end, "end");
  if (range.start && range.end && *range.start > *range.end) {
    throw badRequest("'start' is after 'end'");
  }
  return range;
}

nlohmann::json toJson(const Resources& r) {
  return {{"cpu", r.cpu}, {"memory_mb", r.memory_mb}, {"pids", r.pids}, {"disk_mb", r.disk_mb}};
}

nlohmann::json toJson(const SandboxMetrics& m) {
  auto optional = [](const std::optional<uint64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  double pct = m.cpu_limit_cores > 0 ? 100.0 * m.cpu_cores_used / m.cpu_limit_cores : 0.0;
  return {{"timestamp", formatTime(m.timestamp)},
          {"cpu_cores_used", m.cpu_cores_used},
          {"cpu_used_pct", pct},
          {"cpu_count", m.cpu_limit_cores},
          {"cpu_usage_ns", m.cpu_usage_ns},
          {"mem_used", m.memory_used},
          {"mem_total", m.memory_limit},
          {"pids", m.pids},
          {"pids_limit", m.pids_limit},
          {"disk_used", m.disk_used},
          {"disk_total", m.disk_limit},
          {"oom_kills", m.oom_kills},
          {"net_rx_bytes", optional(m.net_rx_bytes)},
          {"net_tx_bytes", optional(m.net_tx_bytes)}};
}

std::string prometheusText(const DaemonMetrics& m) {
  std::string out;
  auto metric = [&](const std::string& name, const std::string& type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto histogram = [&](const std::string& name, const std::string& labels, const Histogram& h) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    for (size_t i = 0; i < h.bounds.size() && i < h.counts.size(); ++i) {
      out += name + "_bucket{" + prefix + "le=\"" + number(h.bounds[i]) + "\"} " +
             std::to_string(h.counts[i]) + "\n";
    }
    out += name + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + " " + number(h.sum) + "\n";
    out += name + "_count" + braces + " " + std::to_string(h.count) + "\n";
  };
  metric("declaw_sandboxes", "gauge", "Sandboxes by state.");
  for (const char* state : {"running", "paused"}) {
    auto it = m.sandboxes_by_state.find(state);
    uint64_t n = it == m.sandboxes_by_state.end() ? 0 : it->second;
    out += std::string("declaw_sandboxes{state=\"") + state + "\"} " + std::to_string(n) + "\n";
  }
  metric("declaw_sandbox_creates_total", "counter", "Sandboxes created.");
  out += "declaw_sandbox_creates_total " + std::to_string(m.creates) + "\n";
  metric("declaw_sandbox_create_failures_total", "counter", "Sandbox creates that failed.");
  out += "declaw_sandbox_create_failures_total " + std::to_string(m.create_failures) + "\n";
  metric("declaw_init_launches_total", "counter",
         "Sandbox inits started, by how: forked by the init zygote, or exec'd.");
  out += "declaw_init_launches_total{how=\"zygote\"} " + std::to_string(m.inits_forked) + "\n";
  out += "declaw_init_launches_total{how=\"exec\"} " + std::to_string(m.inits_execed) + "\n";
  metric("declaw_launch_ahead_ready", "gauge",
         "Sandbox inits launched ahead, waiting for a create.");
  out += "declaw_launch_ahead_ready " + std::to_string(m.launch_ahead_ready) + "\n";
  metric("declaw_launch_ahead_total", "counter",
         "Creates by whether they took an init launched ahead (hit) or launched their own.");
  out += "declaw_launch_ahead_total{result=\"hit\"} " + std::to_string(m.launch_ahead_hits) + "\n";
  out +=
      "declaw_launch_ahead_total{result=\"miss\"} " + std::to_string(m.launch_ahead_misses) + "\n";
  metric("declaw_skeleton_total", "counter",
         "Creates that took an init launched ahead with the built-ins' skeleton written, by "
         "whether the skeleton served (a plain built-in, the host's files unchanged).");
  out += "declaw_skeleton_total{result=\"used\"} " + std::to_string(m.skeletons_used) + "\n";
  out += "declaw_skeleton_total{result=\"unused\"} " + std::to_string(m.skeletons_unused) + "\n";
  metric("declaw_sandbox_kills_total", "counter", "Sandboxes killed (by request or timeout).");
  out += "declaw_sandbox_kills_total " + std::to_string(m.kills) + "\n";
  metric("declaw_leftovers_cleaned_total", "counter",
         "Sandboxes a previous daemon left behind, cleaned at start.");
  out += "declaw_leftovers_cleaned_total " + std::to_string(m.leftovers_cleaned) + "\n";
  metric("declaw_command_duration_seconds", "histogram", "Foreground command run time.");
  histogram("declaw_command_duration_seconds", "",
            Histogram{m.command_seconds_bounds, m.command_seconds_counts, m.commands,
                      m.command_seconds_sum});
  if (!m.create_phase_seconds.empty()) {
    metric("declaw_create_phase_seconds", "histogram",
           "Time in each phase of a sandbox create (total: the whole create in the daemon).");
    for (const auto& [phase, h] : m.create_phase_seconds) {
      histogram("declaw_create_phase_seconds", "phase=\"" + phase + "\"", h);
    }
  }
  metric("declaw_exec_seconds", "histogram",
         "Time from a process's start request to its exec in the sandbox.");
  histogram("declaw_exec_seconds", "", m.exec_seconds);
  if (!m.pool.empty()) {
    auto perTemplate = [&](const char* name, const char* type, const char* help, auto value) {
      metric(name, type, help);
      for (const PoolStats& p : m.pool) {
        out += std::string(name) + "{template=\"" + p.template_name + "\"} " +
               std::to_string(value(p)) + "\n";
      }
    };
    perTemplate("declaw_pool_target", "gauge", "Ready sandboxes the warm pool keeps per template.",
                [](const PoolStats& p) { return p.target; });
    perTemplate("declaw_pool_ready", "gauge", "Ready sandboxes in the warm pool now.",
                [](const PoolStats& p) { return p.ready; });
    perTemplate("declaw_pool_hits_total", "counter", "Creates served from the warm pool.",
                [](const PoolStats& p) { return p.hits; });
    perTemplate("declaw_pool_misses_total", "counter",
                "Creates of a pooled template built fresh (pool empty, or settings it cannot "
                "serve).",
                [](const PoolStats& p) { return p.misses; });
    metric("declaw_pool_refill_seconds", "histogram", "Time to build one pooled sandbox.");
    histogram("declaw_pool_refill_seconds", "", m.pool_refill_seconds);
  }
  metric("declaw_http_responses_total", "counter", "API answers by HTTP status.");
  for (const auto& [status, count] : m.responses_by_status) {
    out += "declaw_http_responses_total{code=\"" + std::to_string(status) + "\"} " +
           std::to_string(count) + "\n";
  }
  return out;
}

}  // namespace declaw::api
