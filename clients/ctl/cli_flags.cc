#include "clients/ctl/cli_flags.h"

#include <cmath>

namespace declaw::ctl::cli {
namespace {

// Cores: any positive number (0.5, 1.5, 2); the daemon checks its minimum and maximum.
const CLI::Validator kCoresValidator(
    [](std::string& text) -> std::string {
      double value = 0;
      if (!CLI::detail::lexical_cast(text, value) || !std::isfinite(value) || value <= 0) {
        return "'" + text + "' is not a number of cores (a positive number such as 0.5 or 2)";
      }
      return "";
    },
    "CORES");

constexpr const char* kAllowOutHelp =
    "Allow this destination (repeatable; implies --internet): an IP, a CIDR, a domain, "
    "*.domain (its subdomains) or ALL_TRAFFIC; everything not allowed is then denied";
constexpr const char* kDenyOutHelp =
    "Deny this destination (repeatable; implies --internet); allow wins over deny";

}  // namespace

CLI::Validator positiveInteger(const std::string& what, const std::string& name) {
  return CLI::Validator(
      [what](std::string& text) -> std::string {
        int64_t value = 0;
        if (!CLI::detail::lexical_cast(text, value) || value <= 0) {
          return "'" + text + "' is not " + what + " (a positive whole number)";
        }
        return "";
      },
      name);
}

CLI::Validator seconds(const std::string& name) {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t value = 0;
        if (!CLI::detail::lexical_cast(text, value) || value < 0) {
          return "'" + text + "' is not a number of seconds (a whole number, 0 for none)";
        }
        return "";
      },
      name);
}

void SandboxFlags::add(CLI::App* cmd, SandboxFlagsFor for_verb) {
  verb = for_verb;
  if (verb == SandboxFlagsFor::kBuild) {
    cmd->add_option("--from", spec.template_id,
                    "The template to start from: base (default), python, node, or any of "
                    "`template ls`");
    // Ranges are the daemon's to check: it knows its limits and names the field in its error.
    cmd->add_option("--timeout", timeout_s,
                    "Seconds the whole build may take: its sandbox is killed after them "
                    "(default 3600)")
        ->check(positiveInteger("a number of seconds", "SECONDS"));
  } else {
    cmd->add_option("--template", spec.template_id,
                    "Template: base (default), python, node, or any of `template ls`");
  }
  if (verb == SandboxFlagsFor::kCreate) {
    cmd->add_option("--timeout", timeout_s, "Seconds until the sandbox is killed (default 300)");
  }
  cmd->add_option("--env", spec.envs, "K=V environment for every command (repeatable)")
      ->allow_extra_args(false);
  if (verb != SandboxFlagsFor::kBuild) {
    cmd->add_option("--meta", spec.metadata, "K=V metadata (repeatable)")->allow_extra_args(false);
  }
  auto* on = cmd->add_flag("--internet", internet, "Allow internet access");
  auto* off = cmd->add_flag("--no-internet", no_internet,
                            "No internet access (the default): no network link at all");
  on->excludes(off);
  if (verb != SandboxFlagsFor::kBuild) {
    cmd->add_flag("--loopback-inet", loopback_inet,
                  "Without internet access: inet sockets that reach only the sandbox's own lo "
                  "(a server inside on 127.0.0.1)");
  }
  cmd->add_option("--allow-out", spec.allow_out, kAllowOutHelp)->allow_extra_args(false);
  cmd->add_option("--deny-out", spec.deny_out, kDenyOutHelp)->allow_extra_args(false);
  // Upper bounds are the daemon's (its max_resources); a sign or a typo is caught here.
  cmd->add_option("--cpu", cpu, "CPU cores, e.g. 0.5 or 2 (default: declawd's)")
      ->check(kCoresValidator);
  cmd->add_option("--memory", memory_mb,
                  "Memory limit in MiB, the disk's tmpfs included (default: declawd's)")
      ->check(positiveInteger("a number of MiB", "MB"));
  cmd->add_option("--pids", pids, "Most processes and threads at once (default: declawd's)")
      ->check(positiveInteger("a number of processes", "N"));
  cmd->add_option("--disk", disk_mb, "Size of the writable disk in MiB (default: declawd's)")
      ->check(positiveInteger("a number of MiB", "MB"));
  if (verb == SandboxFlagsFor::kCreate) {
    cmd->add_option("--on-timeout", spec.on_timeout,
                    "At the timeout: kill (default) or pause the sandbox")
        ->check(CLI::IsMember({"kill", "pause"}));
  }
}

SandboxSpec SandboxFlags::resolve(CLI::App* cmd) const {
  SandboxSpec out = spec;
  if (verb != SandboxFlagsFor::kRun && cmd->count("--timeout") > 0) out.timeout_s = timeout_s;
  // Rules are for a sandbox with internet access, so they imply it.
  if (internet || !out.allow_out.empty() || !out.deny_out.empty()) out.internet = true;
  if (no_internet) out.internet = false;
  out.loopback_inet = loopback_inet;
  if (cmd->count("--cpu") > 0) out.resources.cpu = cpu;
  if (cmd->count("--memory") > 0) out.resources.memory_mb = memory_mb;
  if (cmd->count("--pids") > 0) out.resources.pids = pids;
  if (cmd->count("--disk") > 0) out.resources.disk_mb = disk_mb;
  return out;
}

std::optional<std::string> rulesWithoutInternet(const SandboxSpec& spec) {
  if (spec.internet == false && (!spec.allow_out.empty() || !spec.deny_out.empty())) {
    return "--allow-out and --deny-out are rules for internet access: drop --no-internet";
  }
  return std::nullopt;
}

ParsedArgs usageError(const std::string& verb, const std::string& message) {
  ParsedArgs out;
  out.exit_code = kUsageExitCode;
  out.err = "declawctl " + verb + ": " + message + "\nRun with --help for more information.\n";
  return out;
}

}  // namespace declaw::ctl::cli
