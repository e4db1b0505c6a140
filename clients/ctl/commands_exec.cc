// `declawctl exec`: a command with live output (POST .../commands/stream), with declawctl's stdin
// streamed to it (-i), started in the background (-d), or on a terminal (-it, commands_tty.cc).
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/event_output.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/stdin_pump.h"

namespace declaw::ctl {
namespace {

// A background process gets what --stdin gave, then EOF (as `nohup CMD </dev/null`): declawctl
// has no later way to write to it, and a server that reads stdin must not wait forever.
int runDetached(const GlobalOptions& global, const std::string& id, const ExecSpec& spec) {
  auto stdin_data = readStdinIfAsked(spec);
  if (!stdin_data) return reportError(stdin_data.error());
  auto request = buildCommandRequest(spec, *stdin_data);
  if (!request) return reportError(request.error());
  ApiClient api(global.socket_path);
  auto info = api.runCommand(id, *request);
  if (!info) return reportError(info.error());
  auto pid = pidOf(*info);
  if (!pid) return reportError(pid.error());
  if (auto r = api.closeStdin(id, *pid); !r) warn("close stdin: " + r.error().describe());
  if (global.json) {
    printJson(*info);
  } else {
    std::cout << *pid << "\n" << std::flush;
  }
  return 0;
}

}  // namespace

int runLive(ApiClient& api, const GlobalOptions& global, const std::string& id,
            const ExecSpec& spec, const nlohmann::json& request,
            std::optional<uint64_t> oom_kills_before) {
  installInterruptHandlers();
  // A reader of our output that goes away is an EPIPE, handled below, not a sudden death that
  // would leave the command running.
  (void)::signal(SIGPIPE, SIG_IGN);

  EventPrinter printer({});
  std::unique_ptr<StdinPump> pump;
  if (spec.mode == ExecMode::kInteractive) {
    // Input can only go to a process that exists: the pump starts with the `start` event.
    printer.on_start = [&](int64_t pid) -> Result<void> {
      auto started = StdinPump::start(global.socket_path, id, pid, PumpMode::kPipe);
      if (!started) return started.error();
      pump = std::move(*started);
      return Ok{};
    };
  }
  auto streamed = api.streamCommand(id, request, printer.handler());
  if (pump) pump->stop();

  if (printer.exit()) {
    if (oomKilled(api, id, *printer.exit(), oom_kills_before)) reportOomKill(api, id);
    return reportExit(*printer.exit(), commandTimeout(spec));
  }
  // declawctl stops following the command: the command stops too.
  if (printer.pid()) {
    if (auto r = api.killProcess(id, *printer.pid()); !r && g_interrupted == 0) {
      warn("could not kill process " + std::to_string(*printer.pid()) + ": " +
           r.error().describe());
    }
  }
  if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
  if (printer.outputClosed()) return kSignalExitBase + SIGPIPE;  // as a filter killed by SIGPIPE
  if (!streamed) return reportError(streamed.error());
  return reportError(PlainError() << "declawd ended the output stream before the command exited");
}

int cmdExec(const GlobalOptions& global, const std::string& id, const ExecSpec& spec) {
  switch (spec.mode) {
    case ExecMode::kDetach:
      return runDetached(global, id, spec);
    case ExecMode::kTerminal:
      return runTerminal(global, id, spec);
    case ExecMode::kWait:
    case ExecMode::kBuffered:
    case ExecMode::kInteractive:
      break;
  }
  auto stdin_data = readStdinIfAsked(spec);
  if (!stdin_data) return reportError(stdin_data.error());
  auto request = buildCommandRequest(spec, *stdin_data);
  if (!request) return reportError(request.error());
  ApiClient api(global.socket_path);
  if (spec.mode == ExecMode::kBuffered) {
    return runBuffered(api, global, id, spec, *request, /*add_sandbox_id=*/false);
  }
  return runLive(api, global, id, spec, *request, oomKillCount(api, id));
}

}  // namespace declaw::ctl
