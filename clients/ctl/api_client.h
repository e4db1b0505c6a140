// The declaw v1 API (docs/api.md) as typed calls over HttpClient. Every failure is an Error whose
// message is what declawctl prints after "declawctl: ", e.g. "sandbox sbx-1 not found (not_found)".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "clients/ctl/http_client.h"
#include "common/result.h"

namespace declaw::ctl {

// The Error for a non-2xx answer: "<message> (<code>)" from the API's error object, or a
// description of the status when the body is not one.
Error apiError(int status, std::string_view reason, std::string_view body);

// Parses a 2xx JSON body; an empty body is null.
Result<nlohmann::json> parseJsonBody(std::string_view body);

// Serializes a request body; strings that are not UTF-8 cannot be sent as JSON and are an Error.
Result<std::string> serializeJson(const nlohmann::json& value);

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path) : http_(std::move(socket_path)) {}

  Result<nlohmann::json> createSandbox(const nlohmann::json& request);
  // query is the already-encoded query string without '?', possibly empty.
  Result<nlohmann::json> listSandboxes(std::string_view query);
  Result<nlohmann::json> getSandbox(std::string_view id);
  Result<void> killSandbox(std::string_view id);
  Result<nlohmann::json> setTimeout(std::string_view id, int64_t seconds);
  Result<nlohmann::json> runCommand(std::string_view id, const nlohmann::json& request);
  Result<nlohmann::json> fileInfo(std::string_view id, std::string_view path);
  // PUT .../files/raw: streams size bytes from fd; returns the EntryInfo.
  Result<nlohmann::json> uploadFile(std::string_view id, std::string_view path, int fd,
                                    uint64_t size);
  // GET .../files/raw: the bytes go to sink (opened only on success).
  Result<void> downloadFile(std::string_view id, std::string_view path, const BodySink& sink);

 private:
  Result<nlohmann::json> callJson(std::string_view method, const std::string& target,
                                  const nlohmann::json* request);
  Result<nlohmann::json> checked(Result<HttpResponse> response);

  HttpClient http_;
};

}  // namespace declaw::ctl
