// `declawctl watch ID PATH`: the changes under a directory of a sandbox, printed as they come
// (GET .../files/watch). Each line is written with one write(2), unbuffered, so a pipe reader
// (`| grep`) sees every change when it happens.
#include <unistd.h>

#include <optional>
#include <variant>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/event_output.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/watch_events.h"

namespace declaw::ctl {
namespace {

Result<void> writeTo(int fd, std::string_view bytes) {
  auto r = writeFully(fd, bytes);
  if (r) return Ok{};
  Error e = r.error();
  e.message = (fd == STDERR_FILENO ? "stderr: " : "stdout: ") + e.message;
  return e;
}

Result<void> printNote(const std::string& note) {
  return writeTo(STDERR_FILENO, "declawctl: " + note + "\n");
}

// Shows each event of the watch; keeps the `end` event, after which the stream is done.
class WatchPrinter {
 public:
  explicit WatchPrinter(bool json_lines) : json_lines_(json_lines) {}

  Result<bool> onEvent(const SseEvent& event) {
    auto decoded = decodeWatchEvent(event);
    if (!decoded) return decoded.error();
    if (std::holds_alternative<std::monostate>(*decoded)) return false;
    if (json_lines_) {
      if (auto r = writeTo(STDOUT_FILENO, eventJsonLine(event)); !r) return r.error();
    }
    if (auto* change = std::get_if<WatchChange>(&*decoded)) {
      if (!json_lines_) {
        if (auto r = writeTo(STDOUT_FILENO, watchChangeLine(*change)); !r) return r.error();
      }
    } else if (std::holds_alternative<WatchLost>(*decoded)) {
      // In --json output the `lost` line says it, as `logs --json` does.
      if (!json_lines_) {
        if (auto r = printNote(watchLostNote()); !r) return r.error();
      }
    } else if (auto* end = std::get_if<WatchEnd>(&*decoded)) {
      end_ = *end;
      return true;
    }
    return false;
  }

  const std::optional<WatchEnd>& end() const { return end_; }

 private:
  bool json_lines_;
  std::optional<WatchEnd> end_;
};

}  // namespace

int cmdWatch(const GlobalOptions& global, const std::string& id, const std::string& path,
             bool recursive, const std::string& user) {
  // Ctrl-C is the usual way out: the request gives up at once and we exit 128+N. Closing the
  // connection is what ends the watcher in the sandbox. A reader that goes away (`| head`)
  // ends us with SIGPIPE, as for any filter.
  installInterruptHandlers();
  ApiClient api(global.socket_path);
  api.setInterruptible(true);
  WatchPrinter printer(global.json);
  auto streamed = api.watchDir(id, path, recursive, user,
                               [&](const SseEvent& event) { return printer.onEvent(event); });
  if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
  if (printer.end()) {
    (void)printNote(watchEndNote(*printer.end()));
    return watchExitCode(*printer.end());
  }
  if (!streamed) return reportError(streamed.error());
  return reportError(PlainError() << "declawd ended the watch without an `end` event");
}

}  // namespace declaw::ctl
