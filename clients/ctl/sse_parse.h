// Server-Sent Events (the "text/event-stream" format of the WHATWG HTML standard, section 9.2.6)
// parsed incrementally, without I/O: the HTTP client hands over the decoded body in whatever
// pieces the socket produced, and whole events come out. Lines may end in CRLF, LF or a lone CR,
// a CRLF may be split between two pieces, comments (":...") are skipped, and several `data:`
// lines of one event are joined with "\n".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace declaw::ctl {

// The most one event may hold. The daemon may replay a whole ring buffer (output_buffer_bytes,
// 1 MiB) as one event, JSON-escaped (up to 6 bytes a byte) with its base64 (4/3) alongside.
inline constexpr size_t kMaxSseEventBytes = size_t{64} * 1024 * 1024;

struct SseEvent {
  std::string type = "message";  // the `event:` field, "message" when absent
  std::string data;              // the `data:` lines joined with "\n"
  std::string id;                // the last `id:` seen (the stream's last event id)
};

class SseParser {
 public:
  // Consumes all of bytes, appending every event completed by them to out. An event (or a line)
  // over kMaxSseEventBytes is an Error; the parser is not usable after one.
  Result<void> feed(std::string_view bytes, std::vector<SseEvent>& out);

 private:
  void onLine(std::string_view line, std::vector<SseEvent>& out);

  std::string line_;        // the line being read, without its terminator
  bool after_cr_ = false;   // the last byte was CR: a following LF ends no second line
  bool first_line_ = true;  // a UTF-8 BOM is skipped at the start of the stream only
  std::string type_;        // fields of the event being built
  std::string data_;        // each data line followed by "\n", as the standard keeps it
  std::string last_id_;
};

}  // namespace declaw::ctl
