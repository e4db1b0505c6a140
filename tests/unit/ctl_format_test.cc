// declawctl's pure helpers: quoting, K=V flags, URL encoding, base64, tables, request bodies and
// command results.
#include <catch2/catch.hpp>

#include "clients/ctl/api_client.h"
#include "clients/ctl/format.h"
#include "clients/ctl/requests.h"

using nlohmann::json;
namespace ctl = declaw::ctl;

TEST_CASE("parseKeyValue splits at the first '=' and needs a key") {
  auto kv = ctl::parseKeyValue("A=b=c");
  REQUIRE(kv.ok());
  CHECK(kv->first == "A");
  CHECK(kv->second == "b=c");
  auto empty_value = ctl::parseKeyValue("A=");
  REQUIRE(empty_value.ok());
  CHECK(empty_value->second.empty());
  CHECK_FALSE(ctl::parseKeyValue("A").ok());
  CHECK_FALSE(ctl::parseKeyValue("=v").ok());
  CHECK(ctl::parseKeyValue("nokey").error().message == "expected KEY=VALUE, got 'nokey'");
}

TEST_CASE("parseKeyValues lets a later key override an earlier one") {
  auto kvs = ctl::parseKeyValues({"A=1", "B=2", "A=3"});
  REQUIRE(kvs.ok());
  CHECK(*kvs == std::map<std::string, std::string>{{"A", "3"}, {"B", "2"}});
  CHECK_FALSE(ctl::parseKeyValues({"A=1", "bad"}).ok());
}

TEST_CASE("percentEncode escapes all but unreserved characters and, in queries, '/'") {
  CHECK(ctl::percentEncode("/home/user/a b.txt") == "/home/user/a%20b.txt");
  CHECK(ctl::percentEncode("a&b=c?d#e%f+g") == "a%26b%3Dc%3Fd%23e%25f%2Bg");
  CHECK(ctl::percentEncode("-._~") == "-._~");
  CHECK(ctl::percentEncode("\xc3\xa9") == "%C3%A9");
  CHECK(ctl::percentEncode("a/b", /*keep_slash=*/false) == "a%2Fb");
}

TEST_CASE("metadataQuery encodes each pair, then the whole filter once more") {
  CHECK(ctl::metadataQuery({{"app", "web"}}) == "app%3Dweb");
  // "owner=a b&c" -> inner "owner=a%20b%26c" -> outer-encoded.
  CHECK(ctl::metadataQuery({{"app", "web"}, {"owner", "a b&c"}}) ==
        "app%3Dweb%26owner%3Da%2520b%2526c");
}

TEST_CASE("base64Decode reproduces the exact bytes, padded or not") {
  CHECK(*ctl::base64Decode("") == "");
  CHECK(*ctl::base64Decode("aGk=") == "hi");
  CHECK(*ctl::base64Decode("aGk") == "hi");
  CHECK(*ctl::base64Decode("AP/+") == std::string("\x00\xff\xfe", 3));
  CHECK(*ctl::base64Decode("YWJj") == "abc");
  CHECK_FALSE(ctl::base64Decode("a").ok());
  CHECK_FALSE(ctl::base64Decode("a$==").ok());
  CHECK_FALSE(ctl::base64Decode("aG k").ok());
}

TEST_CASE("isValidUtf8 accepts UTF-8 and rejects overlongs, surrogates and stray bytes") {
  CHECK(ctl::isValidUtf8(""));
  CHECK(ctl::isValidUtf8("plain ascii"));
  CHECK(ctl::isValidUtf8("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(ctl::isValidUtf8("\xff"));
  CHECK_FALSE(ctl::isValidUtf8("\xc3"));              // truncated
  CHECK_FALSE(ctl::isValidUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(ctl::isValidUtf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(ctl::isValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST_CASE("parseCopyEndpoint tells ID:/path from local paths") {
  auto remote = ctl::parseCopyEndpoint("sbx-1a2b:/home/user/a.txt");
  CHECK(remote.sandbox_id == "sbx-1a2b");
  CHECK(remote.path == "/home/user/a.txt");
  CHECK(ctl::parseCopyEndpoint("sbx-1:rel/x").path == "rel/x");
  CHECK_FALSE(ctl::parseCopyEndpoint("-").sandbox_id.has_value());
  CHECK_FALSE(ctl::parseCopyEndpoint("./a:b").sandbox_id.has_value());
  CHECK_FALSE(ctl::parseCopyEndpoint("/tmp/x:y").sandbox_id.has_value());
  CHECK_FALSE(ctl::parseCopyEndpoint(":x").sandbox_id.has_value());
  CHECK(ctl::parseCopyEndpoint("sbx-1:").path.empty());
}

TEST_CASE("baseName is the last path component") {
  CHECK(ctl::baseName("/home/user/a.txt") == "a.txt");
  CHECK(ctl::baseName("dir/sub/") == "sub");
  CHECK(ctl::baseName("a") == "a");
  CHECK(ctl::baseName("/") == "");
}

TEST_CASE("formatTable aligns columns two spaces apart without trailing spaces") {
  std::string table = ctl::formatTable({"ID", "STATE", "META"},
                                       {{"sbx-1", "running", ""}, {"sbx-22222", "killed", "a=b"}});
  CHECK(table ==
        "ID         STATE    META\n"
        "sbx-1      running\n"
        "sbx-22222  killed   a=b\n");
}

TEST_CASE("the ls table shows id, template, state, times and metadata") {
  json sandboxes = json::parse(R"([{"sandbox_id": "sbx-1", "template_id": "base",
      "state": "running", "metadata": {"b": "2", "a": "1"}, "started_at": "2026-11-27T02:41:01Z",
      "end_at": "2026-11-27T02:46:01Z"}, {"sandbox_id": "sbx-2", "state": "killed"}])");
  CHECK(ctl::formatSandboxTable(sandboxes) ==
        "ID     TEMPLATE  STATE    STARTED               ENDS                  METADATA\n"
        "sbx-1  base      running  2026-11-27T02:41:01Z  2026-11-27T02:46:01Z  a=1,b=2\n"
        "sbx-2  -         killed   -                     -\n");
  CHECK(ctl::formatSandboxTable(json::array()) == "ID  TEMPLATE  STATE  STARTED  ENDS  METADATA\n");
}

TEST_CASE("the info view lists the fields of a SandboxInfo") {
  json info = json::parse(R"({"sandbox_id": "sbx-1", "template_id": "base", "state": "running",
      "metadata": {}, "envs": {"K": "V"}, "allow_internet_access": false,
      "started_at": "s", "end_at": "e", "owner_uid": 1000})");
  std::string text = ctl::formatSandboxInfo(info);
  CHECK(text.find("sandbox_id:             sbx-1\n") == 0);
  CHECK(text.find("owner_uid:              1000\n") != std::string::npos);
  CHECK(text.find("allow_internet_access:  false\n") != std::string::npos);
  CHECK(text.find("metadata:\n") != std::string::npos);
  CHECK(text.find("envs:                   K=V\n") != std::string::npos);
}

TEST_CASE("an API error prints as '<message> (<code>)'") {
  auto e = ctl::apiError(404, "Not Found",
                         R"({"error": {"code": "not_found", "message": "sandbox sbx-1 not found",
                             "sandbox_id": "sbx-1"}})");
  CHECK(e.message == "sandbox sbx-1 not found (not_found)");
  CHECK(e.code == 0);
}

TEST_CASE("an answer that is not an API error still says what happened") {
  CHECK(ctl::apiError(502, "Bad Gateway", "upstream down\nmore").message ==
        "unexpected answer from declawd: HTTP 502 Bad Gateway: upstream down");
  CHECK(ctl::apiError(500, "", "").message == "unexpected answer from declawd: HTTP 500");
  CHECK(ctl::apiError(409, "Conflict", R"({"error": {"code": "conflict"}})").message ==
        "HTTP 409 Conflict (conflict)");
  CHECK(ctl::apiError(400, "Bad Request", R"({"error": {"code": 7, "message": "m"}})").message ==
        "m");
}

TEST_CASE("serializeJson refuses strings that are not UTF-8") {
  CHECK(*ctl::serializeJson(json{{"a", "b"}}) == R"({"a":"b"})");
  CHECK_FALSE(ctl::serializeJson(json{{"a", "\xff"}}).ok());
}

TEST_CASE("a create request carries only the flags that were given") {
  CHECK(*ctl::buildCreateRequest({}) == json::object());
  ctl::SandboxSpec spec;
  spec.template_id = "python";
  spec.timeout_s = 120;
  spec.envs = {"A=1"};
  spec.metadata = {"app=web"};
  spec.internet = false;
  CHECK(*ctl::buildCreateRequest(spec) == json::parse(R"({"template": "python", "timeout": 120,
      "envs": {"A": "1"}, "metadata": {"app": "web"}, "allow_internet_access": false})"));
  spec.metadata = {"oops"};
  CHECK(ctl::buildCreateRequest(spec).error().message == "--meta: expected KEY=VALUE, got 'oops'");
}

TEST_CASE("a command request sends several words as an argv and always names its timeout") {
  ctl::ExecSpec spec;
  spec.argv = {"echo", "a b"};
  CHECK(*ctl::buildCommandRequest(spec, "") == json{{"argv", {"echo", "a b"}}, {"timeout", 60}});
  spec.user = "root";
  spec.cwd = "/tmp";
  spec.envs = {"X=1"};
  spec.timeout_s = 0;
  spec.send_stdin = true;
  CHECK(*ctl::buildCommandRequest(spec, "in") ==
        json::parse(R"({"argv": ["echo", "a b"], "timeout": 0, "user": "root", "cwd": "/tmp",
                        "envs": {"X": "1"}, "stdin": "in"})"));
  CHECK_FALSE(ctl::buildCommandRequest(spec, "\xff\xfe").ok());
  spec.send_stdin = false;
  spec.argv = {"echo hi | wc -c; exit 3"};  // one argument: a shell command line, as ssh has it
  CHECK(*ctl::buildCommandRequest(spec, "") == json{{"cmd", "echo hi | wc -c; exit 3"},
                                                    {"timeout", 0},
                                                    {"user", "root"},
                                                    {"cwd", "/tmp"},
                                                    {"envs", {{"X", "1"}}}});
  spec.argv.clear();
  CHECK_FALSE(ctl::buildCommandRequest(spec, "").ok());
}

TEST_CASE("a command result prefers the base64 bytes over the replaced text") {
  auto outcome = ctl::decodeCommandResult(json::parse(R"({"exit_code": 3,
      "stdout": "\ufffd\u0000", "stdout_base64": "/wA=", "stderr": "e\n"})"));
  REQUIRE(outcome.ok());
  CHECK(outcome->stdout_bytes == std::string("\xff\x00", 2));
  CHECK(outcome->stderr_bytes == "e\n");
  CHECK(outcome->exit_code == 3);
  CHECK_FALSE(outcome->timed_out);
}

TEST_CASE("a timed-out command exits 124 and truncation is reported") {
  auto outcome = ctl::decodeCommandResult(json::parse(R"({"exit_code": 137, "signal": 9,
      "timed_out": true, "stdout": "partial", "stdout_truncated": true})"));
  REQUIRE(outcome.ok());
  CHECK(outcome->exit_code == ctl::kTimedOutExitCode);
  CHECK(outcome->stdout_truncated);
  CHECK_FALSE(outcome->stderr_truncated);
}

TEST_CASE("an exit code outside 0..255 does not wrap to success") {
  CHECK(ctl::decodeCommandResult(json{{"exit_code", 256}})->exit_code == 255);
  CHECK(ctl::decodeCommandResult(json{{"exit_code", -1}})->exit_code == 255);
  CHECK(ctl::decodeCommandResult(json{{"exit_code", 137}})->exit_code == 137);
}

TEST_CASE("a command result without an exit code or with bad base64 is an error") {
  CHECK_FALSE(ctl::decodeCommandResult(json{{"stdout", "x"}}).ok());
  CHECK_FALSE(ctl::decodeCommandResult(json{{"exit_code", 0}, {"stdout_base64", "!!"}}).ok());
  CHECK_FALSE(ctl::decodeCommandResult(json::array()).ok());
}
