// The process routes of api::Router (background, stream, PTY, list, attach, wait, signals,
// stdin, resize) and the Server-Sent Events they answer. Over FakeServices.
#include <signal.h>

#include "api_test_helpers.h"

namespace declaw::api::testing {
namespace {

using json = nlohmann::json;

// Reads a streamed response to its end (the scripted watch yields nothing after its events:
// the source then answers empty pieces, so stop after `max_pieces`).
std::string drain(Response& response, int max_pieces = 50) {
  REQUIRE(response.stream);
  std::string body;
  for (int i = 0; i < max_pieces; ++i) {
    auto piece = response.stream->next(std::chrono::milliseconds(0));
    if (!piece) return body;
    body += *piece;
  }
  return body;
}

OutputEvent outputEvent(OutputEvent::Kind kind, std::string data) {
  OutputEvent e;
  e.kind = kind;
  e.data = std::move(data);
  return e;
}

TEST_CASE("a background command starts a process and answers its info at once",
          "[api][processes]") {
  Api api;
  api.services.process.pid = 42;
  api.services.process.cmd = "sleep 100";
  api.services.process.background = true;
  const Response response =
      api.call("POST", kSandbox + "/commands", json{{"cmd", "sleep 100"}, {"background", true}});
  REQUIRE(response.status == 200);
  CHECK(api.services.called("startProcess"));
  CHECK_FALSE(api.services.called("runCommand"));
  const ProcessSpec& spec = api.services.last_process;
  CHECK(spec.background);
  CHECK(spec.run.cmd == "sleep 100");
  CHECK(spec.run.timeout_s == 0);  // a server runs until it exits or is killed
  CHECK(spec.stdin_open);
  const json info = jsonOf(response);
  CHECK(info.at("pid") == 42);
  CHECK(info.at("background") == true);
  CHECK(info.at("exit_code").is_null());
}

TEST_CASE("a background command keeps an explicit timeout and stdin choice", "[api][processes]") {
  Api api;
  api.call("POST", kSandbox + "/commands",
           json{{"cmd", "x"}, {"background", true}, {"timeout", 5}, {"stdin_open", false}});
  CHECK(api.services.last_process.run.timeout_s == 5);
  CHECK_FALSE(api.services.last_process.stdin_open);
}

TEST_CASE("a streamed command answers Server-Sent Events from start to exit", "[api][processes]") {
  Api api;
  api.services.process.pid = 7;
  OutputEvent exit;
  exit.kind = OutputEvent::Kind::kExit;
  exit.process.pid = 7;
  exit.process.running = false;
  exit.process.exit_code = 3;
  OutputEvent lost;
  lost.kind = OutputEvent::Kind::kLost;
  lost.stream = "stdout";
  lost.lost_bytes = 1000;
  api.services.events = {outputEvent(OutputEvent::Kind::kStdout, "one\n"),
                         outputEvent(OutputEvent::Kind::kStderr, std::string("\xff", 1)), lost,
                         exit};
  Response response = api.call("POST", kSandbox + "/commands/stream", json{{"cmd", "x"}});
  REQUIRE(response.status == 200);
  CHECK(response.content_type == "text/event-stream");
  CHECK(api.services.last_process.run.timeout_s == Limits().default_command_timeout_s);
  CHECK_FALSE(api.services.last_process.stdin_open);
  CHECK(api.services.last_follow);
  CHECK(drain(response) ==
        "event: start\ndata: {\"pid\":7}\n\n"
        "event: stdout\ndata: {\"data\":\"one\\n\"}\n\n"
        "event: stderr\ndata: {\"data\":\"\xEF\xBF\xBD\",\"data_base64\":\"/w==\"}\n\n"
        "event: lost\ndata: {\"bytes\":1000,\"stream\":\"stdout\"}\n\n"
        "event: exit\ndata: {\"exit_code\":3,\"pid\":7,\"signal\":null,\"timed_out\":false}\n\n");
}

TEST_CASE("an exit after the OOM killer struck says so", "[api][processes]") {
  Api api;
  OutputEvent exit;
  exit.kind = OutputEvent::Kind::kExit;
  exit.process.pid = 7;
  exit.process.running = false;
  exit.process.exit_code = 137;
  exit.process.signal = 9;
  exit.process.oom_killed = true;
  api.services.events = {exit};
  Response response = api.call("GET", kSandbox + "/commands/7/stream");
  CHECK(drain(response).find("\"oom_killed\":true") != std::string::npos);
  api.services.process = exit.process;
  CHECK(jsonOf(api.call("GET", kSandbox + "/commands/7")).at("oom_killed") == true);
}

TEST_CASE("a stream with nothing to say answers an empty piece; its keep-alive is a comment",
          "[api][processes]") {
  Api api;
  api.services.process.pid = 7;
  Response response = api.call("POST", kSandbox + "/commands/stream", json{{"cmd", "x"}});
  REQUIRE(response.stream);
  CHECK(response.stream->next(std::chrono::milliseconds(0)) ==
        "event: start\ndata: {\"pid\":7}\n\n");
  CHECK(response.stream->next(std::chrono::milliseconds(0)) == "");
  CHECK(response.stream->keepAlive() == ": keep-alive\n\n");
}

TEST_CASE("a command that cannot start is a JSON error, not a stream", "[api][processes]") {
  Api api;
  api.services.failures["startProcess"] = Error{ENOENT, "chdir /nope"};
  const Response response = api.call("POST", kSandbox + "/commands/stream", json{{"cmd", "x"}});
  CHECK(response.status == 404);
  CHECK_FALSE(response.stream);
}

TEST_CASE("attaching without follow ends after the buffered output", "[api][processes]") {
  Api api;
  api.services.events = {outputEvent(OutputEvent::Kind::kPty, "$ "), OutputEvent{}};
  Response response = api.call("GET", kSandbox + "/commands/12/stream?follow=false");
  REQUIRE(response.status == 200);
  CHECK(api.services.last_pid == 12);
  CHECK_FALSE(api.services.last_follow);
  CHECK(drain(response) ==
        "event: start\ndata: {\"pid\":12}\n\nevent: pty\ndata: {\"data\":\"$ \"}\n\n");
}

TEST_CASE("a pid that is not a positive number is no process of ours", "[api][processes]") {
  for (const std::string pid : {"abc", "-1", "0", "12x", "99999999999999"}) {
    Api api;
    INFO(pid);
    CHECK(api.call("GET", kSandbox + "/commands/" + pid).status == 404);
    CHECK_FALSE(api.services.called("getProcess"));
  }
}

TEST_CASE("the process list answers every process", "[api][processes]") {
  Api api;
  ProcessInfo done;
  done.pid = 3;
  done.running = false;
  done.exit_code = 137;
  done.signal = 9;
  done.ended_at = Clock::now();
  ProcessInfo running;
  running.pid = 4;
  running.is_pty = true;
  api.services.processes = {done, running};
  const json list = jsonOf(api.call("GET", kSandbox + "/commands")).at("processes");
  REQUIRE(list.size() == 2);
  CHECK(list[0].at("exit_code") == 137);
  CHECK(list[0].at("signal") == 9);
  CHECK(list[0].contains("ended_at"));
  CHECK(list[1].at("running") == true);
  CHECK(list[1].at("is_pty") == true);
  CHECK_FALSE(list[1].contains("ended_at"));
  CHECK_FALSE(list[1].contains("argv"));  // only a command given as an argv has one
}

TEST_CASE("a process started from an argv lists it beside its shell-quoted cmd",
          "[api][processes]") {
  Api api;
  ProcessInfo p;
  p.pid = 5;
  p.cmd = "python3 -c 'print(1)'";
  p.argv = {"python3", "-c", "print(1)"};
  api.services.processes = {p};
  const json list = jsonOf(api.call("GET", kSandbox + "/commands")).at("processes");
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("cmd") == "python3 -c 'print(1)'");
  CHECK(list[0].at("argv") == json{"python3", "-c", "print(1)"});
}

TEST_CASE("a background or PTY process may be an argv", "[api][processes]") {
  Api api;
  REQUIRE(api.call("POST", kSandbox + "/commands",
                   json{{"argv", {"sleep", "100"}}, {"background", true}})
              .status == 200);
  CHECK(api.services.last_process.run.argv == std::vector<std::string>{"sleep", "100"});
  REQUIRE(api.call("POST", kSandbox + "/pty",
                   json{{"argv", {"top"}}, {"size", {{"rows", 24}, {"cols", 80}}}})
              .status == 200);
  CHECK(api.services.last_process.run.argv == std::vector<std::string>{"top"});
  CHECK(api.services.last_process.pty);
}

TEST_CASE("signals are taken by name, with or without SIG, or by number", "[api][processes]") {
  for (const auto& [given, expected] : std::vector<std::pair<json, int>>{{"TERM", SIGTERM},
                                                                         {"sigint", SIGINT},
                                                                         {"SIGKILL", SIGKILL},
                                                                         {10, 10},
                                                                         {"WINCH", SIGWINCH}}) {
    Api api;
    INFO(given.dump());
    CHECK(api.call("POST", kSandbox + "/commands/5/signal", json{{"signal", given}}).status == 204);
    CHECK(api.services.last_signal == expected);
  }
  for (const json& bad : {json("NOPE"), json(0), json(65), json(-9), json(true)}) {
    Api api;
    INFO(bad.dump());
    CHECK(api.call("POST", kSandbox + "/commands/5/signal", json{{"signal", bad}}).status == 400);
    CHECK_FALSE(api.services.called("signalProcess"));
  }
}

TEST_CASE("killing a process that has finished succeeds", "[api][processes]") {
  Api api;
  api.services.failures["signalProcess"] = Error{ESRCH, "process 5 has finished"};
  CHECK(api.call("DELETE", kSandbox + "/commands/5").status == 204);
  CHECK(api.services.last_signal == SIGKILL);
}

TEST_CASE("killing a process of a killed sandbox is a 409", "[api][processes]") {
  Api api;
  api.services.failures["signalProcess"] = Error{ESRCH, "sandbox is not running"};
  api.services.failures["getProcess"] = Error{ESRCH, "sandbox is not running"};
  CHECK(api.call("DELETE", kSandbox + "/commands/5").status == 409);
}

TEST_CASE("stdin takes text or exact bytes", "[api][processes]") {
  Api api;
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json{{"data", "hi\n"}}).status == 204);
  CHECK(api.services.last_stdin == "hi\n");
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json{{"data_base64", "AP8="}}).status ==
        204);
  CHECK(api.services.last_stdin == std::string("\0\xff", 2));
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json{{"data", "a"}, {"data_base64", ""}})
            .status == 400);
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json::object()).status == 400);
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json{{"data_base64", "!!"}}).status ==
        400);
}

TEST_CASE("stdin that a process does not read is a 429 once over the limit", "[api][processes]") {
  Api api;
  api.services.failures["writeStdin"] = Error{EDQUOT, "too much unread stdin"};
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json{{"data", "x"}}).status == 429);
  api.services.failures["writeStdin"] = Error{ESRCH, "stdin is closed"};
  CHECK(api.call("POST", kSandbox + "/commands/5/stdin", json{{"data", "x"}}).status == 409);
}

TEST_CASE("closing stdin is a DELETE on it", "[api][processes]") {
  Api api;
  CHECK(api.call("DELETE", kSandbox + "/commands/5/stdin").status == 204);
  CHECK(api.services.called("closeStdin"));
}

TEST_CASE("a PTY needs a size within bounds", "[api][processes]") {
  Api api;
  REQUIRE(
      api.call("POST", kSandbox + "/pty", json{{"size", {{"rows", 40}, {"cols", 120}}}}).status ==
      200);
  const ProcessSpec& spec = api.services.last_process;
  CHECK(spec.pty);
  CHECK(spec.rows == 40);
  CHECK(spec.cols == 120);
  CHECK(spec.run.cmd.empty());
  CHECK(spec.run.timeout_s == 0);
  for (const json& bad :
       {json::object(), json{{"size", 5}}, json{{"size", {{"rows", 0}, {"cols", 80}}}},
        json{{"size", {{"rows", 24}, {"cols", 1001}}}}, json{{"size", {{"rows", 24}}}}}) {
    Api other;
    INFO(bad.dump());
    CHECK(other.call("POST", kSandbox + "/pty", bad).status == 400);
    CHECK_FALSE(other.services.called("startProcess"));
  }
}

TEST_CASE("resize passes rows and cols", "[api][processes]") {
  Api api;
  CHECK(
      api.call("POST", kSandbox + "/commands/5/resize", json{{"rows", 50}, {"cols", 200}}).status ==
      204);
  CHECK(api.services.last_rows == 50);
  CHECK(api.services.last_cols == 200);
  api.services.failures["resizePty"] = Error{EINVAL, "process 5 has no terminal"};
  CHECK(api.call("POST", kSandbox + "/commands/5/resize", json{{"rows", 5}, {"cols", 5}}).status ==
        400);
}

TEST_CASE("wait takes a bounded timeout and is a 408 when the process still runs",
          "[api][processes]") {
  Api api;
  CHECK(api.call("GET", kSandbox + "/commands/5/wait?timeout=3").status == 200);
  CHECK(api.services.last_wait == std::chrono::seconds(3));
  CHECK(api.call("GET", kSandbox + "/commands/5/wait").status == 200);
  CHECK(api.services.last_wait == std::chrono::seconds(60));
  for (const std::string bad : {"-1", "x", "3601", "1.5"}) {
    INFO(bad);
    CHECK(api.call("GET", kSandbox + "/commands/5/wait?timeout=" + bad).status == 400);
  }
  api.services.failures["waitProcess"] = Error{ETIMEDOUT, "process 5 still runs"};
  CHECK(api.call("GET", kSandbox + "/commands/5/wait?timeout=1").status == 408);
}

}  // namespace
}  // namespace declaw::api::testing
