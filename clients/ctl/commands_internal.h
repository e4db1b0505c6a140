// Helpers shared by the verb files (commands*.cc); not part of the verbs' interface.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/process_events.h"
#include "clients/ctl/requests.h"

namespace declaw::ctl {

// declawctl ended by signal N exits 128+N, as a shell reports it.
inline constexpr int kSignalExitBase = 128;

// Kills a sandbox declawctl made for itself (`run`, `template build`) when it goes out of scope,
// on every path out, exceptions included; a failure is a warning (its timeout reaps it then).
class SandboxReaper {
 public:
  SandboxReaper(ApiClient& api, std::string id) : api_(api), id_(std::move(id)) {}
  SandboxReaper(const SandboxReaper&) = delete;
  SandboxReaper& operator=(const SandboxReaper&) = delete;
  ~SandboxReaper();

 private:
  ApiClient& api_;
  std::string id_;
};

// "declawctl: warning: <message>" on stderr.
void warn(const std::string& message);

// All of stdin when --stdin was given (UTF-8, capped), else "".
Result<std::string> readStdinIfAsked(const ExecSpec& spec);

// A foreground command whose output comes whole at the end (`--buffered`), or as one JSON
// document (`--json`). add_sandbox_id puts the sandbox id into the JSON of `run`, whose sandbox
// is gone by the time anyone reads it.
int runBuffered(ApiClient& api, const GlobalOptions& global, const std::string& id,
                const ExecSpec& spec, const nlohmann::json& request, bool add_sandbox_id);

// A command with live output (`exec`, `exec -i`, `run`): request is a POST .../commands/stream
// body. If declawctl is interrupted (SIGINT, SIGTERM) or cannot go on, the command's process
// group is killed.
// oom_kills_before: the sandbox's oom_kills before the command started (oomKillCount()), to
// tell afterwards whether the OOM killer ended it, since the exit event does not say; nullopt
// when unknown (then nothing is said).
int runLive(ApiClient& api, const GlobalOptions& global, const std::string& id,
            const ExecSpec& spec, const nlohmann::json& request,
            std::optional<uint64_t> oom_kills_before);

// The sandbox's oom_kills now (GET .../metrics); nullopt when declawd cannot say.
std::optional<uint64_t> oomKillCount(ApiClient& api, const std::string& id);

// Whether the OOM killer ended a live command: the exit event's word when it has one, else a
// SIGKILL-like exit while the sandbox's oom_kills went up from kills_before.
bool oomKilled(ApiClient& api, const std::string& id, const ExitEvent& exit,
               std::optional<uint64_t> kills_before);

// "declawctl: the command was killed for lack of memory (memory_mb=N)" on stderr, N from the
// sandbox's SandboxInfo.
void reportOomKill(ApiClient& api, const std::string& id);

// `exec -it`.
int runTerminal(const GlobalOptions& global, const std::string& id, const ExecSpec& spec);

// The exit code for a finished process, after saying on stderr why when it timed out (timeout_s:
// the limit in effect, 0 for none) or has no exit code (an error, exit 1).
int reportExit(const ExitEvent& exit, int64_t timeout_s);

// The pid of a ProcessInfo.
Result<int64_t> pidOf(const nlohmann::json& process);

}  // namespace declaw::ctl
