// run-code's side of the kernel bridge protocol: the bridge's file and command line (how a
// context is found again, by declawctl or the SDK), the request lines, and the Execution built
// from the bridge's messages.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clients/ctl/kernel_bridge.h"
#include "clients/ctl/run_code_protocol.h"

namespace ctl = declaw::ctl;
using nlohmann::json;

TEST_CASE("the bridge is the SDK's file, named by the first 16 hex digits of its sha256") {
  CHECK(ctl::kKernelBridgeDigest.size() == 16);
  CHECK(ctl::bridgePath() ==
        "/opt/declaw/kernel_bridge-" + std::string(ctl::kKernelBridgeDigest) + ".py");
  CHECK(ctl::kKernelBridgeSource.find("The code-interpreter bridge") != std::string_view::npos);
}

TEST_CASE("a bridge's ProcessInfo names its context; other processes name none") {
  const auto argv = ctl::bridgeArgv(ctl::bridgePath(), "ctx-1", "/home/user");
  CHECK(argv == std::vector<std::string>{"/usr/bin/python3", ctl::bridgePath(), "--context",
                                         "ctx-1", "--language", "python", "--cwd", "/home/user",
                                         "--dir", "/tmp/.declaw-kernels/ctx-1"});
  CHECK(ctl::contextOfProcess({{"running", true}, {"argv", argv}}) == "ctx-1");
  // As the SDK's context_of_process(): a bridge at the /tmp fallback path (a sandbox that
  // refuses root) is found again too.
  CHECK(ctl::contextOfProcess(
            {{"running", true}, {"argv", ctl::bridgeArgv(ctl::fallbackBridgePath(), "c", "/")}}) ==
        "c");
  CHECK_FALSE(ctl::contextOfProcess({{"running", false}, {"argv", argv}}));
  CHECK_FALSE(ctl::contextOfProcess(
      {{"running", true}, {"argv", {"/usr/bin/python3", "/tmp/other.py", "--context", "x"}}}));
  CHECK_FALSE(ctl::contextOfProcess({{"running", true}, {"argv", {"sleep", "1"}}}));
  CHECK_FALSE(ctl::contextOfProcess({{"running", true}, {"cmd", "python3 kernel_bridge-x.py"}}));
}

TEST_CASE("an execute request is one JSON line; no timeout is null") {
  auto line = ctl::executeLine("r1", "print('a\\nb')", 30);
  REQUIRE(line.back() == '\n');
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
  auto request = json::parse(line);
  CHECK(request ==
        json{{"op", "execute"}, {"id", "r1"}, {"code", "print('a\\nb')"}, {"timeout", 30.0}});
  CHECK(json::parse(ctl::executeLine("r1", "x", 0))["timeout"].is_null());
  CHECK(json::parse(ctl::interruptLine()) == json{{"op", "interrupt"}});
}

TEST_CASE("the bridge's output is split into JSON objects across pieces; other lines are skipped") {
  ctl::BridgeLineSplitter splitter;
  CHECK(splitter.feed(R"({"type":"rea)").empty());
  auto messages = splitter.feed("dy\"}\nnot json\n[1]\n{\"type\":\"done\"}\n{\"ty");
  REQUIRE(messages.size() == 2);
  CHECK(messages[0]["type"] == "ready");
  CHECK(messages[1]["type"] == "done");
  messages = splitter.feed("pe\":\"x\"}\n");
  REQUIRE(messages.size() == 1);
  CHECK(messages[0]["type"] == "x");
}

TEST_CASE("an execution collects its request's output, results and count, until done") {
  ctl::ExecutionBuilder builder("r1");
  CHECK(builder.apply({{"id", "r0"}, {"type", "stdout"}, {"text", "old\n"}}).out.empty());
  CHECK(builder.apply({{"id", "r1"}, {"type", "stdout"}, {"text", "hi\n"}}).out == "hi\n");
  CHECK(builder.apply({{"id", "r1"}, {"type", "stderr"}, {"text", "oops\n"}}).err == "oops\n");
  CHECK(builder
            .apply({{"id", "r1"},
                    {"type", "result"},
                    {"data", {{"text/plain", "2"}}},
                    {"is_main_result", true}})
            .out == "2\n");
  builder.apply({{"id", "r1"}, {"type", "execution_count"}, {"execution_count", 3}});
  CHECK_FALSE(builder.finished());
  builder.apply({{"id", "r1"}, {"type", "done"}});
  CHECK(builder.finished());
  CHECK_FALSE(builder.hasError());
  CHECK_FALSE(builder.timedOut());
  CHECK(builder.execution() == json{{"results", {{{"text/plain", "2"}, {"is_main_result", true}}}},
                                    {"logs", {{"stdout", {"hi\n"}}, {"stderr", {"oops\n"}}}},
                                    {"error", nullptr},
                                    {"execution_count", 3}});
}

TEST_CASE("an error's traceback goes to stderr; a timeout and a dead kernel end the request") {
  ctl::ExecutionBuilder error("r1");
  auto out = error.apply({{"id", "r1"},
                          {"type", "error"},
                          {"name", "ZeroDivisionError"},
                          {"value", "division by zero"},
                          {"traceback", "Traceback ...\nZeroDivisionError: division by zero"}});
  CHECK(out.err == "Traceback ...\nZeroDivisionError: division by zero\n");
  CHECK(error.hasError());
  CHECK(error.execution()["error"]["name"] == "ZeroDivisionError");

  ctl::ExecutionBuilder timeout("r2");
  timeout.apply({{"id", "r2"}, {"type", "timeout"}, {"restarted", true}});
  CHECK(timeout.finished());
  CHECK(timeout.timedOut() == true);
  CHECK(ctl::timeoutMessage(true).find("restarted") != std::string::npos);

  ctl::ExecutionBuilder died("r3");
  CHECK(died.apply({{"id", "r3"}, {"type", "died"}, {"message", "killed"}}).err ==
        "KernelDied: killed\n");
  CHECK(died.finished());
  CHECK(died.hasError());
}

TEST_CASE("a result without text says which formats it has") {
  CHECK(ctl::resultText({{"image/png", "iVBOR"}}) ==
        "<a result without text: image/png; see --json>\n");
  CHECK(ctl::resultText({{"text/plain", "<Figure>"}, {"image/png", "x"}}) == "<Figure>\n");
}
