// The local terminal, for `exec -it`: its size, raw mode that is undone on every way out (normal
// return, exception, SIGINT/SIGTERM/SIGHUP), and window-size changes as wake-ups on a pipe.
#pragma once

#include <optional>

#include "clients/ctl/requests.h"
#include "common/result.h"

namespace declaw::ctl {

// TIOCGWINSZ of fd; nullopt when fd is not a terminal or reports a zero size.
std::optional<TerminalSize> terminalSize(int fd);

// Raw mode (cfmakeraw(3): no echo, no line editing, no signal keys, no output processing) on a
// terminal, restored by restore() or the destructor. One at a time per process: the signal
// handlers below restore the terminal of the active one.
class TerminalRawMode {
 public:
  TerminalRawMode() = default;
  TerminalRawMode(const TerminalRawMode&) = delete;
  TerminalRawMode& operator=(const TerminalRawMode&) = delete;
  ~TerminalRawMode() { restore(); }

  Result<void> enter(int fd);
  void restore();

 private:
  bool active_ = false;
};

// SIGINT, SIGTERM and SIGHUP restore the terminal at once (in the handler: tcsetattr(3) is
// async-signal-safe) and set g_interrupted, so the blocked stream returns and the caller hangs up
// the remote process; a second one exits 128+N on the spot. SIGPIPE is ignored, so a closed
// stdout is an EPIPE error on the normal path (which restores the terminal) rather than a death
// in raw mode.
void installTerminalSignalHandlers();

// From now on each SIGWINCH writes one 'w' to wake_fd (non-blocking; a full pipe already holds a
// wake-up). -1 stops it.
void notifyWindowChanges(int wake_fd);

}  // namespace declaw::ctl
