// The declawctl verbs. Each returns the process exit code and prints its own output and errors:
// 0 on success, 1 for any client-side or API error ("declawctl: <message> (<code>)" on stderr),
// the command's exit code for exec/run (124 on a command timeout).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clients/ctl/cli.h"
#include "clients/ctl/requests.h"

namespace declaw::ctl {

inline constexpr int kErrorExitCode = 1;
inline constexpr const char* kDefaultSocketPath = "/run/declaw/declaw.sock";

struct GlobalOptions {
  std::string socket_path;  // already resolved (--socket, $DECLAW_SOCKET, default)
  bool json = false;
};

// --socket wins, then $DECLAW_SOCKET (when non-empty), then kDefaultSocketPath.
std::string resolveSocketPath(const std::string& flag_value);

int cmdCreate(const GlobalOptions& global, const SandboxSpec& spec);
// Live sandboxes unless `all` or a state is given; every page of them.
int cmdList(const GlobalOptions& global, const std::vector<std::string>& states,
            const std::vector<std::string>& metadata, bool all);
int cmdInfo(const GlobalOptions& global, const std::string& id);
int cmdKill(const GlobalOptions& global, const std::vector<std::string>& ids);
int cmdSetTimeout(const GlobalOptions& global, const std::string& id, int64_t seconds);
// All the modes of exec (spec.mode); see docs/declawctl.md.
int cmdExec(const GlobalOptions& global, const std::string& id, const ExecSpec& spec);
int cmdRun(const GlobalOptions& global, const SandboxSpec& sandbox, const ExecSpec& spec);
int cmdCopy(const GlobalOptions& global, const std::string& src, const std::string& dst);
int cmdProcessList(const GlobalOptions& global, const std::string& id);
// Prints what the process has written (follow: and then what it writes, until it exits); 0.
int cmdLogs(const GlobalOptions& global, const std::string& id, int64_t pid, bool follow);
int cmdSignal(const GlobalOptions& global, const std::string& id, int64_t pid, int signal);
// SIGKILL to each process's group (`kill ID --pid PID...`); idempotent.
int cmdKillProcesses(const GlobalOptions& global, const std::string& id,
                     const std::vector<int64_t>& pids);

// `watch ID PATH`: one line per change under the directory PATH as it comes (--json: one
// {"event", "data"} line per event), until the directory is removed (0), the watch ends
// otherwise (1, the daemon's reason on stderr) or SIGINT/SIGTERM (128+N).
int cmdWatch(const GlobalOptions& global, const std::string& id, const std::string& path,
             bool recursive, const std::string& user);

// `port-forward ID PORT [LISTEN]`: forwards the sandbox's 127.0.0.1:PORT from a unix socket and
// a TCP listener at listen on the host, prints "Forwarding from ..." lines (--json: the
// PortForward), and keeps the forward until SIGINT/SIGTERM (the forward is removed, 0) or until
// it ends by itself, with the sandbox for instance (1, saying why).
int cmdPortForward(const GlobalOptions& global, const std::string& id, int port,
                   const std::string& listen);

// `run-code ID [--context C] [--timeout S] [CODE | -]`: runs Python on the context's kernel in
// the sandbox (started, with the Python SDK's bridge, when it has none); its stdout/stderr and
// results' text as they come, an error's traceback on stderr and 1 (--json: the Execution).
int cmdRunCode(const GlobalOptions& global, const std::string& id, const CodeArgs& args);

// Pause or resume each sandbox (idempotent); --json prints each SandboxInfo.
int cmdPause(const GlobalOptions& global, const std::vector<std::string>& ids);
int cmdResume(const GlobalOptions& global, const std::vector<std::string>& ids);
// The usage of the given sandboxes (none: every running or paused one) as a table, redrawn every
// second on a terminal while stream; --json: one line per sandbox per sample. 0 unless a named
// sandbox could not be measured; SIGINT/SIGTERM end it normally.
int cmdStats(const GlobalOptions& global, const std::vector<std::string>& ids, bool stream);

// `network ID`: shows the sandbox's rules, link and refusals, or with an update PATCHes them
// and shows the result; --json prints the daemon's network object.
int cmdNetwork(const GlobalOptions& global, const std::string& id, const NetworkUpdate& update);

// `template import FILE NAME`: streams the archive (FILE, or stdin for "-") as the PUT body, never
// holding it in memory: a file with its length, a pipe chunked. A progress bar on stderr when
// that is a terminal and the archive is big. Prints NAME (--json: the TemplateInfo).
int cmdTemplateImport(const GlobalOptions& global, const std::string& file, const std::string& name,
                      bool replace);
// `template ls`: a table, the built-ins first; --json: the TemplateInfo array.
int cmdTemplateList(const GlobalOptions& global);
// `template inspect NAME`: its fields, config and layers; --json: the TemplateInfo.
int cmdTemplateInspect(const GlobalOptions& global, const std::string& name);
// `template rm NAME...`: deletes each; 1 when any could not be deleted.
int cmdTemplateRemove(const GlobalOptions& global, const std::vector<std::string>& names);
// `template export NAME [-o FILE]`: the OCI archive to FILE or stdout (never to a terminal).
int cmdTemplateExport(const GlobalOptions& global, const std::string& name,
                      const std::string& output);
// `template build NAME`: a sandbox from spec.sandbox, each step in order as root, then a
// snapshot named NAME; the sandbox is killed on every way out. A failing step prints its output
// and exit code and publishes nothing (exit 1). Prints NAME (--json: the TemplateInfo).
int cmdTemplateBuild(const GlobalOptions& global, const std::string& name, const BuildSpec& spec,
                     bool replace);
// `snapshot SANDBOX NAME`: the sandbox's root as template NAME. Prints NAME (--json: the
// TemplateInfo).
int cmdSnapshot(const GlobalOptions& global, const std::string& id, const std::string& name,
                bool replace);

// Shared by the verb files: prints "declawctl: <error>" to stderr and returns kErrorExitCode.
int reportError(const Error& error);
// Prints JSON for --json output (pretty, one document, trailing newline).
void printJson(const nlohmann::json& value);

}  // namespace declaw::ctl
