// Logging setup. Each module has its own spdlog logger; lines about a sandbox carry its id as a
// prefix: "[sbx-1a2b] ...".
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace declaw {

// Sets the global level and pattern (stderr, as systemd's journal expects). Idempotent.
void setupLogging(const std::string& level);

// The logger for one module ("daemon", "runtime", "api"), created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

}  // namespace declaw
