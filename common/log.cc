#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace declaw {

void setupLogging(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
}

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
  static std::mutex mutex;  // spdlog's registry throws if two threads create the same name
  std::lock_guard lock(mutex);
  if (auto existing = spdlog::get(module)) return existing;
  return spdlog::stderr_color_mt(module);
}

}  // namespace declaw
