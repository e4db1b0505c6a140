// The events of a process's output stream (docs/api.md, "Live output") decoded from their SSE
// form into plain values, and what declawctl makes of them: the bytes to write, the note for a
// gap, the exit code to exit with. Pure; the socket side is api_client.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "clients/ctl/sse_parse.h"
#include "common/result.h"

namespace declaw::ctl {

enum class OutputStream { kStdout, kStderr, kPty };

struct StartEvent {
  int64_t pid = 0;
};
struct OutputEvent {
  OutputStream stream = OutputStream::kStdout;
  std::string bytes;  // exact: from data_base64 when present
};
struct LostEvent {
  OutputStream stream = OutputStream::kStdout;
  uint64_t bytes = 0;
};
struct ExitEvent {
  std::optional<int64_t> exit_code;  // null when the sandbox ended under the process
  std::optional<int> signal;
  bool timed_out = false;
  std::string error;  // why exit_code is null
  // The daemon's word on the OOM killer, when it gives one (declawd's exit event does not yet;
  // declawctl then compares the sandbox's oom_kills before and after).
  std::optional<bool> oom_killed;
};
// std::monostate: an event this declawctl does not know (a newer daemon); it is skipped.
using ProcessEvent = std::variant<std::monostate, StartEvent, OutputEvent, LostEvent, ExitEvent>;

// Decodes one event. A known event with a malformed body is an Error ("bad response from
// declawd: ...").
Result<ProcessEvent> decodeProcessEvent(const SseEvent& event);

// "stdout", "stderr", "pty".
const char* streamName(OutputStream stream);

// The note printed on stderr for a gap: "N bytes of stdout were dropped".
std::string lostNote(const LostEvent& lost);

// What declawctl exits with for a finished process: its exit code clamped to 0..255, 124 after a
// command timeout (as timeout(1)); nullopt when the process has no exit code (see error).
std::optional<int> exitStatus(const ExitEvent& exit);

}  // namespace declaw::ctl
