// Shows a process's output stream locally, as it arrives: `stdout` events on declawctl's stdout,
// `stderr` events on its stderr, `pty` events raw on stdout, a note on stderr for each gap
// (`lost`); remembers the pid (`start`) and how the process ended (`exit`).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "clients/ctl/api_client.h"
#include "clients/ctl/process_events.h"

namespace declaw::ctl {

// An event as one line of `--json` output (`logs`, `watch`): {"event": TYPE, "data": DATA},
// DATA being the event's JSON body (null when it is not JSON), newline-terminated.
std::string eventJsonLine(const SseEvent& event);

class EventPrinter {
 public:
  struct Options {
    bool json_lines = false;    // print each event as one JSON line instead (`logs --json`)
    bool raw_terminal = false;  // notes end in CRLF: the local terminal is in raw mode
  };

  explicit EventPrinter(Options options) : options_(options) {}

  // Runs at the `start` event; an Error ends the stream.
  std::function<Result<void>(int64_t pid)> on_start;

  // An EventHandler for ApiClient: true once the `exit` event is in.
  EventHandler handler() {
    return [this](const SseEvent& event) { return onEvent(event); };
  }
  Result<bool> onEvent(const SseEvent& event);

  const std::optional<int64_t>& pid() const { return pid_; }
  const std::optional<ExitEvent>& exit() const { return exit_; }
  // A local write failed with EPIPE: whoever reads our stdout or stderr has gone (`| head`).
  bool outputClosed() const { return output_closed_; }

 private:
  Result<void> printNote(const std::string& note);
  Result<void> write(int fd, std::string_view bytes);

  Options options_;
  std::optional<int64_t> pid_;
  std::optional<ExitEvent> exit_;
  bool output_closed_ = false;
};

}  // namespace declaw::ctl
