#include "clients/ctl/api_client.h"

#include "clients/ctl/format.h"

namespace declaw::ctl {
namespace {

constexpr size_t kMaxErrorSnippetBytes = 200;
constexpr std::string_view kJsonType = "application/json";

std::string sandboxPath(std::string_view id) {
  return "/v1/sandboxes/" + percentEncode(id, /*keep_slash=*/false);
}

std::string filesTarget(std::string_view id, std::string_view route, std::string_view path) {
  return sandboxPath(id) + "/files" + std::string(route) + "?path=" + percentEncode(path);
}

bool isSuccess(int status) { return status >= 200 && status < 300; }

std::string stringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Error apiError(int status, std::string_view reason, std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const auto& err = doc["error"];
    std::string code = stringField(err, "code");
    std::string message = stringField(err, "message");
    if (message.empty()) message = "HTTP " + std::to_string(status) + " " + std::string(reason);
    if (code.empty()) return PlainError() << message;
    return PlainError() << message << " (" << code << ")";
  }
  // Not an API error object (a proxy, a crash, a different server on the socket).
  std::string snippet(body.substr(0, std::min(body.find('\n'), kMaxErrorSnippetBytes)));
  auto e = PlainError() << "unexpected answer from declawd: HTTP " << status;
  if (!reason.empty()) e << " " << reason;
  if (!snippet.empty() && isValidUtf8(snippet)) e << ": " << snippet;
  return e;
}

Result<nlohmann::json> parseJsonBody(std::string_view body) {
  if (body.empty()) return nlohmann::json();
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return PlainError() << "bad response from declawd: invalid JSON";
  return doc;
}

Result<std::string> serializeJson(const nlohmann::json& value) {
  try {
    return value.dump();
  } catch (const nlohmann::json::type_error&) {
    return PlainError() << "an argument is not valid UTF-8 (the API carries text as JSON strings)";
  }
}

Result<nlohmann::json> ApiClient::checked(Result<HttpResponse> response) {
  if (!response) return response.error();
  if (!isSuccess(response->head.status)) {
    return apiError(response->head.status, response->head.reason, response->body);
  }
  return parseJsonBody(response->body);
}

Result<nlohmann::json> ApiClient::callJson(std::string_view method, const std::string& target,
                                           const nlohmann::json* request) {
  std::string payload;
  RequestBody body;
  if (request != nullptr) {
    auto text = serializeJson(*request);
    if (!text) return text.error();
    payload = std::move(*text);
    body.content_type = kJsonType;
    body.data = payload;
  }
  return checked(http_.send(method, target, body));
}

Result<nlohmann::json> ApiClient::createSandbox(const nlohmann::json& request) {
  return callJson("POST", "/v1/sandboxes", &request);
}

Result<nlohmann::json> ApiClient::listSandboxes(std::string_view query) {
  std::string target = "/v1/sandboxes";
  if (!query.empty()) target += "?" + std::string(query);
  auto doc = callJson("GET", target, nullptr);
  if (!doc) return doc;
  // {"sandboxes": [...]}; a bare array is accepted too.
  if (doc->is_array()) return doc;
  if (doc->is_object() && doc->contains("sandboxes") && (*doc)["sandboxes"].is_array()) {
    return (*doc)["sandboxes"];
  }
  return PlainError() << "bad response from declawd: no sandboxes array";
}

Result<nlohmann::json> ApiClient::getSandbox(std::string_view id) {
  return callJson("GET", sandboxPath(id), nullptr);
}

Result<void> ApiClient::killSandbox(std::string_view id) {
  auto doc = callJson("DELETE", sandboxPath(id), nullptr);
  if (!doc) return doc.error();
  return Ok{};
}

Result<nlohmann::json> ApiClient::setTimeout(std::string_view id, int64_t seconds) {
  nlohmann::json request = {{"timeout", seconds}};
  return callJson("PATCH", sandboxPath(id) + "/timeout", &request);
}

Result<nlohmann::json> ApiClient::runCommand(std::string_view id, const nlohmann::json& request) {
  return callJson("POST", sandboxPath(id) + "/commands", &request);
}

Result<nlohmann::json> ApiClient::fileInfo(std::string_view id, std::string_view path) {
  return callJson("GET", filesTarget(id, "/info", path), nullptr);
}

Result<nlohmann::json> ApiClient::uploadFile(std::string_view id, std::string_view path, int fd,
                                             uint64_t size) {
  RequestBody body;
  body.content_type = "application/octet-stream";
  body.fd = fd;
  body.fd_size = size;
  return checked(http_.send("PUT", filesTarget(id, "/raw", path), body));
}

Result<void> ApiClient::downloadFile(std::string_view id, std::string_view path,
                                     const BodySink& sink) {
  auto response = http_.send("GET", filesTarget(id, "/raw", path), {}, &sink);
  if (!response) return response.error();
  if (!isSuccess(response->head.status)) {
    return apiError(response->head.status, response->head.reason, response->body);
  }
  return Ok{};
}

}  // namespace declaw::ctl
