// declawctl's process verbs without a daemon: signal names, the `ps` table, and the request
// bodies of each exec mode.
#include <catch2/catch.hpp>
#include <csignal>

#include "clients/ctl/format.h"
#include "clients/ctl/requests.h"
#include "clients/ctl/signals.h"

using nlohmann::json;
namespace ctl = declaw::ctl;

TEST_CASE("a signal is a name with or without SIG, in any case, or a number 1..64") {
  CHECK(*ctl::parseSignal("TERM") == SIGTERM);
  CHECK(*ctl::parseSignal("SIGTERM") == SIGTERM);
  CHECK(*ctl::parseSignal("term") == SIGTERM);
  CHECK(*ctl::parseSignal("SigKill") == SIGKILL);
  CHECK(*ctl::parseSignal("HUP") == SIGHUP);
  CHECK(*ctl::parseSignal("9") == 9);
  CHECK(*ctl::parseSignal("64") == 64);
  CHECK(*ctl::parseSignal("IOT") == SIGABRT);
  for (const char* bad : {"", "0", "65", "1000000000000", "FOO", "SIG", "-9", "9x", " TERM"}) {
    INFO(bad);
    CHECK_FALSE(ctl::parseSignal(bad).ok());
  }
  CHECK(ctl::parseSignal("FOO").error().message ==
        "unknown signal 'FOO' (a name such as TERM or SIGKILL, or a number 1..64)");
}

TEST_CASE("signals are shown and sent by name, real-time ones by number") {
  CHECK(ctl::signalName(SIGTERM) == "TERM");
  CHECK(ctl::signalName(SIGABRT) == "ABRT");
  CHECK(ctl::signalName(SIGIO) == "IO");
  CHECK(ctl::signalName(40) == "40");
  CHECK(ctl::signalRequestValue(SIGKILL) == json("KILL"));
  CHECK(ctl::signalRequestValue(40) == json(40));
}

TEST_CASE("the ps state says running, exited(N), killed(SIG) or timed-out") {
  CHECK(ctl::processState(json::parse(R"({"running": true, "exit_code": null})")) == "running");
  CHECK(ctl::processState(json::parse(R"({"running": false, "exit_code": 3, "signal": null})")) ==
        "exited(3)");
  CHECK(ctl::processState(json::parse(R"({"running": false, "exit_code": 143, "signal": 15})")) ==
        "killed(TERM)");
  CHECK(ctl::processState(json::parse(
            R"({"running": false, "exit_code": 124, "signal": 9, "timed_out": true})")) ==
        "timed-out");
  CHECK(ctl::processState(json::parse(
            R"({"running": false, "exit_code": null, "error": "sandbox ended"})")) == "unknown");
  CHECK(ctl::processState(json::parse(R"({"running": "yes"})")) == "unknown");
  CHECK(ctl::processState(json()) == "unknown");
}

TEST_CASE("the ps table shows pid, user, state, pty, start and the command on one line each") {
  json processes = json::parse(R"([
      {"pid": 12, "cmd": "python3 -m http.server", "user": "user", "started_at": "2026-11-27T02:41:01Z",
       "running": true, "is_pty": false},
      {"pid": 7, "cmd": null, "user": "root", "started_at": "2026-11-27T02:41:05Z",
       "running": false, "exit_code": 0, "signal": null, "is_pty": true},
      {"pid": 30, "cmd": "echo a\nrm -rf /tmp/x\u001b[2J", "user": "user", "started_at": "s",
       "running": false, "exit_code": 137, "signal": 9},
      {"pid": 31, "cmd": "", "user": "user", "started_at": "s", "running": true, "is_pty": true}])");
  CHECK(ctl::formatProcessTable(processes) ==
        "PID  USER  STATE         PTY  STARTED               CMD\n"
        "12   user  running       no   2026-11-27T02:41:01Z  python3 -m http.server\n"
        "7    root  exited(0)     yes  2026-11-27T02:41:05Z  -\n"
        "30   user  killed(KILL)  no   s                     echo a\\nrm -rf /tmp/x\\x1b[2J\n"
        "31   user  running       yes  s                     -\n");
  CHECK(ctl::formatProcessTable(json::array()) == "PID  USER  STATE  PTY  STARTED  CMD\n");
}

TEST_CASE("base64Encode pads and round-trips any bytes") {
  CHECK(ctl::base64Encode("") == "");
  CHECK(ctl::base64Encode("h") == "aA==");
  CHECK(ctl::base64Encode("hi") == "aGk=");
  CHECK(ctl::base64Encode("abc") == "YWJj");
  CHECK(ctl::base64Encode(std::string("\x00\xff\xfe\x03", 4)) == "AP/+Aw==");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  CHECK(*ctl::base64Decode(ctl::base64Encode(all)) == all);
}

TEST_CASE("a waited-for command always names its timeout; a background one only when given") {
  ctl::ExecSpec spec;
  spec.argv = {"sleep", "1"};
  CHECK(*ctl::buildCommandRequest(spec, "") == json{{"argv", {"sleep", "1"}}, {"timeout", 60}});
  spec.mode = ctl::ExecMode::kBuffered;
  CHECK(*ctl::buildCommandRequest(spec, "") == json{{"argv", {"sleep", "1"}}, {"timeout", 60}});
  spec.mode = ctl::ExecMode::kInteractive;
  CHECK(*ctl::buildCommandRequest(spec, "") ==
        json{{"argv", {"sleep", "1"}}, {"timeout", 60}, {"stdin_open", true}});
  spec.mode = ctl::ExecMode::kDetach;
  CHECK(*ctl::buildCommandRequest(spec, "") ==
        json{{"argv", {"sleep", "1"}}, {"background", true}});
  CHECK(ctl::commandTimeout(spec) == 0);
  spec.timeout_s = 30;
  CHECK(*ctl::buildCommandRequest(spec, "") ==
        json{{"argv", {"sleep", "1"}}, {"background", true}, {"timeout", 30}});
  spec.send_stdin = true;
  CHECK((*ctl::buildCommandRequest(spec, "text"))["stdin"] == "text");
  spec.mode = ctl::ExecMode::kTerminal;
  CHECK_FALSE(ctl::buildCommandRequest(spec, "").ok());
}

TEST_CASE("a terminal request carries the size, and the command only when one was given") {
  ctl::ExecSpec spec;
  spec.mode = ctl::ExecMode::kTerminal;
  CHECK(*ctl::buildPtyRequest(spec, {24, 80}) == json{{"size", {{"rows", 24}, {"cols", 80}}}});
  spec.argv = {"top", "-b"};
  spec.user = "root";
  spec.cwd = "/tmp";
  spec.envs = {"TERM=vt100"};
  spec.timeout_s = 0;
  CHECK(*ctl::buildPtyRequest(spec, {50, 132}) ==
        json::parse(R"({"size": {"rows": 50, "cols": 132}, "argv": ["top", "-b"], "user": "root",
                        "cwd": "/tmp", "envs": {"TERM": "vt100"}, "timeout": 0})"));
  spec.envs = {"bad"};
  CHECK_FALSE(ctl::buildPtyRequest(spec, {24, 80}).ok());
}
