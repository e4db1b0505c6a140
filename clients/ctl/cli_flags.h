// Pieces of declawctl's command line that several verbs share (cli.cc, cli_template.cc): number
// validators, the sandbox flags of `create`, `run` and `template build`, and the usage error.
// Internal to the parser; the rest of declawctl sees only cli.h.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "clients/ctl/cli.h"
#include "clients/ctl/requests.h"

namespace declaw::ctl::cli {

// A positive whole number on the command line (CLI11's PositiveNumber would print its range as a
// 300-digit double). what: "a process id", "a number of MiB", ...
CLI::Validator positiveInteger(const std::string& what, const std::string& name);

// A whole number of seconds, 0 included (0 = none).
CLI::Validator seconds(const std::string& name);

// Which verb SandboxFlags serves: they differ in --template and --timeout.
enum class SandboxFlagsFor {
  kCreate,  // --template, --timeout (the sandbox's), --meta, --on-timeout
  kRun,     // --template, --meta; --timeout is the command's (ExecFlags)
  kBuild,   // --from instead of --template; --timeout is the build sandbox's
};

// Flags of the sandbox `create`, `run` and `template build` make: envs, internet access and
// egress rules, limits.
struct SandboxFlags {
  SandboxSpec spec;
  SandboxFlagsFor verb = SandboxFlagsFor::kCreate;
  int64_t timeout_s = 0;
  bool internet = false;
  bool no_internet = false;
  bool loopback_inet = false;
  double cpu = 0;
  int64_t memory_mb = 0;
  int64_t pids = 0;
  int64_t disk_mb = 0;

  void add(CLI::App* cmd, SandboxFlagsFor for_verb);
  SandboxSpec resolve(CLI::App* cmd) const;
};

// --no-internet with rules: the sandbox would have no link for them to apply to, and one cannot
// be added later. The message, or nullopt when the spec is fine.
std::optional<std::string> rulesWithoutInternet(const SandboxSpec& spec);

// "declawctl VERB: MESSAGE" and the hint to run --help, exit kUsageExitCode.
ParsedArgs usageError(const std::string& verb, const std::string& message);

}  // namespace declaw::ctl::cli
