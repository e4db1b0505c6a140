#include "api/paths.h"

#include <algorithm>
#include <array>

#include "api/errors.h"

namespace declaw::api {

namespace {

constexpr size_t kSandboxIdSuffixLength = 12;
constexpr std::string_view kSandboxIdPrefix = "sbx-";
constexpr std::array<std::string_view, 4> kFilterableStates = {"creating", "running", "paused",
                                                               "killed"};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

std::string decodeOrThrow(std::string_view text, bool plus_is_space, std::string_view what) {
  auto decoded = percentDecode(text, plus_is_space);
  if (!decoded) throw badRequest("bad percent-encoding in " + std::string(what));
  return std::move(*decoded);
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hexValue(text[i + 1]);
      const int lo = hexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Query Query::parse(std::string_view query_string) {
  Query query;
  if (query_string.empty()) return query;
  for (std::string_view part : split(query_string, '&')) {
    if (part.empty()) continue;  // "a=1&&b=2"
    const size_t eq = part.find('=');
    std::string name = decodeOrThrow(part.substr(0, eq), true, "the query string");
    std::string value = eq == std::string_view::npos
                            ? std::string()
                            : decodeOrThrow(part.substr(eq + 1), true, "the query string");
    query.params_.emplace_back(std::move(name), std::move(value));
  }
  return query;
}

std::optional<std::string> Query::single(std::string_view name) const {
  std::optional<std::string> found;
  for (const auto& [key, value] : params_) {
    if (key != name) continue;
    if (found) throw badRequest("query parameter '" + std::string(name) + "' is given twice");
    found = value;
  }
  return found;
}

std::optional<bool> Query::flag(std::string_view name) const {
  auto value = single(name);
  if (!value) return std::nullopt;
  if (*value == "true" || *value == "1") return true;
  if (*value == "false" || *value == "0") return false;
  throw badRequest("query parameter '" + std::string(name) + "' must be true or false, not " +
                   quoteInput(*value));
}

std::vector<std::string> Query::all(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : params_) {
    if (key == name) values.push_back(value);
  }
  return values;
}

Target parseTarget(std::string_view target) {
  target = target.substr(0, target.find('#'));
  const size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  Target parsed;
  if (question != std::string_view::npos) parsed.query = Query::parse(target.substr(question + 1));
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.ends_with('/')) path.remove_suffix(1);
  if (path.empty()) return parsed;
  for (std::string_view segment : split(path, '/')) {
    parsed.segments.push_back(decodeOrThrow(segment, false, "the request path"));
  }
  return parsed;
}

bool isValidSandboxId(std::string_view id) {
  if (id.size() != kSandboxIdPrefix.size() + kSandboxIdSuffixLength) return false;
  if (!id.starts_with(kSandboxIdPrefix)) return false;
  return std::all_of(id.begin() + kSandboxIdPrefix.size(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'); });
}

std::string normaliseSandboxPath(std::string_view raw, std::string_view field) {
  const std::string name(field);
  if (raw.empty()) throw badRequest("'" + name + "' must not be empty");
  if (raw.find('\0') != std::string_view::npos) {
    throw badRequest("'" + name + "' must not contain NUL bytes");
  }
  if (raw.size() >= kPathMax) {
    throw badRequest("'" + name + "' is longer than " + std::to_string(kPathMax - 1) + " bytes");
  }
  std::string absolute;
  if (raw == "~" || raw.starts_with("~/")) {
    absolute = std::string(kHomeDir) + std::string(raw.substr(1));
  } else if (!raw.starts_with('/')) {
    absolute = std::string(kHomeDir) + "/" + std::string(raw);
  } else {
    absolute = std::string(raw);
  }
  std::vector<std::string_view> kept;
  for (std::string_view segment : split(absolute, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();  // ".." at "/" stays at "/", as the kernel does
      continue;
    }
    kept.push_back(segment);
  }
  std::string normalised;
  for (std::string_view segment : kept) {
    normalised += '/';
    normalised += segment;
  }
  if (normalised.empty()) normalised = "/";
  if (normalised.size() >= kPathMax) {
    throw badRequest("'" + name + "' is longer than " + std::to_string(kPathMax - 1) + " bytes");
  }
  return normalised;
}

std::string validateUser(std::string_view user, std::string_view field) {
  if (user == "user" || user == "root") return std::string(user);
  throw badRequest("'" + std::string(field) + "' must be \"user\" or \"root\", not " +
                   quoteInput(user));
}

StringMap parseMetadataFilter(std::string_view text) {
  StringMap pairs;
  if (text.empty()) return pairs;
  for (std::string_view part : split(text, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      throw badRequest("'metadata' filter must be k1=v1&k2=v2, got " + quoteInput(part));
    }
    pairs[decodeOrThrow(part.substr(0, eq), true, "the metadata filter")] =
        decodeOrThrow(part.substr(eq + 1), true, "the metadata filter");
  }
  return pairs;
}

std::vector<std::string> parseStateFilter(const std::vector<std::string>& values) {
  std::vector<std::string> states;
  for (const std::string& value : values) {
    for (std::string_view state : split(value, ',')) {
      if (state.empty()) continue;
      if (std::find(kFilterableStates.begin(), kFilterableStates.end(), state) ==
          kFilterableStates.end()) {
        throw badRequest("'state' must be creating, running, paused or killed, not " +
                         quoteInput(state));
      }
      states.emplace_back(state);
    }
  }
  return states;
}

}  // namespace declaw::api
