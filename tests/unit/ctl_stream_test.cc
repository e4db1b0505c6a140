// declawctl's reading of live output: the SSE parser fed in arbitrary pieces, the process and
// directory-watch events decoded from it, and what declawctl makes of them (lines, notes, exit
// codes).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "clients/ctl/event_output.h"
#include "clients/ctl/process_events.h"
#include "clients/ctl/sse_parse.h"
#include "clients/ctl/watch_events.h"

namespace ctl = declaw::ctl;

namespace {

// Feeds wire in pieces of `step` bytes and returns every event.
std::vector<ctl::SseEvent> parseInSteps(std::string_view wire, size_t step) {
  ctl::SseParser parser;
  std::vector<ctl::SseEvent> events;
  for (size_t i = 0; i < wire.size(); i += step) {
    REQUIRE(parser.feed(wire.substr(i, step), events).ok());
  }
  return events;
}

std::vector<ctl::SseEvent> parseWhole(std::string_view wire) { return parseInSteps(wire, 1 << 20); }

ctl::SseEvent sse(std::string type, std::string data) {
  ctl::SseEvent event;
  event.type = std::move(type);
  event.data = std::move(data);
  return event;
}

}  // namespace

TEST_CASE("an event stream parses the same however the bytes are split") {
  const std::string wire =
      "event: start\r\ndata: {\"pid\": 12}\r\n\r\n"
      ": keep-alive\r\n\r\n"
      "event: stdout\ndata: {\"data\": \"line 1\\n\"}\n\n"
      "event: exit\rdata: {\"pid\": 12, \"exit_code\": 0}\r\r";
  for (size_t step = 1; step <= wire.size(); ++step) {
    INFO("pieces of " << step << " bytes");
    auto events = parseInSteps(wire, step);
    REQUIRE(events.size() == 3);
    CHECK(events[0].type == "start");
    CHECK(events[0].data == "{\"pid\": 12}");
    CHECK(events[1].type == "stdout");
    CHECK(events[1].data == "{\"data\": \"line 1\\n\"}");
    CHECK(events[2].type == "exit");
    CHECK(events[2].data == "{\"pid\": 12, \"exit_code\": 0}");
  }
}

TEST_CASE("a CRLF split between two pieces ends one line, not two") {
  ctl::SseParser parser;
  std::vector<ctl::SseEvent> events;
  REQUIRE(parser.feed("data: a\r", events).ok());
  REQUIRE(parser.feed("\ndata: b\r", events).ok());
  CHECK(events.empty());
  REQUIRE(parser.feed("\n\r\n", events).ok());
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "a\nb");
}

TEST_CASE("several data lines of one event are joined with newlines") {
  auto events = parseWhole("data: first\ndata:second\ndata:  third\ndata\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "message");  // no `event:` field
  CHECK(events[0].data == "first\nsecond\n third\n");
}

TEST_CASE("comments and unknown fields are skipped, keep-alives produce no event") {
  auto events = parseWhole(
      ": keep-alive\n\n:another\nretry: 1000\nfoo: bar\nevent: stdout\n: inside\ndata: x\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "stdout");
  CHECK(events[0].data == "x");
}

TEST_CASE("an event without data lines is not dispatched, and its type does not leak") {
  auto events = parseWhole("event: lonely\n\ndata: next\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == "message");
  CHECK(events[0].data == "next");
}

TEST_CASE("an empty data line is an event with empty data") {
  auto events = parseWhole("event: stdout\ndata:\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data.empty());
}

TEST_CASE("an event cut off by the end of the stream is not delivered") {
  auto events = parseWhole("data: complete\n\ndata: partial\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "complete");
}

TEST_CASE("the last event id is kept across events and a BOM opens the stream harmlessly") {
  auto events = parseWhole("\xEF\xBB\xBFid: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");
  REQUIRE(events.size() == 3);
  CHECK(events[0].id == "7");
  CHECK(events[1].id == "7");
  CHECK(events[2].id.empty());
}

TEST_CASE("an event larger than the limit is an error, not unbounded memory") {
  ctl::SseParser parser;
  std::vector<ctl::SseEvent> events;
  const std::string line = "data: " + std::string(1024 * 1024, 'x') + "\n";
  declaw::Result<void> r = declaw::Ok{};
  for (size_t i = 0; r.ok() && i <= ctl::kMaxSseEventBytes / (1024 * 1024); ++i) {
    r = parser.feed(line, events);
  }
  CHECK_FALSE(r.ok());
  CHECK(events.empty());
}

TEST_CASE("start, output, lost and exit events decode to plain values") {
  auto start = ctl::decodeProcessEvent(sse("start", R"({"pid": 12})"));
  REQUIRE(start.ok());
  CHECK(std::get<ctl::StartEvent>(*start).pid == 12);

  auto out = ctl::decodeProcessEvent(sse("stdout", R"({"data": "hi\n"})"));
  REQUIRE(out.ok());
  CHECK(std::get<ctl::OutputEvent>(*out).stream == ctl::OutputStream::kStdout);
  CHECK(std::get<ctl::OutputEvent>(*out).bytes == "hi\n");

  auto err = ctl::decodeProcessEvent(sse("stderr", R"({"data": "oops"})"));
  CHECK(std::get<ctl::OutputEvent>(*err).stream == ctl::OutputStream::kStderr);
  auto pty = ctl::decodeProcessEvent(sse("pty", R"({"data": "\u001b[1m$ "})"));
  CHECK(std::get<ctl::OutputEvent>(*pty).stream == ctl::OutputStream::kPty);
  CHECK(std::get<ctl::OutputEvent>(*pty).bytes == "\x1b[1m$ ");

  auto lost = ctl::decodeProcessEvent(sse("lost", R"({"stream": "stdout", "bytes": 1048576})"));
  REQUIRE(lost.ok());
  CHECK(std::get<ctl::LostEvent>(*lost).stream == ctl::OutputStream::kStdout);
  CHECK(std::get<ctl::LostEvent>(*lost).bytes == 1048576);

  auto exit = ctl::decodeProcessEvent(
      sse("exit", R"({"pid": 12, "exit_code": 143, "signal": 15, "timed_out": false})"));
  REQUIRE(exit.ok());
  const auto& e = std::get<ctl::ExitEvent>(*exit);
  CHECK(e.exit_code == 143);
  CHECK(e.signal == 15);
  CHECK_FALSE(e.timed_out);
}

TEST_CASE("output that is not UTF-8 is taken from data_base64, byte for byte") {
  auto out =
      ctl::decodeProcessEvent(sse("stdout", R"({"data": "\ufffd\u0000", "data_base64": "/wA="})"));
  REQUIRE(out.ok());
  CHECK(std::get<ctl::OutputEvent>(*out).bytes == std::string("\xff\x00", 2));
}

TEST_CASE("an exit without an exit code carries the daemon's reason") {
  auto exit = ctl::decodeProcessEvent(
      sse("exit", R"({"pid": 3, "exit_code": null, "signal": null, "error": "sandbox ended"})"));
  REQUIRE(exit.ok());
  const auto& e = std::get<ctl::ExitEvent>(*exit);
  CHECK_FALSE(e.exit_code.has_value());
  CHECK_FALSE(e.signal.has_value());
  CHECK(e.error == "sandbox ended");
  CHECK_FALSE(ctl::exitStatus(e).has_value());
}

TEST_CASE("an unknown event is skipped; a known one with a bad body is an error") {
  auto unknown = ctl::decodeProcessEvent(sse("progress", "not even json"));
  REQUIRE(unknown.ok());
  CHECK(std::holds_alternative<std::monostate>(*unknown));
  CHECK_FALSE(ctl::decodeProcessEvent(sse("stdout", "{")).ok());
  CHECK_FALSE(ctl::decodeProcessEvent(sse("stdout", R"({"text": "x"})")).ok());
  CHECK_FALSE(ctl::decodeProcessEvent(sse("stdout", R"({"data_base64": "$$"})")).ok());
  CHECK_FALSE(ctl::decodeProcessEvent(sse("start", R"({})")).ok());
  CHECK_FALSE(ctl::decodeProcessEvent(sse("lost", R"({"stream": "stdin", "bytes": 1})")).ok());
  CHECK_FALSE(ctl::decodeProcessEvent(sse("lost", R"({"stream": "stdout", "bytes": -1})")).ok());
  CHECK(ctl::decodeProcessEvent(sse("start", "[1]")).error().message ==
        "bad response from declawd: `start` event is not a JSON object");
}

TEST_CASE("a gap in the output is a note naming the stream and the bytes") {
  CHECK(ctl::lostNote({ctl::OutputStream::kStdout, 1048576}) ==
        "1048576 bytes of stdout were dropped");
  CHECK(ctl::lostNote({ctl::OutputStream::kStderr, 1}) == "1 byte of stderr was dropped");
}

TEST_CASE("declawctl exits with the process's code, 124 after a timeout, 255 for odd codes") {
  ctl::ExitEvent exit;
  exit.exit_code = 3;
  CHECK(ctl::exitStatus(exit) == 3);
  exit.exit_code = 137;
  exit.signal = 9;
  CHECK(ctl::exitStatus(exit) == 137);
  exit.timed_out = true;
  CHECK(ctl::exitStatus(exit) == 124);
  exit.timed_out = false;
  exit.exit_code = 300;
  CHECK(ctl::exitStatus(exit) == 255);
  exit.exit_code = -1;
  CHECK(ctl::exitStatus(exit) == 255);
}

TEST_CASE("a watch stream decodes to its start, changes, gap and end") {
  auto events = parseWhole(
      "event: start\ndata: {\"path\": \"/home/user/w\"}\n\n"
      ": keep-alive\n\n"
      "event: fs\ndata: {\"type\": \"create\", \"name\": \"sub/a.txt\"}\n\n"
      "event: lost\ndata: {\"reason\": \"overflow\"}\n\n"
      "event: end\ndata: {\"reason\": \"removed\", \"message\": \"gone\"}\n\n");
  REQUIRE(events.size() == 4);
  std::vector<ctl::WatchEvent> decoded;
  for (const auto& event : events) {
    auto d = ctl::decodeWatchEvent(event);
    REQUIRE(d.ok());
    decoded.push_back(*d);
  }
  CHECK(std::get<ctl::WatchStart>(decoded[0]).path == "/home/user/w");
  CHECK(std::get<ctl::WatchChange>(decoded[1]).type == "create");
  CHECK(std::get<ctl::WatchChange>(decoded[1]).name == "sub/a.txt");
  CHECK(std::get<ctl::WatchLost>(decoded[2]).reason == "overflow");
  CHECK(std::get<ctl::WatchEnd>(decoded[3]).reason == "removed");
  CHECK(std::get<ctl::WatchEnd>(decoded[3]).message == "gone");
}

TEST_CASE("an unknown watch event is skipped; a known one with a bad body is an error") {
  auto unknown = ctl::decodeWatchEvent(sse("progress", "not json"));
  REQUIRE(unknown.ok());
  CHECK(std::holds_alternative<std::monostate>(*unknown));
  CHECK_FALSE(ctl::decodeWatchEvent(sse("fs", "{")).ok());
  CHECK_FALSE(ctl::decodeWatchEvent(sse("fs", R"({"name": "a"})")).ok());
  CHECK_FALSE(ctl::decodeWatchEvent(sse("fs", R"({"type": "create"})")).ok());
  CHECK_FALSE(ctl::decodeWatchEvent(sse("start", R"({"path": 1})")).ok());
  CHECK_FALSE(ctl::decodeWatchEvent(sse("end", R"({"message": "x"})")).ok());
  CHECK(ctl::decodeWatchEvent(sse("end", "[]")).error().message ==
        "bad response from declawd: `end` event is not a JSON object");
}

TEST_CASE("each change is one line with the names in one column, whatever the type") {
  CHECK(ctl::watchChangeLine({"create", "sub/a.txt"}) == "create  sub/a.txt\n");
  CHECK(ctl::watchChangeLine({"write", "sub/a.txt"}) == "write   sub/a.txt\n");
  CHECK(ctl::watchChangeLine({"chmod", "b"}) == "chmod   b\n");
  CHECK(ctl::watchChangeLine({"remove", "b"}) == "remove  b\n");
  CHECK(ctl::watchChangeLine({"rename", "b"}) == "rename  b\n");
  // A longer word from a newer daemon still leaves a gap before the name.
  CHECK(ctl::watchChangeLine({"truncated", "b"}) == "truncated  b\n");
}

TEST_CASE("a name with a newline or an escape is still one line") {
  CHECK(ctl::watchChangeLine({"create", "evil\ncreate  /etc/passwd"}) ==
        "create  evil\\ncreate  /etc/passwd\n");
  CHECK(ctl::watchChangeLine({"write", "\x1b[2Jx"}) == "write   \\x1b[2Jx\n");
}

TEST_CASE("a watch ends with 0 when its directory is removed and 1 otherwise, with the reason") {
  ctl::WatchEnd removed{"removed", "the watched directory was removed"};
  CHECK(ctl::watchExitCode(removed) == 0);
  CHECK(ctl::watchEndNote(removed) == "the watched directory was removed");
  ctl::WatchEnd ended{"sandbox_ended", "the sandbox ended"};
  CHECK(ctl::watchExitCode(ended) == 1);
  CHECK(ctl::watchEndNote(ended) == "the sandbox ended (sandbox_ended)");
  ctl::WatchEnd error{"error", ""};
  CHECK(ctl::watchExitCode(error) == 1);
  CHECK(ctl::watchEndNote(error) == "error");
  CHECK(ctl::watchLostNote() == "events were dropped (the watch fell behind)");
}

TEST_CASE("--json prints each event as one {event, data} line") {
  CHECK(ctl::eventJsonLine(sse("fs", R"({"type": "create", "name": "a"})")) ==
        R"({"data":{"name":"a","type":"create"},"event":"fs"})"
        "\n");
  CHECK(ctl::eventJsonLine(sse("end", "not json")) == R"({"data":null,"event":"end"})"
                                                      "\n");
}
