// HTTP/1.1 response parsing for declawctl, without I/O: the status line and headers, how the body
// is delimited (RFC 9112 section 6.3), and an incremental chunked-transfer decoder. The socket
// side (http_client.h) feeds these with whatever bytes arrive, split anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace declaw::ctl {

// Limits on what we accept from the daemon before the body.
inline constexpr size_t kMaxResponseHeadBytes = size_t{64} * 1024;
inline constexpr size_t kMaxChunkLineBytes = size_t{4} * 1024;

struct ResponseHead {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed

  // The value of the first header with this (lower-case) name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

// The offset just past the blank line that ends the head ("\r\n\r\n", or "\n\n" from a lax
// server), or npos when the head is not complete yet.
size_t findHeadEnd(std::string_view buffer);

// Parses "HTTP/1.x NNN reason\r\n" and the header lines, up to and including the blank line.
Result<ResponseHead> parseResponseHead(std::string_view head);

enum class BodyKind { kNone, kLength, kChunked, kUntilClose };
struct BodyFraming {
  BodyKind kind = BodyKind::kNone;
  uint64_t length = 0;  // for kLength
};

// How the body of this response is delimited, for a request made with `method`.
Result<BodyFraming> bodyFraming(const ResponseHead& head, std::string_view method);

// Decodes a chunked body fed in arbitrary pieces. Chunk extensions and trailers are skipped.
class ChunkedDecoder {
 public:
  // Consumes all of input, appending decoded body bytes to out. Bytes after the final chunk and
  // trailers are ignored (we never reuse the connection).
  Result<void> feed(std::string_view input, std::string& out);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  Result<void> onLine(std::string_view line);

  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  std::string line_;
};

}  // namespace declaw::ctl
