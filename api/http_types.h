// HTTP requests and responses as plain values, independent of Beast, so handlers are pure
// functions and tests need no socket. daemon/http_session.cc converts to and from Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "api/services.h"
#include "common/unique_fd.h"

namespace declaw::api {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, still percent-encoded: "/v1/sandboxes?state=running"
  std::string content_type;
  std::string body;  // empty for raw uploads, which stream (see Router::beginUpload)
};

// A response body produced piece by piece (Server-Sent Events), sent with chunked encoding.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next piece of the body, waiting at most `wait` for one: "" when nothing came in time
  // (the session then checks that its client is still there, so a stream whose reader left
  // ends within a `wait`, not at the next keep-alive), nullopt at the end.
  virtual std::optional<std::string> next(std::chrono::milliseconds wait) = 0;
  // What keeps a silent connection busy (an SSE comment), sent after a while of silence.
  virtual std::string keepAlive() const { return {}; }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";  // empty: send no Content-Type (204)
  std::string body;
  // Extra headers to send as they are, e.g. {"Allow", "GET, POST"} on a 405.
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed from this fd (file_size bytes) instead of `body`.
  UniqueFd file;
  uint64_t file_size = 0;
  // When set, the body comes from here, as it is produced.
  std::unique_ptr<BodySource> stream;
};

// A raw upload the session should stream: write every body byte to `sink`, then call
// Router::finishUpload with the count.
struct Upload {
  UniqueFd sink;
  std::string sandbox_id;
  std::string path;  // normalised
  // Who uploads, and as which sandbox user: finishUpload describes the file on their behalf.
  Caller caller;
  std::string user = "user";
  // The most the body may have; 0: the max_upload_bytes limit.
  uint64_t max_bytes = 0;
  // A template import (PUT /v1/templates/{name}): the body goes to a spool file, which
  // finishUpload then imports (the sink is a second fd of the same file).
  std::optional<ImportSpec> import;
  UniqueFd spool;
};

}  // namespace declaw::api
