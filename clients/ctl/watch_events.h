// The events of a directory watch (docs/api.md, "Watching a directory") decoded from their SSE
// form into plain values, and what `declawctl watch` makes of them: one aligned line per change,
// the note for a gap, the note and exit code for the end. Pure; the socket side is api_client.h.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "clients/ctl/sse_parse.h"
#include "common/result.h"

namespace declaw::ctl {

struct WatchStart {
  std::string path;  // the watched directory, absolute, as the daemon resolved it
};
struct WatchChange {
  std::string type;  // create, write, remove, rename, chmod (or a newer daemon's word)
  std::string name;  // relative to the watched directory
};
struct WatchLost {
  std::string reason;  // "overflow"
};
struct WatchEnd {
  std::string reason;  // removed, sandbox_ended, error
  std::string message;
};
// std::monostate: an event this declawctl does not know (a newer daemon); it is skipped.
using WatchEvent = std::variant<std::monostate, WatchStart, WatchChange, WatchLost, WatchEnd>;

// Decodes one event. A known event with a malformed body is an Error ("bad response from
// declawd: ...").
Result<WatchEvent> decodeWatchEvent(const SseEvent& event);

// "create  sub/a.txt\n": the type padded to the longest known type, two spaces, the name with
// control characters escaped, so one change is always one line (a name may hold a newline).
std::string watchChangeLine(const WatchChange& change);

// The note on stderr for a `lost` event.
std::string watchLostNote();

// The note on stderr for the `end` event: the daemon's message (its reason when it sent none),
// followed by " (REASON)" unless the directory was removed, as API errors end in their code:
// "the sandbox ended (sandbox_ended)".
std::string watchEndNote(const WatchEnd& end);

// 0 when the watched directory was removed (the watch has nothing left to see: done), else 1.
int watchExitCode(const WatchEnd& end);

}  // namespace declaw::ctl
