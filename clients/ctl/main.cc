// declawctl: a thin command line over the declawd API (docs/api.md). Argument parsing only; the
// verbs live in commands.cc and commands_copy.cc.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "clients/ctl/commands.h"

namespace {

using declaw::ctl::ExecSpec;
using declaw::ctl::SandboxSpec;

// Exit code for a command line that does not parse (as argparse and most GNU tools).
constexpr int kUsageExitCode = 2;

// Flags shared by `create` and `run`.
struct SandboxFlags {
  SandboxSpec spec;
  int64_t timeout_s = 0;
  bool internet = false;
  bool no_internet = false;
  bool has_timeout = false;  // `run` uses --timeout for the command instead

  void add(CLI::App* cmd, bool timeout_is_sandbox) {
    has_timeout = timeout_is_sandbox;
    cmd->add_option("--template", spec.template_id, "Template: base (default), python, node");
    if (timeout_is_sandbox) {
      // Ranges are the daemon's to check: it knows its limits and names the field in its error.
      cmd->add_option("--timeout", timeout_s, "Seconds until the sandbox is killed (default 300)");
    }
    cmd->add_option("--env", spec.envs, "K=V environment for every command (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--meta", spec.metadata, "K=V metadata (repeatable)")->allow_extra_args(false);
    auto* on = cmd->add_flag("--internet", internet, "Allow internet access");
    auto* off = cmd->add_flag("--no-internet", no_internet, "Deny internet access (the default)");
    on->excludes(off);
  }

  SandboxSpec resolve(CLI::App* cmd) const {
    SandboxSpec out = spec;
    if (has_timeout && cmd->count("--timeout") > 0) out.timeout_s = timeout_s;
    if (internet) out.internet = true;
    if (no_internet) out.internet = false;
    return out;
  }
};

// Flags shared by `exec` and `run`.
void addExecFlags(CLI::App* cmd, ExecSpec& spec, const char* timeout_help) {
  cmd->add_option("--user", spec.user, "Run as: user (default) or root");
  cmd->add_option("--cwd", spec.cwd, "Working directory (default: the user's home)");
  cmd->add_option("--timeout", spec.timeout_s, timeout_help);
  cmd->add_flag("--stdin", spec.send_stdin, "Send declawctl's stdin (UTF-8) to the command");
  cmd->add_option("cmd", spec.argv,
                  "Command after --; one argument is a shell command line, several are an argv")
      ->required();
}

int runCli(int argc, char** argv) {
  CLI::App app{"declawctl: run and manage declaw sandboxes through declawd", "declawctl"};
  app.require_subcommand(1);
  app.fallthrough();  // --json and --socket are accepted after the verb too
  std::string socket_flag;
  bool json = false;
  app.add_option("--socket", socket_flag,
                 "declawd socket (default: $DECLAW_SOCKET, else /run/declaw/declaw.sock)");
  app.add_flag("--json", json, "Machine-readable JSON output");

  SandboxFlags create_flags;
  auto* create = app.add_subcommand("create", "Create a sandbox and print its id");
  create_flags.add(create, /*timeout_is_sandbox=*/true);

  std::vector<std::string> states, list_meta;
  auto* ls = app.add_subcommand("ls", "List sandboxes");
  ls->add_option("--state", states, "Only these states: creating, running, killed (repeatable)")
      ->allow_extra_args(false);
  ls->add_option("--meta", list_meta, "Only sandboxes with this K=V metadata (repeatable)")
      ->allow_extra_args(false);

  std::string info_id;
  auto* info = app.add_subcommand("info", "Show one sandbox");
  info->add_option("id", info_id, "Sandbox id")->required();

  std::vector<std::string> kill_ids;
  auto* kill = app.add_subcommand("kill", "Kill sandboxes (idempotent)");
  kill->add_option("id", kill_ids, "Sandbox ids")->required();

  std::string exec_id;
  ExecSpec exec_spec;
  auto* exec = app.add_subcommand("exec", "Run a command in a sandbox; exit with its exit code");
  exec->add_option("id", exec_id, "Sandbox id")->required();
  exec->add_option("--env", exec_spec.envs, "K=V environment for the command (repeatable)")
      ->allow_extra_args(false);
  addExecFlags(exec, exec_spec, "Command timeout in seconds, 0 = none (default 60)");

  SandboxFlags run_flags;
  ExecSpec run_spec;
  auto* run = app.add_subcommand("run", "Create a sandbox, run a command, kill the sandbox");
  run_flags.add(run, /*timeout_is_sandbox=*/false);
  addExecFlags(run, run_spec, "Command timeout in seconds, 0 = none (default 60)");

  std::string cp_src, cp_dst;
  auto* cp = app.add_subcommand("cp", "Copy a file into (LOCAL ID:/path) or out of a sandbox");
  cp->add_option("src", cp_src, "Source: LOCAL, - (stdin) or ID:/path")->required();
  cp->add_option("dst", cp_dst, "Destination: LOCAL, - (stdout) or ID:/path")->required();

  std::string timeout_id;
  int64_t timeout_s = 0;
  auto* timeout = app.add_subcommand("timeout", "Set a sandbox to be killed SECONDS from now");
  timeout->add_option("id", timeout_id, "Sandbox id")->required();
  timeout->add_option("seconds", timeout_s, "Seconds from now")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kUsageExitCode;
  }

  declaw::ctl::GlobalOptions global{declaw::ctl::resolveSocketPath(socket_flag), json};
  if (*create) return declaw::ctl::cmdCreate(global, create_flags.resolve(create));
  if (*ls) return declaw::ctl::cmdList(global, states, list_meta);
  if (*info) return declaw::ctl::cmdInfo(global, info_id);
  if (*kill) return declaw::ctl::cmdKill(global, kill_ids);
  if (*exec) return declaw::ctl::cmdExec(global, exec_id, exec_spec);
  if (*run) return declaw::ctl::cmdRun(global, run_flags.resolve(run), run_spec);
  if (*cp) return declaw::ctl::cmdCopy(global, cp_src, cp_dst);
  if (*timeout) return declaw::ctl::cmdSetTimeout(global, timeout_id, timeout_s);
  return kUsageExitCode;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return runCli(argc, argv);
  } catch (const std::exception& e) {
    // A bug or an allocation failure; `run` has already killed its sandbox while unwinding.
    std::cerr << "declawctl: " << e.what() << "\n";
    return declaw::ctl::kErrorExitCode;
  }
}
