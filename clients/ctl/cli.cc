#include "clients/ctl/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "clients/ctl/cli_flags.h"
#include "clients/ctl/cli_template.h"
#include "clients/ctl/port_forward_format.h"
#include "clients/ctl/signals.h"

namespace declaw::ctl {
namespace {

using cli::positiveInteger;
using cli::rulesWithoutInternet;
using cli::SandboxFlags;
using cli::SandboxFlagsFor;
using cli::usageError;

constexpr const char* kExecFooter =
    "Modes:\n"
    "  exec ID -- CMD       output live, exit with the command's exit code\n"
    "  exec -i ID -- CMD    the same, with declawctl's stdin streamed to the command\n"
    "  exec -d ID -- CMD    start in the background, print its pid (see ps, logs, signal)\n"
    "  exec -it ID [-- CMD] an interactive terminal (default: a login shell)\n"
    "One argument after -- is a shell command line; several are an argv.";

const CLI::Validator kPidValidator = positiveInteger("a process id", "PID");

// Ports a sandbox can forward (docs/api.md "Ports").
constexpr int kMaxPort = 65535;

constexpr const char* kNetworkFooter =
    "Without flags, shows the rules, the sandbox's address and what was refused.\n"
    "Each of --allow-out and --deny-out replaces that whole list; the other list is kept.\n"
    "Entries: 1.2.3.4, 10.0.0.0/8, 2001:db8::/32, example.com, *.example.com, ALL_TRAFFIC.";

// Flags shared by `exec` and `run` (whose --env is the sandbox's). --timeout is kept apart to
// know whether it was given.
struct ExecFlags {
  ExecSpec spec;
  int64_t timeout_s = 0;
  bool buffered = false;
  CLI::Option* stdin_flag = nullptr;
  CLI::Option* buffered_flag = nullptr;

  void add(CLI::App* cmd, const char* timeout_help) {
    cmd->add_option("--user", spec.user, "Run as: user (default) or root");
    cmd->add_option("--cwd", spec.cwd, "Working directory (default: the user's home)");
    cmd->add_option("--timeout", timeout_s, timeout_help);
    stdin_flag = cmd->add_flag("--stdin", spec.send_stdin,
                               "Send all of declawctl's stdin (UTF-8) to the command at its start");
    buffered_flag = cmd->add_flag(
        "--buffered", buffered,
        "Print the output when the command ends, complete up to declawd's max_output_bytes "
        "(live output drops what bursts past declawd's buffer)");
  }

  // --json is the buffered result as one document, so it implies --buffered.
  ExecSpec resolve(CLI::App* cmd, bool json) const {
    ExecSpec out = spec;
    if (cmd->count("--timeout") > 0) out.timeout_s = timeout_s;
    if (buffered || json) out.mode = ExecMode::kBuffered;
    return out;
  }
};

bool allDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// The sandbox and process verbs (the template verbs are cli::TemplateVerbs), and what CLI11
// writes for them beyond CommandLine's own fields. CLI11 keeps pointers into this object, which
// must therefore stay where it is until the parse is over. The add* functions below add the verbs
// in the order `declawctl --help` lists them.
struct Verbs {
  CLI::App* create = nullptr;
  CLI::App* ls = nullptr;
  CLI::App* info = nullptr;
  CLI::App* kill = nullptr;
  CLI::App* exec = nullptr;
  CLI::App* run = nullptr;
  CLI::App* cp = nullptr;
  CLI::App* watch = nullptr;
  CLI::App* port_forward = nullptr;
  CLI::App* run_code = nullptr;
  CLI::App* timeout = nullptr;
  CLI::App* ps = nullptr;
  CLI::App* logs = nullptr;
  CLI::App* signal = nullptr;
  CLI::App* pause = nullptr;
  CLI::App* resume = nullptr;
  CLI::App* network = nullptr;
  CLI::App* stats = nullptr;

  SandboxFlags create_flags;
  ExecFlags exec_flags;
  bool detach = false, interactive = false, tty = false;
  SandboxFlags run_flags;
  ExecFlags run_exec_flags;
  std::string signal_text;
  std::string listen_text;  // port-forward LISTEN as given
  std::vector<std::string> net_allow, net_deny;
  bool clear_allow = false, clear_deny = false, net_on = false, net_off = false;
  bool no_stream = false;
};

// create, ls, info, kill.
void addSandboxVerbs(CLI::App& app, CommandLine& line, Verbs& v) {
  v.create = app.add_subcommand("create", "Create a sandbox and print its id");
  v.create_flags.add(v.create, SandboxFlagsFor::kCreate);

  v.ls = app.add_subcommand("ls", "List sandboxes");
  v.ls->add_option("--state", line.states,
                   "Only these states: creating, running, paused, killed (repeatable)")
      ->allow_extra_args(false);
  v.ls->add_option("--meta", line.metadata, "Only sandboxes with this K=V metadata (repeatable)")
      ->allow_extra_args(false);
  v.ls->add_flag("-a,--all", line.all,
                 "Killed sandboxes too, while the daemon remembers them (default: live ones)");

  v.info = app.add_subcommand("info", "Show one sandbox");
  v.info->add_option("id", line.id, "Sandbox id")->required();

  v.kill = app.add_subcommand(
      "kill", "Kill sandboxes (idempotent), or with --pid processes in one sandbox");
  v.kill->add_option("id", line.ids, "Sandbox ids (one with --pid)")->required();
  v.kill
      ->add_option("--pid", line.pids,
                   "Kill this process of the sandbox instead (SIGKILL to its process group; "
                   "repeatable)")
      ->allow_extra_args(false)
      ->check(kPidValidator);
}

// exec, run: the verbs that run a command.
void addCommandVerbs(CLI::App& app, CommandLine& line, Verbs& v) {
  v.exec = app.add_subcommand("exec",
                              "Run a command in a sandbox, output live; exit with its exit code");
  v.exec->footer(kExecFooter);
  v.exec->add_option("id", line.id, "Sandbox id")->required();
  v.exec
      ->add_option("--env", v.exec_flags.spec.envs, "K=V environment for the command (repeatable)")
      ->allow_extra_args(false);
  v.exec_flags.add(v.exec, "Command timeout in seconds, 0 = none (default 60; none with -d, -it)");
  auto* detach_flag = v.exec->add_flag("-d,--detach", v.detach,
                                       "Start the command in the background, print its pid");
  auto* interactive_flag = v.exec->add_flag("-i,--interactive", v.interactive,
                                            "Stream declawctl's stdin to the command as it comes");
  auto* tty_flag = v.exec->add_flag("-t,--tty", v.tty,
                                    "With -i: an interactive terminal (PTY) in raw mode; CMD is "
                                    "optional (default: a login shell)");
  tty_flag->needs(interactive_flag);
  detach_flag->excludes(interactive_flag)->excludes(tty_flag)->excludes(v.exec_flags.buffered_flag);
  interactive_flag->excludes(v.exec_flags.stdin_flag)->excludes(v.exec_flags.buffered_flag);
  v.exec->add_option("cmd", v.exec_flags.spec.argv,
                     "Command after --; one argument is a shell command line, several are an argv");

  v.run = app.add_subcommand("run", "Create a sandbox, run a command, kill the sandbox");
  v.run_flags.add(v.run, SandboxFlagsFor::kRun);
  v.run_exec_flags.add(v.run, "Command timeout in seconds, 0 = none (default 60)");
  v.run
      ->add_option("cmd", v.run_exec_flags.spec.argv,
                   "Command after --; one argument is a shell command line, several are an argv")
      ->required();
}

// cp, watch, timeout, ps, logs, signal, pause, resume.
void addFileAndProcessVerbs(CLI::App& app, CommandLine& line, Verbs& v) {
  v.cp = app.add_subcommand("cp", "Copy a file into (LOCAL ID:/path) or out of a sandbox");
  v.cp->add_option("src", line.src, "Source: LOCAL, - (stdin) or ID:/path")->required();
  v.cp->add_option("dst", line.dst, "Destination: LOCAL, - (stdout) or ID:/path")->required();

  v.watch =
      app.add_subcommand("watch", "Print each change under a directory of a sandbox as it happens");
  v.watch->add_option("id", line.id, "Sandbox id")->required();
  v.watch->add_option("path", line.path, "The directory in the sandbox")->required();
  v.watch->add_flag("-r,--recursive", line.recursive,
                    "Every directory below too, including those created later");
  v.watch->add_option("--user", line.user, "Watch as: user (default) or root")
      ->check(CLI::IsMember({"user", "root"}));

  v.port_forward = app.add_subcommand(
      "port-forward", "Reach a port of a sandbox's 127.0.0.1 from the host until Ctrl-C");
  v.port_forward->add_option("id", line.id, "Sandbox id")->required();
  v.port_forward->add_option("port", line.port, "The port inside the sandbox")
      ->required()
      ->check(CLI::Range(1, kMaxPort));
  v.port_forward->add_option("listen", v.listen_text,
                             "Where to listen on the host: PORT (127.0.0.1:PORT), HOST:PORT or "
                             "[::1]:PORT (default: 127.0.0.1 on a free port)");

  v.run_code = app.add_subcommand(
      "run-code", "Run Python on a sandbox's stateful Jupyter kernel (as the SDKs' run_code)");
  v.run_code->add_option("id", line.id, "Sandbox id")->required();
  v.run_code->add_option("code", line.code.code, "The code, or - (the default) for stdin");
  v.run_code->add_option("--context", line.code.context,
                         "A code context's id (default: the default Python context)");
  v.run_code
      ->add_option("--timeout", line.code.timeout_s, "Seconds before it is interrupted (0: none)")
      ->check(CLI::NonNegativeNumber);

  v.timeout = app.add_subcommand("timeout", "Set a sandbox to be killed SECONDS from now");
  v.timeout->add_option("id", line.id, "Sandbox id")->required();
  v.timeout->add_option("seconds", line.seconds, "Seconds from now")->required();

  v.ps = app.add_subcommand("ps", "List the processes started through the API in a sandbox");
  v.ps->add_option("id", line.id, "Sandbox id")->required();

  v.logs = app.add_subcommand(
      "logs", "Print a process's output (what declawd's buffer still holds; -f: then follow)");
  v.logs->add_option("id", line.id, "Sandbox id")->required();
  v.logs->add_option("pid", line.pid, "Process id (from exec -d or ps)")
      ->required()
      ->check(kPidValidator);
  v.logs->add_flag("-f,--follow", line.follow, "Keep printing new output until the process exits");

  v.signal = app.add_subcommand("signal", "Send a signal to a process's process group");
  v.signal->add_option("id", line.id, "Sandbox id")->required();
  v.signal->add_option("pid", line.pid, "Process id (from exec -d or ps)")
      ->required()
      ->check(kPidValidator);
  v.signal->add_option("signal", v.signal_text, "TERM, SIGTERM, 15, KILL, HUP, INT, ...")
      ->required();

  v.pause = app.add_subcommand(
      "pause", "Freeze every process of sandboxes; their timeout clock stops until resume");
  v.pause->add_option("id", line.ids, "Sandbox ids")->required();

  v.resume = app.add_subcommand("resume", "Thaw paused sandboxes");
  v.resume->add_option("id", line.ids, "Sandbox ids")->required();
}

// network, stats.
void addNetworkAndStatsVerbs(CLI::App& app, CommandLine& line, Verbs& v) {
  v.network = app.add_subcommand(
      "network", "Show a sandbox's egress rules, address and refusals, or change its rules");
  v.network->footer(kNetworkFooter);
  v.network->add_option("id", line.id, "Sandbox id")->required();
  auto* allow_flag =
      v.network
          ->add_option("--allow-out", v.net_allow,
                       "Allow only these destinations from now on (repeatable; replaces allow_out)")
          ->allow_extra_args(false);
  auto* deny_flag = v.network
                        ->add_option("--deny-out", v.net_deny,
                                     "Deny these destinations from now on (repeatable; replaces "
                                     "deny_out)")
                        ->allow_extra_args(false);
  v.network->add_flag("--clear-allow", v.clear_allow, "Empty allow_out")->excludes(allow_flag);
  v.network->add_flag("--clear-deny", v.clear_deny, "Empty deny_out")->excludes(deny_flag);
  auto* net_on_flag = v.network->add_flag(
      "--internet", v.net_on, "Give internet access back (only to a sandbox created with it)");
  v.network->add_flag("--no-internet", v.net_off, "Cut the sandbox off (it keeps its rules)")
      ->excludes(net_on_flag);

  v.stats = app.add_subcommand(
      "stats", "Show what sandboxes use (CPU, memory, pids, disk), refreshed every second");
  v.stats->add_option("id", line.ids, "Sandbox ids (default: every running or paused sandbox)");
  v.stats->add_flag("--no-stream", v.no_stream, "Print one sample and exit");
}

// `kill sbx-1 12` is almost certainly meant for process 12: never kill the sandbox then.
std::optional<ParsedArgs> resolveKill(CommandLine& line) {
  if (!line.pids.empty()) {
    if (line.ids.size() != 1) return usageError("kill", "--pid takes exactly one sandbox id");
    line.id = line.ids.front();
    return std::nullopt;
  }
  for (const auto& id : line.ids) {
    if (allDigits(id)) {
      return usageError("kill", "'" + id + "' is not a sandbox id; to kill process " + id +
                                    " use `kill ID --pid " + id + "`");
    }
  }
  return std::nullopt;
}

std::optional<ParsedArgs> resolveExec(const Verbs& v, CommandLine& line) {
  line.exec = v.exec_flags.resolve(v.exec, line.json);
  if (v.detach) {
    line.exec.mode = ExecMode::kDetach;
  } else if (v.tty) {
    line.exec.mode = ExecMode::kTerminal;
  } else if (v.interactive) {
    line.exec.mode = ExecMode::kInteractive;
  }
  const bool streams_input = v.interactive;
  if (streams_input && line.json) {
    return usageError("exec", "--json cannot be combined with -i or -it");
  }
  if (line.exec.argv.empty() && line.exec.mode != ExecMode::kTerminal) {
    return usageError("exec", "no command given (put it after --)");
  }
  return std::nullopt;
}

// After a successful parse: sets line.verb, and what goes with it, for the verb given; a usage
// error for arguments that do not fit together.
std::optional<ParsedArgs> resolveVerb(const Verbs& v, CommandLine& line) {
  if (*v.create) {
    line.verb = Verb::kCreate;
    line.sandbox = v.create_flags.resolve(v.create);
    if (auto bad = rulesWithoutInternet(line.sandbox)) return usageError("create", *bad);
  } else if (*v.ls) {
    line.verb = Verb::kList;
  } else if (*v.info) {
    line.verb = Verb::kInfo;
  } else if (*v.kill) {
    line.verb = Verb::kKill;
    return resolveKill(line);
  } else if (*v.exec) {
    line.verb = Verb::kExec;
    return resolveExec(v, line);
  } else if (*v.run) {
    line.verb = Verb::kRun;
    line.sandbox = v.run_flags.resolve(v.run);
    if (auto bad = rulesWithoutInternet(line.sandbox)) return usageError("run", *bad);
    line.exec = v.run_exec_flags.resolve(v.run, line.json);
  } else if (*v.cp) {
    line.verb = Verb::kCopy;
  } else if (*v.watch) {
    line.verb = Verb::kWatch;
  } else if (*v.run_code) {
    line.verb = Verb::kRunCode;
    line.code.code_given = v.run_code->count("code") > 0;
  } else if (*v.port_forward) {
    line.verb = Verb::kPortForward;
    auto listen = v.listen_text.empty() ? Result<std::string>(std::string(kDefaultListen))
                                        : parseListenAddress(v.listen_text);
    if (!listen) return usageError("port-forward", listen.error().message);
    line.listen = *listen;
  } else if (*v.timeout) {
    line.verb = Verb::kTimeout;
  } else if (*v.ps) {
    line.verb = Verb::kPs;
  } else if (*v.logs) {
    line.verb = Verb::kLogs;
  } else if (*v.pause) {
    line.verb = Verb::kPause;
  } else if (*v.resume) {
    line.verb = Verb::kResume;
  } else if (*v.stats) {
    line.verb = Verb::kStats;
    line.stream = !v.no_stream;
  } else if (*v.network) {
    line.verb = Verb::kNetwork;
    if (!v.net_allow.empty() || v.clear_allow) line.network.allow_out = v.net_allow;
    if (!v.net_deny.empty() || v.clear_deny) line.network.deny_out = v.net_deny;
    if (v.net_on) line.network.internet = true;
    if (v.net_off) line.network.internet = false;
  } else if (*v.signal) {
    line.verb = Verb::kSignal;
    auto number = parseSignal(v.signal_text);
    if (!number) return usageError("signal", number.error().message);
    line.signal = *number;
  }
  return std::nullopt;
}

}  // namespace

ParsedArgs parseCommandLine(int argc, const char* const* argv) {
  CLI::App app{"declawctl: run and manage declaw sandboxes through declawd", "declawctl"};
  app.require_subcommand(1);
  app.fallthrough();  // --json and --socket are accepted after the verb too
  CommandLine line;
  app.add_option("--socket", line.socket_flag,
                 "declawd socket (default: $DECLAW_SOCKET, else /run/declaw/declaw.sock)");
  app.add_flag("--json", line.json,
               "Machine-readable JSON (create, ls, info, timeout, exec, exec -d, ps, logs, "
               "watch, port-forward, run-code, pause, resume, stats, network, template, snapshot)");
  Verbs verbs;
  addSandboxVerbs(app, line, verbs);
  addCommandVerbs(app, line, verbs);
  addFileAndProcessVerbs(app, line, verbs);
  addNetworkAndStatsVerbs(app, line, verbs);
  cli::TemplateVerbs templates(app, line);

  // The command after -- is the user's, word for word: CLI11 would read a word in brackets
  // ("[%s]", "[a,b]") as a list and split or drop it.
  std::optional<std::vector<std::string>> command_words;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      command_words.emplace(argv + i + 1, argv + argc);
      break;
    }
  }

  std::ostringstream out, err;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    ParsedArgs parsed;
    int rc = app.exit(e, out, err);
    parsed.exit_code = rc == 0 ? 0 : kUsageExitCode;
    parsed.out = out.str();
    parsed.err = err.str();
    return parsed;
  }

  if (command_words) {
    verbs.exec_flags.spec.argv = *command_words;
    verbs.run_exec_flags.spec.argv = *command_words;
  }
  if (templates.given()) {
    if (auto bad = templates.resolve(line)) return std::move(*bad);
  } else if (auto bad = resolveVerb(verbs, line)) {
    return std::move(*bad);
  }
  ParsedArgs parsed;
  parsed.command = std::move(line);
  return parsed;
}

}  // namespace declaw::ctl
