// The wire format of docs/api.md: request bodies -> the structs of services.h (with the
// validation each field needs) and the structs -> response JSON.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/http_types.h"
#include "api/services.h"

namespace declaw::api {

// Caps on request fields, beyond those in Limits.
inline constexpr size_t kMaxMapKeyBytes = 1024;    // metadata and env keys
inline constexpr size_t kMaxMapValueBytes = 4096;  // metadata and env values
inline constexpr size_t kMaxEnvEntries = 256;      // envs of a sandbox or a command
// One exec argument holds at most MAX_ARG_STRLEN (32 pages) bytes, NUL included; see execve(2).
inline constexpr size_t kMaxCommandBytes = 32 * 4096 - 1;
// An argv command: each argument as above; at most this many arguments and bytes in all (the
// kernel takes a quarter of the 8 MiB default stack for argv and envp together).
inline constexpr size_t kMaxArgvEntries = 4096;
inline constexpr size_t kMaxArgvBytes = 1024 * 1024;

// Request bodies. All throw ApiError naming the offending field.

// POST /v1/sandboxes. Defaults from limits; unknown template: 400; allow_internet_access true,
// or network/resources/lifecycle given: 501.
CreateSandboxSpec parseCreateSandboxSpec(const nlohmann::json& body, const Limits& limits);
// PATCH /v1/sandboxes/{id}/timeout: {"timeout": N}, N in 1 .. max_sandbox_timeout_s.
uint32_t parseTimeoutUpdate(const nlohmann::json& body, const Limits& limits);
// POST /v1/sandboxes/{id}/commands: exactly one of "cmd" (a shell command line) and "argv" (a
// program and its arguments); both or neither: 400 (neither is a PTY's login shell). cmd or an
// argument over kMaxCommandBytes, argv over kMaxArgvEntries/kMaxArgvBytes: 413.
// What a request may leave out: a PTY runs a login shell without a command, and background and
// PTY processes have no command timeout unless asked.
struct RunDefaults {
  bool cmd_optional = false;
  std::optional<uint32_t> timeout_s;  // unset: limits.default_command_timeout_s
};
RunSpec parseRunSpec(const nlohmann::json& body, const Limits& limits, RunDefaults defaults = {});
// POST /v1/sandboxes/{id}/files: the bytes of "content" or "content_base64" (exactly one).
std::string parseFileContent(const nlohmann::json& body);
// PATCH /v1/sandboxes/{id}/files: "new_path", normalised.
std::string parseNewPath(const nlohmann::json& body);

// Responses.

// RFC 3339 in UTC, whole seconds: "2026-11-27T02:41:01Z".
std::string formatTime(Clock::time_point time);
// A Unix time in seconds as a Clock time, clamped to what Clock holds (64-bit nanoseconds: the
// years 1677..2262). File times come from inside the sandbox, where `touch -d @1e14` works.
Clock::time_point timeFromUnixSeconds(int64_t seconds);
// "rwxr-xr-x" as ls(1) prints it, with s/S and t/T for setuid, setgid and sticky.
std::string permissionsString(uint32_t mode);

nlohmann::json toJson(const SandboxInfo& info);
nlohmann::json toJson(const RunResult& result);
nlohmann::json toJson(const FileEntry& entry);
nlohmann::json toJson(const Limits& limits);
// The limits the router enforces, overlaid with the ones the daemon reports.
nlohmann::json toJson(const HealthInfo& health, const Limits& limits);

// A JSON response. Strings that are not valid UTF-8 (file names) get U+FFFD, never an exception.
Response jsonResponse(int status, const nlohmann::json& body);

}  // namespace declaw::api
