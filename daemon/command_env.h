// The environment a command starts with.
#pragma once

#include <string>
#include <vector>

#include "api/services.h"

namespace declaw::daemon {

// Defaults for the user, then the image's Env ("K=V"), then the sandbox's envs, then the
// command's: each later one wins. Pure, unit-tested.
std::vector<std::string> commandEnvironment(const std::string& user, const std::string& home,
                                            const std::vector<std::string>& image_env,
                                            const api::StringMap& sandbox_envs,
                                            const api::StringMap& command_envs);

}  // namespace declaw::daemon
