#include "clients/ctl/api_client.h"

#include "clients/ctl/format.h"

namespace declaw::ctl {
namespace {

constexpr size_t kMaxErrorSnippetBytes = 200;
constexpr std::string_view kJsonType = "application/json";
constexpr int kStatusNotFound = 404;
constexpr int kStatusConflict = 409;
constexpr int kStatusTooManyRequests = 429;
// ls follows next_token at most this often (1,000 pages of 1,000): a daemon whose tokens never
// end cannot keep declawctl looping.
constexpr size_t kMaxListPages = 1000;

std::string sandboxPath(std::string_view id) {
  return "/v1/sandboxes/" + percentEncode(id, /*keep_slash=*/false);
}

std::string processPath(std::string_view id, int64_t pid) {
  return sandboxPath(id) + "/commands/" + std::to_string(pid);
}

std::string filesTarget(std::string_view id, std::string_view route, std::string_view path) {
  return sandboxPath(id) + "/files" + std::string(route) + "?path=" + percentEncode(path);
}

std::string templatePath(std::string_view name) {
  return "/v1/templates/" + percentEncode(name, /*keep_slash=*/false);
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
  const std::string target = "/v1/sandboxes?" + std::string(query) + (query.empty() ? "" : "&");
  nlohmann::json all = nlohmann::json::array();
  std::string token;
  for (size_t page = 0; page < kMaxListPages; ++page) {
    auto doc = callJson(
        "GET", target + "limit=1000" + (token.empty() ? "" : "&next_token=" + token), nullptr);
    if (!doc) return doc;
    // {"sandboxes": [...], "next_token": "..." | null}; a bare array (one page) is accepted too.
    if (doc->is_array()) return doc;
    if (!doc->is_object() || !doc->contains("sandboxes") || !(*doc)["sandboxes"].is_array()) {
      return PlainError() << "bad response from declawd: no sandboxes array";
    }
    for (auto& sandbox : (*doc)["sandboxes"]) all.push_back(std::move(sandbox));
    auto next = doc->find("next_token");
    if (next == doc->end() || !next->is_string()) return all;
    token = percentEncode(next->get<std::string>());
  }
  return PlainError() << "declawd answered more than " << kMaxListPages << " pages of sandboxes";
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

Result<nlohmann::json> ApiClient::pauseSandbox(std::string_view id) {
  return callJson("POST", sandboxPath(id) + "/pause", nullptr);
}

Result<nlohmann::json> ApiClient::resumeSandbox(std::string_view id) {
  return callJson("POST", sandboxPath(id) + "/resume", nullptr);
}

Result<nlohmann::json> ApiClient::sandboxMetrics(std::string_view id) {
  auto doc = callJson("GET", sandboxPath(id) + "/metrics", nullptr);
  if (!doc) return doc;
  if (!doc->is_object()) return PlainError() << "bad response from declawd: metrics not an object";
  return doc;
}

Result<nlohmann::json> ApiClient::getNetwork(std::string_view id) {
  return callJson("GET", sandboxPath(id) + "/network", nullptr);
}

Result<nlohmann::json> ApiClient::updateNetwork(std::string_view id,
                                                const nlohmann::json& request) {
  return callJson("PATCH", sandboxPath(id) + "/network", &request);
}

Result<nlohmann::json> ApiClient::runCommand(std::string_view id, const nlohmann::json& request) {
  return callJson("POST", sandboxPath(id) + "/commands", &request);
}

Result<void> ApiClient::readEvents(std::string_view method, const std::string& target,
                                   const nlohmann::json* request, const EventHandler& handler) {
  std::string payload;
  RequestBody body;
  if (request != nullptr) {
    auto text = serializeJson(*request);
    if (!text) return text.error();
    payload = std::move(*text);
    body.content_type = kJsonType;
    body.data = payload;
  }
  SseParser parser;
  std::vector<SseEvent> events;
  bool finished = false;
  BodySink sink;
  sink.write = [&](std::string_view bytes) -> Result<void> {
    events.clear();
    if (auto r = parser.feed(bytes, events); !r) {
      return PlainError() << "bad response from declawd: " << r.error().describe();
    }
    for (const auto& event : events) {
      if (finished) break;
      auto done = handler(event);
      if (!done) return done.error();
      finished = *done;
    }
    return Ok{};
  };
  sink.complete = [&] { return finished; };
  auto response = http_.send(method, target, body, &sink);
  if (!response) return response.error();
  if (!isSuccess(response->head.status)) {
    return apiError(response->head.status, response->head.reason, response->body);
  }
  return Ok{};
}

Result<void> ApiClient::streamCommand(std::string_view id, const nlohmann::json& request,
                                      const EventHandler& handler) {
  return readEvents("POST", sandboxPath(id) + "/commands/stream", &request, handler);
}

Result<void> ApiClient::attachProcess(std::string_view id, int64_t pid, bool follow,
                                      const EventHandler& handler) {
  return readEvents("GET", processPath(id, pid) + "/stream?follow=" + (follow ? "true" : "false"),
                    nullptr, handler);
}

Result<void> ApiClient::watchDir(std::string_view id, std::string_view path, bool recursive,
                                 std::string_view user, const EventHandler& handler) {
  std::string target = filesTarget(id, "/watch", path);
  target += recursive ? "&recursive=true" : "&recursive=false";
  if (!user.empty()) target += "&user=" + percentEncode(user);
  return readEvents("GET", target, nullptr, handler);
}

Result<nlohmann::json> ApiClient::forwardPort(std::string_view id, int port,
                                              const std::string& listen) {
  nlohmann::json request = {{"listen", listen}};
  return callJson("POST", sandboxPath(id) + "/ports/" + std::to_string(port), &request);
}

Result<nlohmann::json> ApiClient::listPorts(std::string_view id) {
  auto doc = callJson("GET", sandboxPath(id) + "/ports", nullptr);
  if (!doc) return doc.error();
  if (!doc->is_object() || !doc->contains("ports") || !(*doc)["ports"].is_array()) {
    return PlainError() << "bad response from declawd: no ports array";
  }
  return (*doc)["ports"];
}

Result<void> ApiClient::closePort(std::string_view id, int port) {
  auto doc = callJson("DELETE", sandboxPath(id) + "/ports/" + std::to_string(port), nullptr);
  if (!doc) return doc.error();
  return Ok{};
}

Result<nlohmann::json> ApiClient::startTerminal(std::string_view id,
                                                const nlohmann::json& request) {
  return callJson("POST", sandboxPath(id) + "/pty", &request);
}

Result<nlohmann::json> ApiClient::listProcesses(std::string_view id) {
  auto doc = callJson("GET", sandboxPath(id) + "/commands", nullptr);
  if (!doc) return doc;
  if (doc->is_object() && doc->contains("processes") && (*doc)["processes"].is_array()) {
    return (*doc)["processes"];
  }
  return PlainError() << "bad response from declawd: no processes array";
}

Result<void> ApiClient::killProcess(std::string_view id, int64_t pid) {
  auto doc = callJson("DELETE", processPath(id, pid), nullptr);
  if (!doc) return doc.error();
  return Ok{};
}

Result<void> ApiClient::signalProcess(std::string_view id, int64_t pid,
                                      const nlohmann::json& signal) {
  nlohmann::json request = {{"signal", signal}};
  auto doc = callJson("POST", processPath(id, pid) + "/signal", &request);
  if (!doc) return doc.error();
  return Ok{};
}

Result<StdinOutcome> ApiClient::sendStdin(std::string_view id, int64_t pid,
                                          std::string_view bytes) {
  auto payload = serializeJson(nlohmann::json{{"data_base64", base64Encode(bytes)}});
  if (!payload) return payload.error();
  RequestBody body;
  body.content_type = kJsonType;
  body.data = *payload;
  auto response = http_.send("POST", processPath(id, pid) + "/stdin", body);
  if (!response) return response.error();
  const int status = response->head.status;
  if (isSuccess(status)) return StdinOutcome::kQueued;
  if (status == kStatusTooManyRequests) return StdinOutcome::kBusy;
  if (status == kStatusConflict || status == kStatusNotFound) return StdinOutcome::kClosed;
  return apiError(status, response->head.reason, response->body);
}

Result<void> ApiClient::closeStdin(std::string_view id, int64_t pid) {
  auto response = http_.send("DELETE", processPath(id, pid) + "/stdin");
  if (!response) return response.error();
  const int status = response->head.status;
  // A process that has finished has no stdin left to close: that is what was wanted.
  if (isSuccess(status) || status == kStatusConflict) return Ok{};
  return apiError(status, response->head.reason, response->body);
}

Result<void> ApiClient::resizeTerminal(std::string_view id, int64_t pid, TerminalSize size) {
  nlohmann::json request = {{"rows", size.rows}, {"cols", size.cols}};
  auto doc = callJson("POST", processPath(id, pid) + "/resize", &request);
  if (!doc) return doc.error();
  return Ok{};
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

Result<bool> ApiClient::fileExists(std::string_view id, std::string_view path,
                                   std::string_view user) {
  std::string target = filesTarget(id, "/info", path);
  if (!user.empty()) target += "&user=" + percentEncode(user);
  auto response = http_.send("GET", target);
  if (!response) return response.error();
  if (response->head.status == kStatusNotFound) return false;
  if (!isSuccess(response->head.status)) {
    return apiError(response->head.status, response->head.reason, response->body);
  }
  return true;
}

Result<void> ApiClient::writeFile(std::string_view id, std::string_view path, std::string_view user,
                                  std::string_view bytes) {
  std::string target = filesTarget(id, "/raw", path);
  if (!user.empty()) target += "&user=" + percentEncode(user);
  RequestBody body;
  body.content_type = "application/octet-stream";
  body.data = bytes;
  auto doc = checked(http_.send("PUT", target, body));
  if (!doc) return doc.error();
  return Ok{};
}

Result<std::string> ApiClient::readFile(std::string_view id, std::string_view path,
                                        std::string_view user) {
  std::string target = filesTarget(id, "/raw", path);
  if (!user.empty()) target += "&user=" + percentEncode(user);
  auto response = http_.send("GET", target);
  if (!response) return response.error();
  if (!isSuccess(response->head.status)) {
    return apiError(response->head.status, response->head.reason, response->body);
  }
  return std::move(response->body);
}

Result<nlohmann::json> ApiClient::listTemplates() {
  auto doc = callJson("GET", "/v1/templates", nullptr);
  if (!doc) return doc;
  if (doc->is_object() && doc->contains("templates") && (*doc)["templates"].is_array()) {
    return (*doc)["templates"];
  }
  return PlainError() << "bad response from declawd: no templates array";
}

Result<nlohmann::json> ApiClient::getTemplate(std::string_view name) {
  return callJson("GET", templatePath(name), nullptr);
}

Result<std::optional<nlohmann::json>> ApiClient::findTemplate(std::string_view name) {
  auto response = http_.send("GET", templatePath(name));
  if (!response) return response.error();
  if (response->head.status == kStatusNotFound) return std::optional<nlohmann::json>();
  auto doc = checked(std::move(response));
  if (!doc) return doc.error();
  return std::optional<nlohmann::json>(std::move(*doc));
}

Result<nlohmann::json> ApiClient::importTemplate(std::string_view name, bool replace,
                                                 RequestBody archive) {
  archive.content_type = "application/x-tar";
  std::string target = templatePath(name);
  if (replace) target += "?replace=true";
  return checked(http_.send("PUT", target, archive));
}

Result<void> ApiClient::deleteTemplate(std::string_view name) {
  auto doc = callJson("DELETE", templatePath(name), nullptr);
  if (!doc) return doc.error();
  return Ok{};
}

Result<void> ApiClient::exportTemplate(std::string_view name, const BodySink& sink) {
  auto response = http_.send("GET", templatePath(name) + "/archive", {}, &sink);
  if (!response) return response.error();
  if (!isSuccess(response->head.status)) {
    return apiError(response->head.status, response->head.reason, response->body);
  }
  return Ok{};
}

Result<nlohmann::json> ApiClient::snapshotSandbox(std::string_view id,
                                                  const nlohmann::json& request) {
  return callJson("POST", sandboxPath(id) + "/snapshots", &request);
}

}  // namespace declaw::ctl
