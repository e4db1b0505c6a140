// Runs one foreground command through a sandbox's init: pipes created here (so output never
// flows through init), stdin fed, stdout/stderr captured up to a cap, the process group killed
// on timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "api/services.h"
#include "common/result.h"
#include "runtime/init_client.h"

namespace declaw::daemon {

struct CommandPlan {
  runtime::SpawnRequest spawn;
  std::string stdin_data;
  std::chrono::milliseconds timeout{0};  // 0 = none
  uint64_t max_output_bytes = 0;         // per stream
};

Result<api::RunResult> runCommand(runtime::InitClient& init, const CommandPlan& plan);

// The environment of a command: defaults for the user, then the sandbox's envs, then the
// command's. Pure, unit-tested.
std::vector<std::string> commandEnvironment(const std::string& user, const std::string& home,
                                            const api::StringMap& sandbox_envs,
                                            const api::StringMap& command_envs);

}  // namespace declaw::daemon
