// `declawctl exec -it`: a process on a new PTY in the sandbox (POST .../pty), driven by the local
// terminal in raw mode. Keystrokes go to it as typed (POST .../stdin, so ^C is a byte for the
// remote terminal, not a signal here), its output comes back raw (`pty` events of the attached
// stream), and window changes follow (POST .../resize).
#include <signal.h>
#include <unistd.h>

#include <memory>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/event_output.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/signals.h"
#include "clients/ctl/stdin_pump.h"
#include "clients/ctl/terminal.h"

namespace declaw::ctl {
namespace {

// After SIGHUP/SIGTERM/SIGINT declawctl hangs up the remote terminal's session, as a terminal
// that closes does; if declawd does not answer within this, SIGALRM ends declawctl anyway.
constexpr unsigned kHangupGraceS = 5;

}  // namespace

int runTerminal(const GlobalOptions& global, const std::string& id, const ExecSpec& spec) {
  const bool local_tty = ::isatty(STDIN_FILENO) == 1;
  TerminalSize size;  // 24x80 unless stdin is a terminal that knows better
  if (local_tty) size = terminalSize(STDIN_FILENO).value_or(size);
  auto request = buildPtyRequest(spec, size);
  if (!request) return reportError(request.error());

  ApiClient api(global.socket_path);
  auto info = api.startTerminal(id, *request);
  if (!info) return reportError(info.error());
  auto pid = pidOf(*info);
  if (!pid) return reportError(pid.error());

  installTerminalSignalHandlers();
  TerminalRawMode raw;
  if (local_tty) {
    if (auto r = raw.enter(STDIN_FILENO); !r) {
      [[maybe_unused]] auto killed = api.killProcess(id, *pid);
      return reportError(r.error());
    }
  }
  EventPrinter printer({.json_lines = false, .raw_terminal = local_tty});
  auto pump = StdinPump::start(global.socket_path, id, *pid, PumpMode::kTerminal);
  Result<void> streamed = Ok{};
  if (pump) {
    notifyWindowChanges((*pump)->wakeFd());
    StdinPump& input = **pump;
    streamed =
        api.attachProcess(id, *pid, /*follow=*/true, [&](const SseEvent& event) -> Result<bool> {
          if (event.type == "pty") input.outputArrived();
          return printer.onEvent(event);
        });
    notifyWindowChanges(-1);
    (*pump)->stop();
  } else {
    streamed = pump.error();
  }
  raw.restore();  // before anything more is printed

  if (printer.exit()) return reportExit(*printer.exit(), commandTimeout(spec));
  if (g_interrupted != 0) {
    ::alarm(kHangupGraceS);
    [[maybe_unused]] auto hung_up = api.signalProcess(id, *pid, signalRequestValue(SIGHUP));
    return kSignalExitBase + g_interrupted;
  }
  // Nobody is left to type into it: do not leave a shell behind.
  [[maybe_unused]] auto killed = api.killProcess(id, *pid);
  if (printer.outputClosed()) return kSignalExitBase + SIGPIPE;
  if (!streamed) return reportError(streamed.error());
  return reportError(
      PlainError() << "declawd ended the terminal's stream before its process exited");
}

}  // namespace declaw::ctl
