// What declawctl sends and how it reads the answers, as pure functions over plain values: the
// create and command request bodies built from CLI flags, and a command result decoded into the
// exact bytes and exit code to reproduce locally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace declaw::ctl {

// The command timeout declawctl sends when none is given (the API's documented default), always
// sent explicitly so the "timed out after S s" message names the real limit.
inline constexpr int64_t kDefaultCommandTimeoutS = 60;
// `run` creates its sandbox with the command timeout plus this, so the sandbox outlives the
// command but is still reaped if declawctl dies before it can kill it.
inline constexpr int64_t kRunSandboxGraceS = 30;
// Exit code of a command that hit its timeout (as timeout(1)).
inline constexpr int kTimedOutExitCode = 124;

// Exit code of a process killed by SIGKILL (128 + 9), as a shell reports it: what the OOM killer
// leaves behind.
inline constexpr int kKilledExitCode = 137;

// `resources` of POST /v1/sandboxes: each limit is sent only when given (the daemon fills in its
// defaults and checks its maxima).
struct ResourceSpec {
  std::optional<double> cpu;         // cores
  std::optional<int64_t> memory_mb;  // MiB
  std::optional<int64_t> pids;
  std::optional<int64_t> disk_mb;  // MiB of the sandbox's writable layers (tmpfs)
};

// Flags of `create` (and the sandbox half of `run`).
struct SandboxSpec {
  std::string template_id;            // omitted when empty
  std::optional<int64_t> timeout_s;   // sandbox lifetime
  std::vector<std::string> envs;      // K=V
  std::vector<std::string> metadata;  // K=V
  std::optional<bool> internet;       // allow_internet_access; omitted when unset
  ResourceSpec resources;
  std::string on_timeout;  // lifecycle.on_timeout ("kill" | "pause"); omitted when empty
  // `network` egress rules (--allow-out, --deny-out): each list is sent when not empty, and
  // `network` only when one is.
  std::vector<std::string> allow_out;
  std::vector<std::string> deny_out;
  bool loopback_inet = false;  // network.loopback_inet: TCP on its own lo without internet
};

// Flags of `network ID`: what PATCH .../network changes. A part left unset is not sent, so the
// daemon keeps it; a list that is set replaces the sandbox's list (empty: --clear-allow).
struct NetworkUpdate {
  std::optional<std::vector<std::string>> allow_out;
  std::optional<std::vector<std::string>> deny_out;
  std::optional<bool> internet;  // allow_internet_access

  // Nothing to change: `network ID` only shows the rules.
  bool empty() const { return !allow_out && !deny_out && !internet; }
};

// `template build`: the sandbox its steps run in is killed after this many seconds unless
// --timeout says otherwise, so a build that hangs (or a declawctl that dies) does not leave it
// running for the sandbox default of 300 s, which would also be short for `apt-get install`.
inline constexpr int64_t kBuildSandboxTimeoutS = 3600;

// `template build NAME`: a sandbox from --from, each --run step in order as root, then a
// snapshot named NAME.
struct BuildSpec {
  SandboxSpec sandbox;                    // template_id is --from (empty: the daemon's base)
  std::vector<std::string> steps;         // --run: shell command lines, run in order
  std::optional<int64_t> step_timeout_s;  // --step-timeout: each step's limit; none by default
};

// How `exec` runs its command.
enum class ExecMode {
  kWait,         // live output, exit with the command's code (POST .../commands/stream)
  kBuffered,     // --buffered, --json: the whole output at the end (POST .../commands)
  kDetach,       // -d: start in the background, print the pid (POST .../commands, background)
  kInteractive,  // -i: kWait, and declawctl's stdin streams to the command's
  kTerminal,     // -it: a PTY driven by the local terminal (POST .../pty)
};

// Flags of `exec` (and the command half of `run`).
struct ExecSpec {
  ExecMode mode = ExecMode::kWait;
  std::string user;                  // omitted when empty
  std::string cwd;                   // omitted when empty
  std::vector<std::string> envs;     // K=V
  std::optional<int64_t> timeout_s;  // --timeout; see commandTimeout()
  bool send_stdin = false;           // --stdin: all of stdin up front, as the request's `stdin`
  std::vector<std::string> argv;     // see commandFields(); may be empty for kTerminal
};

// The command of a request: one word is a shell command line ({"cmd": ...}, so
// `exec ID -- 'ls | wc -l'` works, as with ssh); several are a program and its arguments
// ({"argv": [...]}), run without a shell.
nlohmann::json commandFields(const std::vector<std::string>& argv);

// The command timeout in effect: --timeout, else the API's default for the mode (60 s for a
// command declawctl waits for, none for a background process or a terminal).
int64_t commandTimeout(const ExecSpec& spec);

// kWait, kBuffered, kInteractive: declawctl waits for the command and exits with its code.
bool waitsForExit(ExecMode mode);

// Rows and columns of a terminal.
struct TerminalSize {
  int rows = 24;
  int cols = 80;
};

// POST /v1/sandboxes body.
Result<nlohmann::json> buildCreateRequest(const SandboxSpec& spec);

// POST /v1/sandboxes body of a build's sandbox: the --from template, the build's envs, network
// and limits, and its timeout (kBuildSandboxTimeoutS unless given).
Result<nlohmann::json> buildTemplateSandboxRequest(const BuildSpec& spec);

// POST .../commands body of step `index` of a build: a foreground command as root, with the
// step timeout (0: none; the build sandbox's timeout still bounds it).
nlohmann::json buildStepRequest(const BuildSpec& spec, size_t index);

// POST .../snapshots body.
nlohmann::json buildSnapshotRequest(const std::string& name, bool replace);

// PATCH .../network body: only the parts the update sets.
nlohmann::json buildNetworkPatch(const NetworkUpdate& update);

// The body of POST .../commands (kBuffered: foreground, kDetach: background) and of
// POST .../commands/stream (kWait, kInteractive: with "stdin_open"). stdin_data is sent when
// spec.send_stdin. Bytes that are not UTF-8 cannot travel in the API's JSON `stdin` string and
// are an Error. The timeout is always sent for a command declawctl waits for, so the "timed out
// after S s" message names the real limit; for kDetach only when given.
Result<nlohmann::json> buildCommandRequest(const ExecSpec& spec, const std::string& stdin_data);

// POST .../pty body: the size, the command when one was given (else the daemon starts an
// interactive login shell), and the flags that were given.
Result<nlohmann::json> buildPtyRequest(const ExecSpec& spec, TerminalSize size);

// A command result as declawctl reproduces it.
struct CommandOutcome {
  std::string stdout_bytes;  // from stdout_base64 when present, else stdout
  std::string stderr_bytes;
  int exit_code = 0;  // what declawctl exits with: 0..255
  bool timed_out = false;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  bool oom_killed = false;  // the OOM killer struck in the sandbox while the command ran
};

Result<CommandOutcome> decodeCommandResult(const nlohmann::json& result);

// The note for a command the OOM killer ended: "the command was killed for lack of memory
// (memory_mb=N)", N being the sandbox's limit from its SandboxInfo (left out when unknown).
std::string oomNote(const nlohmann::json& sandbox_info);

// Whether an exit could be the OOM killer's work, which is worth asking the daemon about: SIGKILL
// to the command itself, or a shell that reports its child's SIGKILL as 137.
bool mayBeOomKill(std::optional<int> signal, std::optional<int64_t> exit_code);

}  // namespace declaw::ctl
