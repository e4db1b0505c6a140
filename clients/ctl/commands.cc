#include "clients/ctl/commands.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/format.h"
#include "clients/ctl/io_util.h"

namespace declaw::ctl {
namespace {

// Client-side cap on --stdin; the daemon applies its own max_json_body_bytes too.
constexpr size_t kMaxStdinBytes = size_t{64} * 1024 * 1024;

}  // namespace

SandboxReaper::~SandboxReaper() {
  try {
    // Cleanup after an interrupt runs to its end (HttpClient::setInterruptible).
    api_.setInterruptible(false);
    if (auto r = api_.killSandbox(id_); !r) {
      warn("could not kill " + id_ + ": " + r.error().describe());
    }
  } catch (...) {
    // Nothing more to do from a destructor; the sandbox timeout reaps it.
  }
}

void warn(const std::string& message) { std::cerr << "declawctl: warning: " << message << "\n"; }

Result<std::string> readStdinIfAsked(const ExecSpec& spec) {
  if (!spec.send_stdin) return std::string();
  auto data = readFully(STDIN_FILENO, kMaxStdinBytes);
  if (!data) return PlainError() << "--stdin: " << data.error().describe();
  return data;
}

int runBuffered(ApiClient& api, const GlobalOptions& global, const std::string& id,
                const ExecSpec& spec, const nlohmann::json& request, bool add_sandbox_id) {
  auto result = api.runCommand(id, request);
  if (!result) return reportError(result.error());
  auto outcome = decodeCommandResult(*result);
  if (!outcome) return reportError(outcome.error());

  if (global.json) {
    if (add_sandbox_id) (*result)["sandbox_id"] = id;
    printJson(*result);
  } else {
    // Our own stdout closing early (`| head`) ends us with SIGPIPE, as for any filter.
    if (auto r = writeFully(STDOUT_FILENO, outcome->stdout_bytes); !r) {
      return reportError(PlainError() << "stdout: " << r.error().describe());
    }
    if (auto r = writeFully(STDERR_FILENO, outcome->stderr_bytes); !r) {
      return reportError(PlainError() << "stderr: " << r.error().describe());
    }
  }
  if (outcome->stdout_truncated) warn("stdout was truncated by declawd (over max_output_bytes)");
  if (outcome->stderr_truncated) warn("stderr was truncated by declawd (over max_output_bytes)");
  if (outcome->oom_killed) reportOomKill(api, id);
  if (outcome->timed_out) {
    ExitEvent exit;
    exit.timed_out = true;
    return reportExit(exit, commandTimeout(spec));
  }
  return outcome->exit_code;
}

int reportExit(const ExitEvent& exit, int64_t timeout_s) {
  if (exit.timed_out) {
    // With no command timeout (0), only the sandbox's own timeout can have stopped it.
    std::cerr << "declawctl: command timed out";
    if (timeout_s > 0) std::cerr << " after " << timeout_s << " s";
    std::cerr << "\n";
  }
  auto status = exitStatus(exit);
  if (status) return *status;
  return reportError(
      PlainError() << (exit.error.empty() ? "the command ended without an exit code" : exit.error));
}

Result<int64_t> pidOf(const nlohmann::json& process) {
  if (process.is_object()) {
    auto it = process.find("pid");
    if (it != process.end() && it->is_number_integer()) return it->get<int64_t>();
  }
  return PlainError() << "bad response from declawd: no pid";
}

std::string resolveSocketPath(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const char* env = std::getenv("DECLAW_SOCKET");
  if (env != nullptr && *env != '\0') return env;
  return kDefaultSocketPath;
}

int reportError(const Error& error) {
  std::cerr << "declawctl: " << error.describe() << "\n";
  return kErrorExitCode;
}

void printJson(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  std::cout.flush();
}

int cmdCreate(const GlobalOptions& global, const SandboxSpec& spec) {
  auto request = buildCreateRequest(spec);
  if (!request) return reportError(request.error());
  ApiClient api(global.socket_path);
  auto info = api.createSandbox(*request);
  if (!info) return reportError(info.error());
  if (global.json) {
    printJson(*info);
  } else {
    std::cout << displayField(*info, "sandbox_id") << "\n";
  }
  return 0;
}

int cmdList(const GlobalOptions& global, const std::vector<std::string>& states,
            const std::vector<std::string>& metadata, bool all) {
  std::string query = all ? "all=true" : "";
  if (!states.empty()) {
    std::string joined;
    for (const auto& s : states) joined += (joined.empty() ? "" : ",") + s;
    query += (query.empty() ? "" : "&") + std::string("state=") + percentEncode(joined);
  }
  if (!metadata.empty()) {
    auto pairs = parseKeyValues(metadata);
    if (!pairs) return reportError(PlainError() << "--meta: " << pairs.error().message);
    query += (query.empty() ? "" : "&") + std::string("metadata=") + metadataQuery(*pairs);
  }
  ApiClient api(global.socket_path);
  auto sandboxes = api.listSandboxes(query);
  if (!sandboxes) return reportError(sandboxes.error());
  if (global.json) {
    printJson(*sandboxes);
  } else {
    std::cout << formatSandboxTable(*sandboxes);
  }
  return 0;
}

int cmdInfo(const GlobalOptions& global, const std::string& id) {
  ApiClient api(global.socket_path);
  auto info = api.getSandbox(id);
  if (!info) return reportError(info.error());
  if (global.json) {
    printJson(*info);
  } else {
    std::cout << formatSandboxInfo(*info);
  }
  return 0;
}

int cmdKill(const GlobalOptions& global, const std::vector<std::string>& ids) {
  ApiClient api(global.socket_path);
  int rc = 0;
  for (const auto& id : ids) {
    if (auto r = api.killSandbox(id); !r) rc = reportError(r.error());
  }
  return rc;
}

int cmdSetTimeout(const GlobalOptions& global, const std::string& id, int64_t seconds) {
  ApiClient api(global.socket_path);
  auto info = api.setTimeout(id, seconds);
  if (!info) return reportError(info.error());
  if (global.json) {
    printJson(*info);
  } else {
    std::cout << id << " ends at " << displayField(*info, "end_at") << "\n";
  }
  return 0;
}

int cmdRun(const GlobalOptions& global, const SandboxSpec& sandbox, const ExecSpec& spec) {
  // Everything that can fail locally fails before a sandbox exists.
  auto stdin_data = readStdinIfAsked(spec);
  if (!stdin_data) return reportError(stdin_data.error());
  auto command = buildCommandRequest(spec, *stdin_data);
  if (!command) return reportError(command.error());
  SandboxSpec with_lifetime = sandbox;
  if (!with_lifetime.timeout_s && commandTimeout(spec) > 0) {
    with_lifetime.timeout_s = commandTimeout(spec) + kRunSandboxGraceS;
  }
  auto create = buildCreateRequest(with_lifetime);
  if (!create) return reportError(create.error());

  // Ctrl-C must not leave the sandbox behind: the signal interrupts the blocked request, and the
  // reaper below kills the sandbox on the way out.
  installInterruptHandlers();
  ApiClient api(global.socket_path);
  auto info = api.createSandbox(*create);
  if (!info) return reportError(info.error());
  if (!info->is_object() || !info->contains("sandbox_id") || !(*info)["sandbox_id"].is_string()) {
    return reportError(PlainError() << "bad response from declawd: no sandbox_id");
  }
  const std::string id = (*info)["sandbox_id"].get<std::string>();
  int rc;
  {
    SandboxReaper reaper(api, id);
    if (g_interrupted != 0) {
      rc = kErrorExitCode;
    } else if (spec.mode == ExecMode::kBuffered) {
      rc = runBuffered(api, global, id, spec, *command, /*add_sandbox_id=*/true);
    } else {
      // A new sandbox has had no OOM kills: no need to ask.
      rc = runLive(api, global, id, spec, *command, /*oom_kills_before=*/0);
    }
  }
  if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
  return rc;
}

}  // namespace declaw::ctl
