// JSON for resources, lifecycle and metrics, and the daemon's metrics as Prometheus text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/services.h"

namespace declaw::api {

// "resources": {"cpu": 1.5, "memory_mb": 512, "pids": 256, "disk_mb": 1024}; absent fields take
// limits.default_resources, and each must be within limits.max_resources.
Resources parseResources(const nlohmann::json& body, const Limits& limits);
// "lifecycle": {"on_timeout": "kill" | "pause"} -> the on_timeout value.
std::string parseLifecycle(const nlohmann::json& body);

nlohmann::json toJson(const Resources& resources);
nlohmann::json toJson(const SandboxMetrics& metrics);
// The Prometheus text exposition format (version 0.0.4).
std::string prometheusText(const DaemonMetrics& metrics);

}  // namespace declaw::api
