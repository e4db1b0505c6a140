// Pure pieces of api/: the errno table, error bodies, JSON output, UTF-8 and base64.
#include <catch2/catch.hpp>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/text.h"
#include "api/wire.h"

namespace declaw::api {
namespace {

using nlohmann::json;

TEST_CASE("every errno of the services.h table maps to its status", "[api][errors]") {
  const std::vector<std::pair<int, int>> table = {
      {ENOENT, 404}, {EPERM, 403},        {EACCES, 403}, {EINVAL, 400},    {ENOTDIR, 400},
      {EISDIR, 400}, {ENAMETOOLONG, 400}, {ELOOP, 400},  {ENOTEMPTY, 400}, {EXDEV, 400},
      {EBADF, 400},  {EEXIST, 409},       {ESRCH, 409},  {ETIMEDOUT, 408}, {E2BIG, 413},
      {EFBIG, 413},  {EDQUOT, 429},       {ENOSPC, 507}, {ENOSYS, 501},    {EIO, 500},
      {0, 500},      {ENOMEM, 429},       {EAGAIN, 429},
  };
  for (const auto& [err, status] : table) {
    INFO(err);
    CHECK(statusForErrno(err) == status);
  }
}

TEST_CASE("every status has the code of docs/api.md", "[api][errors]") {
  CHECK(codeForStatus(400) == "invalid_argument");
  CHECK(codeForStatus(403) == "forbidden");
  CHECK(codeForStatus(404) == "not_found");
  CHECK(codeForStatus(405) == "method_not_allowed");
  CHECK(codeForStatus(408) == "timeout");
  CHECK(codeForStatus(409) == "conflict");
  CHECK(codeForStatus(413) == "too_large");
  CHECK(codeForStatus(429) == "rate_limited");
  CHECK(codeForStatus(500) == "internal");
  CHECK(codeForStatus(501) == "not_implemented");
  CHECK(codeForStatus(507) == "not_enough_space");
}

TEST_CASE("an error response is JSON with code, message and the optional sandbox id",
          "[api][errors]") {
  const Response with_id = errorResponse(404, "not_found", "gone", "sbx-0123456789ab");
  CHECK(with_id.status == 404);
  CHECK(with_id.content_type == "application/json");
  CHECK(json::parse(with_id.body) ==
        json{{"error",
              {{"code", "not_found"}, {"message", "gone"}, {"sandbox_id", "sbx-0123456789ab"}}}});
  CHECK(json::parse(errorForStatus(413, "big").body) ==
        json{{"error", {{"code", "too_large"}, {"message", "big"}}}});
}

TEST_CASE("a Services error describes itself with its errno", "[api][errors]") {
  const Response response = errorResponse(Error{ENOENT, "open /x"});
  CHECK(response.status == 404);
  CHECK(json::parse(response.body)["error"]["message"] == "open /x: No such file or directory");
}

TEST_CASE("an error message quoting bytes that are not UTF-8 is still valid JSON",
          "[api][errors]") {
  const Response response = errorForStatus(400, "bad path '\xff'");
  CHECK(json::parse(response.body)["error"]["message"] == "bad path '\xEF\xBF\xBD'");
}

TEST_CASE("times are RFC 3339 UTC with whole seconds", "[api][wire]") {
  CHECK(formatTime(Clock::time_point()) == "1970-01-01T00:00:00Z");
  CHECK(formatTime(Clock::time_point(std::chrono::milliseconds(1795000000999))) ==
        "2026-11-18T11:06:40Z");
}

// Found by UBSan: a sandbox may set any file time (tmpfs keeps `touch -d @99999999999999`), and
// converting those seconds to the clock's nanoseconds overflowed int64.
TEST_CASE("file times beyond the clock's range are clamped, not overflowed", "[api][wire]") {
  CHECK(formatTime(timeFromUnixSeconds(1795000000)) == "2026-11-18T11:06:40Z");
  CHECK(formatTime(timeFromUnixSeconds(-1)) == "1969-12-31T23:59:59Z");
  CHECK(formatTime(timeFromUnixSeconds(99999999999999)) == "2262-04-11T23:47:16Z");
  CHECK(formatTime(timeFromUnixSeconds(INT64_MAX)) == "2262-04-11T23:47:16Z");
  CHECK(formatTime(timeFromUnixSeconds(-99999999999999)) == "1677-09-21T00:12:44Z");
  CHECK(formatTime(timeFromUnixSeconds(INT64_MIN)) == "1677-09-21T00:12:44Z");
}

TEST_CASE("permissions read as ls prints them", "[api][wire]") {
  CHECK(permissionsString(0644) == "rw-r--r--");
  CHECK(permissionsString(0755) == "rwxr-xr-x");
  CHECK(permissionsString(0) == "---------");
  CHECK(permissionsString(04755) == "rwsr-xr-x");
  CHECK(permissionsString(02644) == "rw-r-Sr--");
  CHECK(permissionsString(01777) == "rwxrwxrwt");
}

TEST_CASE("SandboxInfo serialises every field of docs/api.md", "[api][wire]") {
  SandboxInfo info;
  info.sandbox_id = "sbx-0123456789ab";
  info.template_id = "python";
  info.state = "killed";
  info.metadata = {{"k", "v"}};
  info.envs = {{"K", "V"}};
  info.owner_uid = 1000;
  info.end_at = Clock::time_point(std::chrono::seconds(60));
  CHECK(toJson(info) ==
        json{{"sandbox_id", "sbx-0123456789ab"},
             {"template_id", "python"},
             {"state", "killed"},
             {"metadata", {{"k", "v"}}},
             {"envs", {{"K", "V"}}},
             {"allow_internet_access", false},
             {"network",
              {{"allow_out", json::array()},
               {"deny_out", json::array()},
               {"address", nullptr},
               {"gateway", nullptr},
               {"address6", nullptr},
               {"interface", nullptr},
               {"loopback_inet", false},
               {"refused", {{"dns", 0}, {"proxy", 0}, {"firewall_packets", 0}}}}},
             {"started_at", "1970-01-01T00:00:00Z"},
             {"end_at", "1970-01-01T00:01:00Z"},
             {"owner_uid", 1000},
             {"resources", {{"cpu", 0.0}, {"memory_mb", 0}, {"pids", 0}, {"disk_mb", 0}}},
             {"lifecycle", {{"on_timeout", "kill"}}}});
}

TEST_CASE("a FileEntry has a null symlink_target unless it is a symlink", "[api][wire]") {
  FileEntry entry{.name = "a",
                  .path = "/a",
                  .type = "file",
                  .size = 12,
                  .mode = 0600,
                  .owner = "user",
                  .group = "user",
                  .modified_time = {},
                  .symlink_target = "ignored"};
  json out = toJson(entry);
  CHECK(out.at("symlink_target").is_null());
  CHECK(out.at("permissions") == "rw-------");
  CHECK(out.at("mode") == 0600);
  CHECK(out.at("size") == 12);
  entry.type = "symlink";
  CHECK(toJson(entry).at("symlink_target") == "ignored");
}

TEST_CASE("a RunResult names signal only when there was one", "[api][wire]") {
  RunResult result;
  result.exit_code = 124;
  result.timed_out = true;
  json out = toJson(result);
  CHECK(out.at("timed_out") == true);
  CHECK_FALSE(out.contains("signal"));
  result.signal = 9;
  CHECK(toJson(result).at("signal") == 9);
}

TEST_CASE("valid UTF-8 is recognised, and every malformed form is not", "[api][text]") {
  CHECK(isValidUtf8(""));
  CHECK(isValidUtf8("plain ascii"));
  CHECK(isValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK(isValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  CHECK(isValidUtf8(std::string("\0", 1)));
  CHECK_FALSE(isValidUtf8("\x80"));              // lone continuation
  CHECK_FALSE(isValidUtf8("\xC0\x80"));          // overlong NUL
  CHECK_FALSE(isValidUtf8("\xE0\x80\xAF"));      // overlong '/'
  CHECK_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(isValidUtf8("\xE2\x82"));          // truncated
  CHECK_FALSE(isValidUtf8("\xFF"));
}

TEST_CASE("invalid UTF-8 gets one U+FFFD per maximal invalid subpart, as Python does",
          "[api][text]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(replaceInvalidUtf8("ok") == "ok");
  CHECK(replaceInvalidUtf8("a\xFF"
                           "b") == "a" + fffd + "b");
  // b'\xe2\x82A'.decode('utf-8', 'replace') == '\ufffdA'
  CHECK(replaceInvalidUtf8("\xE2\x82"
                           "A") == fffd + "A");
  // b'\xc0\x80'.decode(..., 'replace') == '\ufffd\ufffd'
  CHECK(replaceInvalidUtf8("\xC0\x80") == fffd + fffd);
  // b'\xed\xa0\x80' -> three replacements
  CHECK(replaceInvalidUtf8("\xED\xA0\x80") == fffd + fffd + fffd);
  CHECK(replaceInvalidUtf8("\xF0\x9F\x98") == fffd);
  CHECK(replaceInvalidUtf8("\xF0\x9F\x98\x80\xF0") == "\xF0\x9F\x98\x80" + fffd);
}

TEST_CASE("putBytes adds a base64 field only for bytes that are not UTF-8", "[api][text]") {
  json out = json::object();
  putBytes(out, "stdout", "fine");
  CHECK(out == json{{"stdout", "fine"}});
  putBytes(out, "stderr", "\xFF");
  CHECK(out.at("stderr") == "\xEF\xBF\xBD");
  CHECK(out.at("stderr_base64") == "/w==");
}

TEST_CASE("base64 matches the RFC 4648 test vectors both ways", "[api][text]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64Encode(plain) == encoded);
    CHECK(base64Decode(encoded) == plain);
  }
  CHECK(base64Encode(std::string("\0\xff\xfe", 3)) == "AP/+");
}

TEST_CASE("base64 decoding accepts missing padding and refuses anything else odd", "[api][text]") {
  CHECK(base64Decode("Zg") == "f");
  CHECK(base64Decode("Zm8") == "fo");
  CHECK_FALSE(base64Decode("Z"));
  CHECK_FALSE(base64Decode("Zm9v!"));
  CHECK_FALSE(base64Decode("Zm 9v"));
  CHECK_FALSE(base64Decode("Zm9v\n"));
  CHECK_FALSE(base64Decode("Z==="));
  CHECK_FALSE(base64Decode("Zg=a"));
}

}  // namespace
}  // namespace declaw::api
