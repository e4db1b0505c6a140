// api::Router over the FakeServices of the unit tests, fed with fuzzed requests.
//
// Input: an HTTP-like request, so seeds are readable and mutations stay near real traffic:
//
//   METHOD SP TARGET LF
//   name: value LF        (optional, until an empty line)
//   LF
//   body
//
// Headers the harness understands: content-type; x-uid (the caller's uid, decimal); x-fail (an
// errno every Services call answers with); x-upload-bytes (for PUT .../files/raw, the count
// passed to finishUpload).
//
// Invariants: every answer has a status in 100..599 and is counted once; a JSON body parses, and
// an error body is {"error": {"code", "message"}}; a 405 says Allow; what reaches Services is
// valid (a sandbox id of the right form, a normalised path, user "user" or "root"); an event
// stream yields well-formed events.
#include <cerrno>
#include <charconv>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/paths.h"
#include "api/router.h"
#include "fuzz/fuzz_check.h"
#include "tests/unit/api_fake_services.h"

namespace {

using declaw::api::Caller;
using declaw::api::Request;
using declaw::api::Response;
using declaw::api::testing::FakeServices;

constexpr const char* kServiceMethods[] = {
    "createSandbox", "getSandbox",    "killSandbox",    "setTimeout",    "runCommand",
    "pauseSandbox",  "resumeSandbox", "sandboxMetrics", "startProcess",  "listProcesses",
    "getProcess",    "watchProcess",  "waitProcess",    "signalProcess", "writeStdin",
    "closeStdin",    "resizePty",     "statPath",       "listDir",       "makeDir",
    "removePath",    "renamePath",    "openForRead",    "openForWrite"};
// Pieces read from an event stream: the scripted events end it sooner, unless watchProcess
// fails or the stream keeps waiting (then it sends keep-alives forever).
constexpr int kMaxStreamPieces = 16;

std::string_view nextLine(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

struct Input {
  Request request;
  Caller caller{.uid = 1000, .gid = 1000, .pid = 4242};
  int fail_errno = 0;
  uint64_t upload_bytes = 0;
};

Input parseInput(std::string_view text) {
  Input in;
  in.request.content_type = "application/json";
  std::string_view first = nextLine(text);
  const size_t space = first.find(' ');
  in.request.method = std::string(first.substr(0, space));
  if (space != std::string_view::npos) in.request.target = std::string(first.substr(space + 1));
  while (!text.empty()) {
    std::string_view line = nextLine(text);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    while (value.starts_with(' ')) value.remove_prefix(1);
    if (name == "content-type") {
      in.request.content_type = std::string(value);
    } else if (name == "x-uid") {
      parseNumber(value, in.caller.uid);
    } else if (name == "x-fail") {
      parseNumber(value, in.fail_errno);
    } else if (name == "x-upload-bytes") {
      parseNumber(value, in.upload_bytes);
    }
  }
  in.request.body = std::string(text);
  return in;
}

void setUp(FakeServices& services, const Input& in) {
  using declaw::api::OutputEvent;
  services.sandbox.sandbox_id = "sbx-0123456789ab";
  services.sandbox.state = "running";
  services.sandboxes = {services.sandbox};
  // Output that is not UTF-8 exercises the base64 side of every response.
  services.run_result.stdout_data = "out \xff\xfe";
  services.run_result.stderr_data = "err";
  services.file_content = in.request.body;
  services.entry = {
      .name = "f\xc3", .path = "/home/user/f\xc3", .type = "symlink", .symlink_target = "\x80"};
  services.listing = {services.entry};
  services.process = {.pid = 7, .cmd = "sleep \xff", .user = "user", .cwd = "/home/user"};
  services.processes = {services.process};
  services.events = {
      OutputEvent{.kind = OutputEvent::Kind::kStdout, .data = "a\xff"},
      OutputEvent{.kind = OutputEvent::Kind::kStderr, .data = "b"},
      OutputEvent{.kind = OutputEvent::Kind::kLost, .stream = "stdout", .lost_bytes = 3},
      OutputEvent{.kind = OutputEvent::Kind::kExit, .process = services.process},
  };
  if (in.fail_errno != 0) {
    for (const char* method : kServiceMethods) {
      services.failures[method] = declaw::Error{in.fail_errno, "injected"};
    }
  }
}

void checkJsonBody(const Response& response) {
  FUZZ_CHECK(response.status >= 100 && response.status <= 599, std::to_string(response.status));
  if (response.content_type != "application/json") return;
  if (response.status == 204) return;
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(response.body);
  } catch (const nlohmann::json::exception& e) {
    FUZZ_CHECK(false, std::string(e.what()) + " in " + declaw::fuzz::show(response.body));
  }
  if (response.status >= 400) {
    FUZZ_CHECK(body.contains("error") && body["error"].is_object(), response.body);
    FUZZ_CHECK(body["error"].contains("code") && body["error"]["code"].is_string(), response.body);
    FUZZ_CHECK(body["error"].contains("message") && body["error"]["message"].is_string(),
               response.body);
  }
  if (response.status == 405) {
    bool has_allow = false;
    for (const auto& [name, value] : response.headers) has_allow |= name == "Allow";
    FUZZ_CHECK(has_allow);
  }
}

// Each piece is a comment or "event: NAME\ndata: JSON\n\n".
void checkStream(Response& response) {
  if (!response.stream) return;
  FUZZ_CHECK(response.content_type == "text/event-stream", response.content_type);
  for (int i = 0; i < kMaxStreamPieces; ++i) {
    auto piece = response.stream->next(std::chrono::milliseconds(0));
    if (!piece) return;
    if (piece->starts_with(":")) continue;
    FUZZ_CHECK(piece->starts_with("event: ") && piece->ends_with("\n\n"), *piece);
    const size_t data = piece->find("\ndata: ");
    FUZZ_CHECK(data != std::string::npos, *piece);
    const std::string json = piece->substr(data + 7, piece->size() - data - 9);
    FUZZ_CHECK(json.find('\n') == std::string::npos, *piece);
    FUZZ_CHECK(nlohmann::json::accept(json), *piece);
  }
}

// Whatever the router handed to Services passed its validation.
void checkServiceArguments(const FakeServices& services) {
  if (services.calls.empty()) return;
  if (!services.last_id.empty()) {
    FUZZ_CHECK(declaw::api::isValidSandboxId(services.last_id), services.last_id);
  }
  for (const std::string* path : {&services.last_path, &services.last_new_path}) {
    if (path->empty()) continue;
    FUZZ_CHECK(path->starts_with('/'), *path);
    FUZZ_CHECK(declaw::api::normaliseSandboxPath(*path) == *path, *path);
  }
  if (!services.last_user.empty()) {
    FUZZ_CHECK(services.last_user == "user" || services.last_user == "root", services.last_user);
  }
  if (!services.last_run.cwd.empty()) {
    FUZZ_CHECK(declaw::api::normaliseSandboxPath(services.last_run.cwd) == services.last_run.cwd,
               services.last_run.cwd);
  }
  if (services.last_pid != 0) FUZZ_CHECK(services.last_pid > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = parseInput(declaw::fuzz::asText(data, size));
  FakeServices services;
  setUp(services, in);
  declaw::api::Limits limits;
  limits.max_json_body_bytes = 64 * 1024;  // small, so the fuzzer reaches the 413 path
  declaw::api::Router router(services, limits);

  if (declaw::api::Router::isUpload(in.request.method, in.request.target)) {
    auto begun = router.beginUpload(in.caller, in.request, in.request.body.size());
    if (auto* upload = std::get_if<declaw::api::Upload>(&begun)) {
      FUZZ_CHECK(static_cast<bool>(upload->sink));
      checkServiceArguments(services);
      Response done = router.finishUpload(*upload, in.upload_bytes);
      checkJsonBody(done);
    } else {
      checkJsonBody(std::get<Response>(begun));
    }
    return 0;
  }

  Response response = router.handle(in.caller, in.request);
  checkJsonBody(response);
  FUZZ_CHECK(services.statuses.size() == 1 && services.statuses[0] == response.status,
             "countResponse must see each answer once");
  checkServiceArguments(services);
  checkStream(response);
  return 0;
}
