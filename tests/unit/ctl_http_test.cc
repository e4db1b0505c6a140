// declawctl's HTTP/1.1 client: response heads, body framing, chunked decoding fed in arbitrary
// pieces, and whole requests (event streams too) against a canned server on a Unix socket in a
// temp directory.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "clients/ctl/api_client.h"
#include "clients/ctl/http_client.h"
#include "clients/ctl/http_parse.h"
#include "common/unique_fd.h"

namespace ctl = declaw::ctl;
using declaw::UniqueFd;

TEST_CASE("a response head gives status, reason and lower-cased headers") {
  auto head = ctl::parseResponseHead(
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A:  b \r\n\r\n");
  REQUIRE(head.ok());
  CHECK(head->status == 404);
  CHECK(head->reason == "Not Found");
  REQUIRE(head->header("content-type") != nullptr);
  CHECK(*head->header("content-type") == "application/json");
  CHECK(*head->header("x-a") == "b");
  CHECK(head->header("content-length") == nullptr);
}

TEST_CASE("a status line without a reason phrase is accepted") {
  auto head = ctl::parseResponseHead("HTTP/1.0 204\r\n\r\n");
  REQUIRE(head.ok());
  CHECK(head->status == 204);
  CHECK(head->reason.empty());
}

TEST_CASE("garbage instead of a status line or header is rejected") {
  CHECK_FALSE(ctl::parseResponseHead("SSH-2.0-OpenSSH\r\n\r\n").ok());
  CHECK_FALSE(ctl::parseResponseHead("HTTP/1.1 2x0 OK\r\n\r\n").ok());
  CHECK_FALSE(ctl::parseResponseHead("HTTP/1.1 200 OK\r\nno colon\r\n\r\n").ok());
  CHECK_FALSE(ctl::parseResponseHead("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n").ok());
}

TEST_CASE("findHeadEnd finds the blank line, CRLF or bare LF") {
  CHECK(ctl::findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n") == std::string::npos);
  CHECK(ctl::findHeadEnd("HTTP/1.1 200 OK\r\n\r\nbody") == 19);
  CHECK(ctl::findHeadEnd("HTTP/1.1 200 OK\n\nbody") == 17);
}

TEST_CASE("the body is delimited by chunking, then Content-Length, then the connection close") {
  auto framing = [](const std::string& head_text, std::string_view method = "GET") {
    auto head = ctl::parseResponseHead(head_text);
    REQUIRE(head.ok());
    return ctl::bodyFraming(*head, method);
  };
  auto chunked =
      framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\n");
  CHECK(chunked->kind == ctl::BodyKind::kChunked);
  auto sized = framing("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
  CHECK(sized->kind == ctl::BodyKind::kLength);
  CHECK(sized->length == 42);
  CHECK(framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")->kind == ctl::BodyKind::kNone);
  CHECK(framing("HTTP/1.1 200 OK\r\n\r\n")->kind == ctl::BodyKind::kUntilClose);
  CHECK(framing("HTTP/1.1 204 No Content\r\n\r\n")->kind == ctl::BodyKind::kNone);
  CHECK(framing("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD")->kind ==
        ctl::BodyKind::kNone);
  CHECK_FALSE(framing("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").ok());
  CHECK_FALSE(framing("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").ok());
  CHECK_FALSE(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").ok());
}

TEST_CASE("a chunked body decodes the same however the bytes are split") {
  const std::string wire =
      "5;name=val\r\nhello\r\n1A\r\n, world of chunked bodies!\r\n0\r\nTrailer: x\r\n\r\nEXTRA";
  const std::string expected = "hello, world of chunked bodies!";
  for (size_t step = 1; step <= wire.size(); ++step) {
    ctl::ChunkedDecoder decoder;
    std::string out;
    for (size_t i = 0; i < wire.size(); i += step) {
      REQUIRE(decoder.feed(std::string_view(wire).substr(i, step), out).ok());
    }
    CHECK(decoder.done());
    CHECK(out == expected);
  }
}

TEST_CASE("a chunked body with bad sizes or missing CRLF is an error") {
  std::string out;
  CHECK_FALSE(ctl::ChunkedDecoder().feed("zz\r\n", out).ok());
  CHECK_FALSE(ctl::ChunkedDecoder().feed("2\r\nabX\r\n", out).ok());
  CHECK_FALSE(ctl::ChunkedDecoder().feed("11111111111111111\r\n", out).ok());
  CHECK_FALSE(ctl::ChunkedDecoder().feed(std::string(ctl::kMaxChunkLineBytes + 1, '1'), out).ok());
}

TEST_CASE("a request head names the host, the length and closes the connection") {
  CHECK(ctl::formatRequestHead("POST", "/v1/sandboxes", "application/json", 2) ==
        "POST /v1/sandboxes HTTP/1.1\r\nHost: declaw\r\nUser-Agent: declawctl\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  CHECK(ctl::formatRequestHead("GET", "/v1/health", "", 0) ==
        "GET /v1/health HTTP/1.1\r\nHost: declaw\r\nUser-Agent: declawctl\r\n"
        "Connection: close\r\n\r\n");
  CHECK(ctl::formatRequestHead("DELETE", "/x", "", 0).find("Content-Length") == std::string::npos);
  CHECK(ctl::formatRequestHead("PATCH", "/x", "", 0).find("Content-Length: 0\r\n") !=
        std::string::npos);
}

namespace {

// A one-shot server on a Unix socket in a fresh temp directory: reads the request head (and
// Content-Length body), answers with canned bytes written one small piece at a time, closes.
class CannedServer {
 public:
  explicit CannedServer(std::string answer) : answer_(std::move(answer)) {
    char dir_template[] = "/tmp/ctl_http_test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/s.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listener_.get(), 1) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedServer() {
    thread_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& request() const { return request_; }  // valid after the client returned

 private:
  void serve() {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    char buf[4096];
    size_t want = std::string::npos;
    while (want == std::string::npos || request_.size() < want) {
      ssize_t n = ::read(conn.get(), buf, sizeof(buf));
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
      size_t end = request_.find("\r\n\r\n");
      if (want == std::string::npos && end != std::string::npos) {
        size_t cl = request_.find("Content-Length: ");
        want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(request_.substr(cl + 16)));
      }
    }
    for (size_t i = 0; i < answer_.size(); i += 3) {
      std::string_view piece = std::string_view(answer_).substr(i, 3);
      // MSG_NOSIGNAL: a client that stops reading early (at an event stream's `exit`) is an
      // EPIPE for this thread, not a SIGPIPE for the whole test binary.
      if (::send(conn.get(), piece.data(), piece.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  std::string answer_;
  std::string dir_;
  std::string path_;
  UniqueFd listener_;
  std::string request_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("a JSON request and its chunked answer make a round trip over the socket") {
  CannedServer server(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n");
  ctl::HttpClient client(server.path());
  ctl::RequestBody body;
  body.content_type = "application/json";
  body.data = "{}";
  auto response = client.send("POST", "/v1/sandboxes", body);
  REQUIRE(response.ok());
  CHECK(response->head.status == 201);
  CHECK(response->body == "{\"a\":1}");
  CHECK(server.request().find("POST /v1/sandboxes HTTP/1.1\r\n") == 0);
  CHECK(server.request().size() >= 2);
  CHECK(server.request().substr(server.request().size() - 2) == "{}");
}

TEST_CASE("a 2xx body goes to the sink, an error body is buffered instead") {
  std::string streamed;
  int opened = 0;
  ctl::BodySink sink{[&]() -> declaw::Result<void> {
                       ++opened;
                       return declaw::Ok{};
                     },
                     [&](std::string_view bytes) -> declaw::Result<void> {
                       streamed.append(bytes);
                       return declaw::Ok{};
                     },
                     {}};
  {
    CannedServer ok("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
    auto response = ctl::HttpClient(ok.path()).send("GET", "/f", {}, &sink);
    REQUIRE(response.ok());
    CHECK(response->body.empty());
  }
  CHECK(opened == 1);
  CHECK(streamed == "0123456789");
  {
    CannedServer missing("HTTP/1.1 404 Not Found\r\n\r\n{\"error\": {}}");
    auto response = ctl::HttpClient(missing.path()).send("GET", "/f", {}, &sink);
    REQUIRE(response.ok());
    CHECK(response->head.status == 404);
    CHECK(response->body == "{\"error\": {}}");
  }
  CHECK(opened == 1);
}

TEST_CASE("a response cut short is an error, not a short body") {
  CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
  auto response = ctl::HttpClient(server.path()).send("GET", "/x");
  REQUIRE_FALSE(response.ok());
  CHECK(response.error().message == "declawd closed the connection mid-response");
}

TEST_CASE("an unreachable socket says where it looked") {
  auto response = ctl::HttpClient("/nonexistent/declaw.sock").send("GET", "/v1/health");
  REQUIRE_FALSE(response.ok());
  CHECK(response.error().describe() ==
        "cannot reach declawd at /nonexistent/declaw.sock: No such file or directory "
        "(is the service running?)");
}

namespace {

std::string chunk(const std::string& data) {
  char size[32];
  (void)std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

constexpr const char* kEventStreamHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

TEST_CASE("a live command's events arrive in order and the stream ends at `exit`") {
  // No terminating chunk: the daemon may keep the connection a moment after `exit`, and
  // declawctl must not wait for it (nor call the early close an error).
  CannedServer server(
      std::string(kEventStreamHead) +
      chunk("event: start\ndata: {\"pid\": 12}\n\n: keep-alive\n\nevent: std") +
      chunk("out\ndata: {\"data\": \"a\\n\"}\n\nevent: stderr\ndata: {\"data\": \"e\"}\n\n") +
      chunk("event: exit\ndata: {\"pid\": 12, \"exit_code\": 3}\n\n") +
      chunk("event: stdout\ndata: {\"data\": \"after exit\"}\n\n"));
  ctl::ApiClient api(server.path());
  std::vector<std::string> seen;
  auto r = api.streamCommand("sbx-1", nlohmann::json{{"cmd", "x"}, {"stdin_open", true}},
                             [&](const ctl::SseEvent& event) -> declaw::Result<bool> {
                               seen.push_back(event.type + " " + event.data);
                               return event.type == "exit";
                             });
  REQUIRE(r.ok());
  CHECK(seen == std::vector<std::string>{"start {\"pid\": 12}", "stdout {\"data\": \"a\\n\"}",
                                         "stderr {\"data\": \"e\"}",
                                         "exit {\"pid\": 12, \"exit_code\": 3}"});
  CHECK(server.request().find("POST /v1/sandboxes/sbx-1/commands/stream HTTP/1.1\r\n") == 0);
  CHECK(server.request().find("\"stdin_open\":true") != std::string::npos);
}

TEST_CASE("an error before the process starts is the daemon's JSON error") {
  const std::string error =
      R"({"error": {"code": "not_found", "message": "sandbox sbx-9 not found"}})";
  CannedServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(error.size()) + "\r\n\r\n" + error);
  ctl::ApiClient api(server.path());
  auto r = api.attachProcess("sbx-9", 4, /*follow=*/true,
                             [](const ctl::SseEvent&) -> declaw::Result<bool> { return false; });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "sandbox sbx-9 not found (not_found)");
  CHECK(server.request().find("GET /v1/sandboxes/sbx-9/commands/4/stream?follow=true ") == 0);
}

TEST_CASE("a handler's error ends the stream with that error") {
  CannedServer server(std::string(kEventStreamHead) + chunk("event: start\ndata: {}\n\n") +
                      "0\r\n\r\n");
  ctl::ApiClient api(server.path());
  auto r = api.attachProcess("sbx-1", 4, /*follow=*/false,
                             [](const ctl::SseEvent&) -> declaw::Result<bool> {
                               return declaw::PlainError() << "stdout: write: Broken pipe";
                             });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "stdout: write: Broken pipe");
}

TEST_CASE("stdin goes as base64, and a full or closed stdin is an outcome, not an error") {
  {
    CannedServer server("HTTP/1.1 204 No Content\r\n\r\n");
    auto r = ctl::ApiClient(server.path()).sendStdin("sbx-1", 7, std::string("\x03\xff", 2));
    REQUIRE(r.ok());
    CHECK(*r == ctl::StdinOutcome::kQueued);
    CHECK(server.request().find("POST /v1/sandboxes/sbx-1/commands/7/stdin ") == 0);
    CHECK(server.request().find("{\"data_base64\":\"A/8=\"}") != std::string::npos);
  }
  {
    CannedServer server("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}");
    CHECK(*ctl::ApiClient(server.path()).sendStdin("sbx-1", 7, "x") == ctl::StdinOutcome::kBusy);
  }
  {
    CannedServer server("HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}");
    CHECK(*ctl::ApiClient(server.path()).sendStdin("sbx-1", 7, "x") == ctl::StdinOutcome::kClosed);
  }
}

TEST_CASE("pause, resume and metrics are POST .../pause, POST .../resume, GET .../metrics") {
  const std::string info = R"({"sandbox_id": "sbx-1", "state": "paused"})";
  const std::string ok =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(info.size()) + "\r\n\r\n" + info;
  {
    CannedServer server(ok);
    auto r = ctl::ApiClient(server.path()).pauseSandbox("sbx-1");
    REQUIRE(r.ok());
    CHECK((*r)["state"] == "paused");
    CHECK(server.request().find("POST /v1/sandboxes/sbx-1/pause HTTP/1.1\r\n") == 0);
    CHECK(server.request().find("Content-Length: 0\r\n") != std::string::npos);
  }
  {
    CannedServer server(ok);
    REQUIRE(ctl::ApiClient(server.path()).resumeSandbox("sbx-1").ok());
    CHECK(server.request().find("POST /v1/sandboxes/sbx-1/resume HTTP/1.1\r\n") == 0);
  }
  {
    CannedServer server("HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"oom_kills\": 1}");
    auto r = ctl::ApiClient(server.path()).sandboxMetrics("sbx-1");
    REQUIRE(r.ok());
    CHECK((*r)["oom_kills"] == 1);
    CHECK(server.request().find("GET /v1/sandboxes/sbx-1/metrics HTTP/1.1\r\n") == 0);
  }
}

TEST_CASE("network is GET .../network, and a change PATCH .../network with only its parts") {
  const std::string network = R"({"allow_internet_access": false, "allow_out": ["a.example"]})";
  const std::string ok =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(network.size()) + "\r\n\r\n" + network;
  {
    CannedServer server(ok);
    auto r = ctl::ApiClient(server.path()).getNetwork("sbx-1");
    REQUIRE(r.ok());
    CHECK((*r)["allow_out"] == nlohmann::json::array({"a.example"}));
    CHECK(server.request().find("GET /v1/sandboxes/sbx-1/network HTTP/1.1\r\n") == 0);
  }
  {
    CannedServer server(ok);
    ctl::NetworkUpdate update;
    update.deny_out = std::vector<std::string>{};
    auto r = ctl::ApiClient(server.path()).updateNetwork("sbx-1", ctl::buildNetworkPatch(update));
    REQUIRE(r.ok());
    CHECK(server.request().find("PATCH /v1/sandboxes/sbx-1/network HTTP/1.1\r\n") == 0);
    CHECK(server.request().substr(server.request().find("\r\n\r\n") + 4) == R"({"deny_out":[]})");
  }
}

TEST_CASE("a bad rule fails with the daemon's message, which names the entry") {
  const std::string body = R"({"error": {"code": "invalid_argument", "message": )"
                           R"("allow_out[1] '10.0.0.0/33': prefix length must be 0..32"}})";
  CannedServer server("HTTP/1.1 400 Bad Request\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body);
  auto r = ctl::ApiClient(server.path()).updateNetwork("sbx-1", {{"allow_out", {"x", "y"}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "allow_out[1] '10.0.0.0/33': prefix length must be 0..32 (invalid_argument)");
}

TEST_CASE("a command in a paused sandbox fails with the daemon's explanation") {
  const std::string body =
      R"({"error": {"code": "conflict", "message": "sandbox sbx-1 is paused: resume it first"}})";
  CannedServer server("HTTP/1.1 409 Conflict\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body);
  auto r = ctl::ApiClient(server.path())
               .streamCommand("sbx-1", {{"cmd", "true"}},
                              [](const ctl::SseEvent&) { return declaw::Result<bool>(true); });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "sandbox sbx-1 is paused: resume it first (conflict)");
}
