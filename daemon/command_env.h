// The environment a command starts with.
#pragma once

#include <string>
#include <vector>

#include "api/services.h"

namespace declaw::daemon {

// Defaults for the user, then the sandbox's envs, then the command's. Pure, unit-tested.
std::vector<std::string> commandEnvironment(const std::string& user, const std::string& home,
                                            const api::StringMap& sandbox_envs,
                                            const api::StringMap& command_envs);

}  // namespace declaw::daemon
