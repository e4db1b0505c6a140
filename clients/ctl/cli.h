// declawctl's command line (CLI11) turned into a plain value, without running anything: the verb
// and its flags, or the help text or usage error to print. Combinations CLI11 cannot express
// (exec's modes, `kill --pid`) are checked here too, so every bad command line exits 2 before a
// request is made, and the unit tests see exactly what main() would run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clients/ctl/requests.h"

namespace declaw::ctl {

// Exit code for a command line that does not parse (as argparse and most GNU tools).
inline constexpr int kUsageExitCode = 2;

enum class Verb {
  kCreate,
  kList,
  kInfo,
  kKill,
  kExec,
  kRun,
  kCopy,
  kWatch,
  kPortForward,
  kRunCode,
  kTimeout,
  kPs,
  kLogs,
  kSignal,
  kPause,
  kResume,
  kStats,
  kNetwork,
  kTemplateImport,
  kTemplateList,
  kTemplateInspect,
  kTemplateRemove,
  kTemplateExport,
  kTemplateBuild,
  kSnapshot,
};

// The arguments of `template ...` and `snapshot`.
struct TemplateArgs {
  std::string name;                // import, inspect, export, build, snapshot: the template
  std::vector<std::string> names;  // rm
  std::string file;                // import: an image archive, or - for stdin
  std::string output;              // export -o: a file, or - / empty for stdout
  bool replace = false;            // import, build, snapshot --replace
};

// The arguments of `run-code`.
struct CodeArgs {
  std::string code;         // CODE, or - for stdin
  bool code_given = false;  // false: read the code from stdin
  std::string context;      // --context (empty: the default Python context)
  double timeout_s = 300;   // --timeout (0: none)
};

struct CommandLine {
  Verb verb = Verb::kList;
  std::string socket_flag;  // --socket as given (resolveSocketPath() picks the socket)
  bool json = false;
  SandboxSpec sandbox;                // create, run
  ExecSpec exec;                      // exec, run
  std::string id;                     // info, exec, timeout, ps, logs, signal, network, kill --pid
  std::vector<std::string> ids;       // kill, pause, resume, stats
  std::vector<int64_t> pids;          // kill --pid: processes to kill instead of sandboxes
  std::vector<std::string> states;    // ls --state
  std::vector<std::string> metadata;  // ls --meta
  bool all = false;                   // ls -a: killed sandboxes too
  std::string src;                    // cp
  std::string dst;                    // cp
  std::string path;                   // watch: the directory in the sandbox
  bool recursive = false;             // watch -r
  std::string user;                   // watch --user (empty: the daemon's default, user)
  int port = 0;                       // port-forward: the port inside the sandbox
  std::string listen;                 // port-forward: the API's `listen` (from LISTEN or default)
  int64_t seconds = 0;                // timeout
  int64_t pid = 0;                    // logs, signal
  bool follow = false;                // logs -f
  int signal = 0;                     // signal
  bool stream = true;                 // stats (false: --no-stream)
  NetworkUpdate network;              // network: what to change (empty: only show)
  CodeArgs code;                      // run-code
  TemplateArgs templ;                 // template ..., snapshot (whose SANDBOX is `id`)
  BuildSpec build;                    // template build
};

struct ParsedArgs {
  std::optional<CommandLine> command;  // nullopt: nothing to run, exit with exit_code
  int exit_code = 0;                   // 0 after --help, kUsageExitCode after a usage error
  std::string out;                     // for stdout (help)
  std::string err;                     // for stderr (the usage error)
};

ParsedArgs parseCommandLine(int argc, const char* const* argv);

}  // namespace declaw::ctl
