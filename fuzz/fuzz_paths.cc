// Request targets, query strings and sandbox paths (api/paths.h), and the pid segment
// (api/process_wire.h).
//
// Input: any bytes, used as a target, a query string, a path, a filter and a segment.
//
// Invariants: percent-decoding inverts percent-encoding; a target rebuilt from its decoded
// segments and parameters parses to the same thing; a normalised path is absolute, has no ".",
// ".." or empty component, stays under kPathMax, and normalises to itself; failures are ApiError.
#include <string>
#include <string_view>
#include <vector>

#include "api/errors.h"
#include "api/paths.h"
#include "api/process_wire.h"
#include "fuzz/fuzz_check.h"

namespace {

namespace api = declaw::api;
using declaw::fuzz::show;

// Percent-encodes everything but unreserved characters (RFC 3986 section 2.3).
std::string percentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Runs f; ApiError is an answer, any other exception a bug. Returns whether f returned.
template <typename F>
bool answers(const char* what, F f) {
  try {
    f();
    return true;
  } catch (const api::ApiError& e) {
    FUZZ_CHECK(e.status() == 400 || e.status() == 404, what);
    return false;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string(what) + " threw " + e.what());
  }
  return false;
}

void checkPercent(std::string_view text) {
  for (bool plus_is_space : {false, true}) {
    auto decoded = api::percentDecode(text, plus_is_space);
    if (decoded) FUZZ_CHECK(decoded->size() <= text.size());
    const std::string encoded = percentEncode(text);
    auto round = api::percentDecode(encoded, plus_is_space);
    FUZZ_CHECK(round && *round == text, show(encoded));
  }
}

void checkTarget(std::string_view text) {
  api::Target target;
  if (!answers("parseTarget", [&] { target = api::parseTarget(text); })) return;
  // Rebuild it from the decoded parts: the same segments come back (empty inner ones included).
  std::string rebuilt;
  for (const std::string& segment : target.segments) rebuilt += "/" + percentEncode(segment);
  if (rebuilt.empty()) rebuilt = "/";
  api::Target again;
  FUZZ_CHECK(answers("parseTarget(rebuilt)", [&] { again = api::parseTarget(rebuilt); }), rebuilt);
  // A trailing empty segment is dropped like a trailing "/": that is the one allowed change.
  std::vector<std::string> expected = target.segments;
  if (!expected.empty() && expected.back().empty()) expected.pop_back();
  if (expected.size() == 1 && expected[0].empty()) expected.clear();
  FUZZ_CHECK(again.segments == expected, show(rebuilt));
  for (const char* name : {"path", "user", "depth", "state", "metadata", "follow", "timeout"}) {
    answers("Query::single", [&] { (void)target.query.single(name); });
    (void)target.query.all(name);
  }
}

void checkQuery(std::string_view text) {
  api::Query query;
  if (!answers("Query::parse", [&] { query = api::Query::parse(text); })) return;
  std::optional<std::string> path;
  if (!answers("single", [&] { path = query.single("path"); })) return;
  if (!path) return;
  // path=<encoded value> round-trips through a query string.
  const std::string rebuilt = "a=1&path=" + percentEncode(*path) + "&b";
  api::Query again = api::Query::parse(rebuilt);
  FUZZ_CHECK(again.single("path") == path, show(rebuilt));
}

void checkPath(std::string_view text) {
  std::string path;
  if (!answers("normaliseSandboxPath", [&] { path = api::normaliseSandboxPath(text); })) return;
  FUZZ_CHECK(path.starts_with('/'), show(path));
  FUZZ_CHECK(path.size() < api::kPathMax, std::to_string(path.size()));
  FUZZ_CHECK(path.find('\0') == std::string::npos);
  FUZZ_CHECK(path == "/" || !path.ends_with('/'), show(path));
  for (std::string_view bad : {"//", "/./", "/../"}) {
    FUZZ_CHECK(path.find(bad) == std::string::npos, show(path));
  }
  FUZZ_CHECK(!path.ends_with("/.") && !path.ends_with("/.."), show(path));
  std::string again;
  FUZZ_CHECK(
      answers("normaliseSandboxPath(normalised)", [&] { again = api::normaliseSandboxPath(path); }),
      show(path));
  FUZZ_CHECK(again == path, show(path) + " -> " + show(again));
  // Relative input lands under the home directory.
  if (!text.starts_with('/') && !text.starts_with('~') && text.find("..") == std::string::npos) {
    FUZZ_CHECK(path == api::kHomeDir || path.starts_with(std::string(api::kHomeDir) + "/"),
               show(path));
  }
}

void checkFilters(std::string_view text) {
  answers("parseMetadataFilter", [&] {
    for (const auto& [key, value] : api::parseMetadataFilter(text)) FUZZ_CHECK(!key.empty());
  });
  answers("parseStateFilter", [&] {
    for (const std::string& state : api::parseStateFilter({std::string(text)})) {
      FUZZ_CHECK(
          state == "creating" || state == "running" || state == "paused" || state == "killed",
          state);
    }
  });
  if (api::isValidSandboxId(text)) FUZZ_CHECK(text.size() == 16 && text.starts_with("sbx-"));
  answers("parsePid", [&] { FUZZ_CHECK(api::parsePid(std::string(text)) > 0); });
  answers("validateUser", [&] {
    const std::string user = api::validateUser(text);
    FUZZ_CHECK(user == "user" || user == "root");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = declaw::fuzz::asText(data, size);
  checkPercent(text);
  checkTarget(text);
  checkQuery(text);
  checkPath(text);
  checkFilters(text);
  return 0;
}
