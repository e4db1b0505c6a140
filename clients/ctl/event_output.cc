#include "clients/ctl/event_output.h"

#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "clients/ctl/io_util.h"

namespace declaw::ctl {

std::string eventJsonLine(const SseEvent& event) {
  auto data = nlohmann::json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded()) data = nullptr;
  return nlohmann::json{{"event", event.type}, {"data", data}}.dump(
             -1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

Result<void> EventPrinter::write(int fd, std::string_view bytes) {
  auto r = writeFully(fd, bytes);
  if (r) return Ok{};
  if (r.error().code == EPIPE) output_closed_ = true;
  Error e = r.error();
  e.message = (fd == STDERR_FILENO ? "stderr: " : "stdout: ") + e.message;
  return e;
}

Result<void> EventPrinter::printNote(const std::string& note) {
  return write(STDERR_FILENO, "declawctl: " + note + (options_.raw_terminal ? "\r\n" : "\n"));
}

Result<bool> EventPrinter::onEvent(const SseEvent& event) {
  auto decoded = decodeProcessEvent(event);
  if (!decoded) return decoded.error();

  if (options_.json_lines && !std::holds_alternative<std::monostate>(*decoded)) {
    if (auto r = write(STDOUT_FILENO, eventJsonLine(event)); !r) return r.error();
  }

  if (auto* start = std::get_if<StartEvent>(&*decoded)) {
    pid_ = start->pid;
    if (on_start) {
      if (auto r = on_start(start->pid); !r) return r.error();
    }
  } else if (auto* output = std::get_if<OutputEvent>(&*decoded)) {
    if (options_.json_lines) return false;
    const int fd = output->stream == OutputStream::kStderr ? STDERR_FILENO : STDOUT_FILENO;
    if (auto r = write(fd, output->bytes); !r) return r.error();
  } else if (auto* lost = std::get_if<LostEvent>(&*decoded)) {
    if (!options_.json_lines) {
      if (auto r = printNote(lostNote(*lost)); !r) return r.error();
    }
  } else if (auto* exit = std::get_if<ExitEvent>(&*decoded)) {
    exit_ = *exit;
    return true;
  }
  return false;
}

}  // namespace declaw::ctl
