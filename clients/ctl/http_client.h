// A tiny blocking HTTP/1.1 client over an AF_UNIX stream socket, for declawctl. One connection
// per request (Connection: close): the CLI makes one to three requests per run, so keep-alive
// would buy nothing and cost the bookkeeping of a reused connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "clients/ctl/http_parse.h"
#include "common/result.h"

namespace declaw::ctl {

// The most we hold in memory for one response body (a JSON command result carries up to two
// streams of max_output_bytes, escaped, plus their base64).
inline constexpr size_t kMaxBufferedBodyBytes = size_t{512} * 1024 * 1024;

struct RequestBody {
  std::string_view content_type;  // no Content-Type header when empty
  std::string_view data;          // an in-memory body, or ...
  int fd = -1;                    // ... exactly fd_size bytes streamed from this fd, or
  uint64_t fd_size = 0;
  bool chunked = false;  // ... (with fd) all it has up to EOF, in chunked transfer encoding
  // Called after each piece of an fd body went out, with the bytes of it sent so far.
  std::function<void(uint64_t)> progress;
};

// Receives a successful (2xx) response body as it arrives, instead of buffering it. open() runs
// once when the 2xx head is in, before any data (also for an empty body), so a caller can create
// its output file only when there is something to write. Error bodies are always buffered.
// complete(), when set, is asked after each write: true ends the response there, unread (an
// event stream whose last event has come; the connection is closed, never reused).
struct BodySink {
  std::function<Result<void>()> open;
  std::function<Result<void>(std::string_view)> write;
  std::function<bool()> complete;
};

struct HttpResponse {
  ResponseHead head;
  std::string body;  // the whole body, unless a sink received it
};

class HttpClient {
 public:
  explicit HttpClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  // Sends one request and reads the whole response. A socket that cannot be reached is an Error
  // whose message is the full "cannot reach declawd at PATH: ... (is the service running?)".
  Result<HttpResponse> send(std::string_view method, std::string_view target,
                            const RequestBody& body = {}, const BodySink* sink = nullptr) const;

  const std::string& socketPath() const { return socket_path_; }

  // Interruptible: a request gives up as soon as SIGINT/SIGTERM comes ("interrupted";
  // installInterruptHandlers() must have run), however the signal falls between its system
  // calls, and one asked for after the signal does not start at all (a signal that lands just
  // before a request would otherwise let it run to its end: a whole build step). Otherwise (the
  // default) a request gives up only when the signal interrupts a blocked call, as the verbs
  // whose threads block those signals need, and one begun after the signal runs to its end: so
  // cleanup after an interrupt turns interruptibility off first (SandboxReaper).
  void setInterruptible(bool interruptible) { interruptible_ = interruptible; }

 private:
  std::string socket_path_;
  bool interruptible_ = false;
};

// The request head: method, target, Host: declaw, Content-Length (when there is a body or the
// method normally has one) or, for a body of unknown length (nullopt), Transfer-Encoding:
// chunked, Connection: close.
std::string formatRequestHead(std::string_view method, std::string_view target,
                              std::string_view content_type,
                              std::optional<uint64_t> content_length);

}  // namespace declaw::ctl
