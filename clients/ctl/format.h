// Pure text helpers for declawctl: shell quoting, K=V arguments, query encoding, base64, and the
// human-readable renderings of API objects. No I/O here, so all of it is unit-tested.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace declaw::ctl {

// Parses "K=V" (split at the first '='; V may be empty, K may not).
Result<std::pair<std::string, std::string>> parseKeyValue(std::string_view arg);

// Parses a list of K=V arguments into a map; a later key overrides an earlier one.
Result<std::map<std::string, std::string>> parseKeyValues(const std::vector<std::string>& args);

// Percent-encodes a URL component: everything except RFC 3986 unreserved characters and, when
// keep_slash (for query values, where it is legal and keeps paths readable), '/'.
std::string percentEncode(std::string_view value, bool keep_slash = true);

// The `metadata=` filter of GET /v1/sandboxes: the pairs as "k1=v1&k2=v2" with each key and value
// percent-encoded, then the whole string percent-encoded again as one query value.
std::string metadataQuery(const std::map<std::string, std::string>& pairs);

// Standard base64 (RFC 4648, '+' '/'), padding optional; whitespace or other bytes are errors.
Result<std::string> base64Decode(std::string_view text);

// Standard base64 with padding.
std::string base64Encode(std::string_view bytes);

// True when the bytes are well-formed UTF-8 (what a JSON string may carry).
bool isValidUtf8(std::string_view bytes);

// A remote or local side of `cp`: "ID:/path" is remote, anything else (including "-") is local.
// A spec is remote when it has a ':' and the part before the first ':' is non-empty and has no
// '/' (so "./a:b" and "/x:y" stay local), as scp and docker cp decide.
struct CopyEndpoint {
  std::optional<std::string> sandbox_id;  // set for the remote side
  std::string path;
};
CopyEndpoint parseCopyEndpoint(std::string_view spec);

// The last path component ("a/b/" -> "b"); empty for "/" or "".
std::string baseName(std::string_view path);

// Renders rows as left-aligned columns separated by two spaces, with the header first. Trailing
// spaces are trimmed. Every row must have as many cells as the header.
std::string formatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "k=v,k2=v2" from a JSON object of strings (sorted by key, as nlohmann keeps objects); "" for
// null or empty. Non-string values are rendered as JSON.
std::string formatPairs(const nlohmann::json& object);

// The `ls` table for a JSON array of SandboxInfo.
std::string formatSandboxTable(const nlohmann::json& sandboxes);

// "field: value" lines with the values aligned one column past the longest field name; trailing
// spaces trimmed.
std::string formatFields(const std::vector<std::pair<std::string, std::string>>& lines);

// The `info` view: one "field: value" line per SandboxInfo field, aligned; the limits and the
// lifecycle as resourceInfoLines() renders them, the network as networkInfoLines() does.
std::string formatSandboxInfo(const nlohmann::json& info);

// The STATE column of `ps` for a ProcessInfo: "running", "exited(N)", "killed(SIG)" (a signal
// name, or its number), "timed-out", or "unknown" when it ended without an exit code.
std::string processState(const nlohmann::json& process);

// The `ps` table for a JSON array of ProcessInfo: PID USER STATE PTY STARTED CMD. Control
// characters in a command are shown escaped, so a table row is one terminal line.
std::string formatProcessTable(const nlohmann::json& processes);

// Text for one terminal line: control characters (newlines, escapes) as \n, \t, \xNN.
std::string escapeControl(std::string_view text);

// A field of a JSON object as a string for display: strings as they are, null/missing as "-",
// anything else as JSON.
std::string displayField(const nlohmann::json& object, std::string_view key);

}  // namespace declaw::ctl
