#include "daemon/command_env.h"

namespace declaw::daemon {

std::vector<std::string> commandEnvironment(const std::string& user, const std::string& home,
                                            const std::vector<std::string>& image_env,
                                            const api::StringMap& sandbox_envs,
                                            const api::StringMap& command_envs) {
  api::StringMap env = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"HOME", home},
      {"USER", user},
      {"LOGNAME", user},
      {"SHELL", "/bin/bash"},
      {"LANG", "C.UTF-8"},
  };
  for (const std::string& entry : image_env) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;  // parseConfig refused these already
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : sandbox_envs) env[k] = v;
  for (const auto& [k, v] : command_envs) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace declaw::daemon
