// JSON for resources, lifecycle and metrics, and the daemon's metrics as Prometheus text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/paths.h"
#include "api/services.h"

namespace declaw::api {

// "resources": {"cpu": 1.5, "memory_mb": 512, "pids": 256, "disk_mb": 1024}; absent fields take
// limits.default_resources, and each must be within limits.max_resources.
Resources parseResources(const nlohmann::json& body, const Limits& limits);
// "lifecycle": {"on_timeout": "kill" | "pause"} -> the on_timeout value.
std::string parseLifecycle(const nlohmann::json& body);

// A point in time as a query parameter: RFC 3339 ("2026-01-02T03:04:05Z", fractions and
// offsets such as "+02:00" allowed) or unix seconds ("1767323045"). ApiError(400) naming
// `name` otherwise.
Clock::time_point parseTimeParam(std::string_view text, std::string_view name);
// GET .../metrics/history?start=&end=: the samples from start to end, both included; an
// absent bound is open. ApiError(400) when start is after end.
MetricsRange parseMetricsRange(const Query& query);

nlohmann::json toJson(const Resources& resources);
nlohmann::json toJson(const SandboxMetrics& metrics);
// The Prometheus text exposition format (version 0.0.4).
std::string prometheusText(const DaemonMetrics& metrics);

}  // namespace declaw::api
