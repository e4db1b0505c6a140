// Routes a request to its handler. Pure: everything it touches comes in as arguments.
#pragma once

#include <variant>

#include "api/http_types.h"
#include "api/services.h"

namespace declaw::api {

class Router {
 public:
  Router(Services& services, const Limits& limits) : services_(services), limits_(limits) {}

  // Every request except raw uploads. Never throws; any failure is a JSON error response.
  Response handle(const Caller& caller, const Request& request);

  // True for requests whose body must be streamed rather than buffered (PUT .../files/raw).
  static bool isUpload(const std::string& method, const std::string& target);

  // For an upload: validate and open the destination (or answer with an error). `declared_size`
  // is the Content-Length when known; over limits_.max_upload_bytes gives 413.
  std::variant<Upload, Response> beginUpload(const Caller& caller, const Request& request,
                                             uint64_t declared_size);
  // After the body was streamed into upload.sink: the response for the client.
  Response finishUpload(const Upload& upload, uint64_t bytes_written);

  const Limits& limits() const { return limits_; }

 private:
  // Counts the answer (Services::countResponse) and passes it on.
  Response counted(Response response);
  Services& services_;
  const Limits& limits_;
};

}  // namespace declaw::api
