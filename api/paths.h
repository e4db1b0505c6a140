// Request targets and sandbox paths: splitting "/v1/x?y=z", percent-decoding, query parameters,
// list filters, and the lexical normalisation of paths inside a sandbox.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/services.h"

namespace declaw::api {

// PATH_MAX counts the terminating NUL, so a path holds at most kPathMax - 1 bytes.
inline constexpr size_t kPathMax = 4096;
// Where "~" and relative paths point (docs/api.md, "Files").
inline constexpr std::string_view kHomeDir = "/home/user";

// "%41" -> "A"; with plus_is_space (query strings, as HTML forms and Python's urlencode write
// them) "+" -> " ". A "%" not followed by two hex digits: nullopt.
std::optional<std::string> percentDecode(std::string_view text, bool plus_is_space);

// The decoded query parameters of a target, in order. Throws ApiError(400) on a bad escape.
class Query {
 public:
  Query() = default;
  static Query parse(std::string_view query_string);

  // The one value of a parameter, or nullopt when absent. Given twice: ApiError(400).
  std::optional<std::string> single(std::string_view name) const;
  // A true/false parameter ("true" | "1" | "false" | "0"), or nullopt when absent. Anything
  // else: ApiError(400).
  std::optional<bool> flag(std::string_view name) const;
  // Every value of a repeatable parameter.
  std::vector<std::string> all(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// "/v1/sandboxes/x?state=running#f" -> segments {"v1", "sandboxes", "x"} (each percent-decoded)
// and the query. A trailing "/" is ignored; an empty inner segment ("a//b") is kept, so it
// matches no route. Throws ApiError(400) on a bad escape.
struct Target {
  std::vector<std::string> segments;
  Query query;
};
Target parseTarget(std::string_view target);

// "sbx-" + 12 of [0-9a-z].
bool isValidSandboxId(std::string_view id);

// The absolute, lexically normalised form of a path inside the sandbox: "~" and relative paths
// are resolved against kHomeDir, "." and ".." collapse without going above "/", repeated "/"
// fold. Empty, NUL bytes or kPathMax or longer: ApiError(400) naming `field`.
// Only hygiene: the real protection is that file operations run inside the sandbox, where
// ".." and symlinks cannot leave its root.
std::string normaliseSandboxPath(std::string_view raw, std::string_view field = "path");

// "user" or "root"; anything else is ApiError(400) naming `field`.
std::string validateUser(std::string_view user, std::string_view field = "user");

// The `metadata` list filter: "k1=v1&k2=v2" with percent-encoded keys and values (the hosted
// API's format, already decoded once as a query parameter). Empty: no pairs. A pair without
// "=" or with an empty key: ApiError(400).
StringMap parseMetadataFilter(std::string_view text);

// The `state` list filter: repeatable and comma-separated ("running,killed"). Unknown state:
// ApiError(400). Empty result: no filter.
std::vector<std::string> parseStateFilter(const std::vector<std::string>& values);

}  // namespace declaw::api
