// JSON and Server-Sent Events for processes (docs/api.md, "Commands").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/services.h"

namespace declaw::api {

enum class ProcessKind { kBackground, kStream, kPty };

// The body of POST .../commands (background), .../commands/stream or .../pty.
ProcessSpec parseProcessSpec(const nlohmann::json& body, const Limits& limits, ProcessKind kind);
// A pid path segment: decimal, > 0. Anything else is no process of ours: 404.
int parsePid(const std::string& segment);
// {"signal": "TERM" | "SIGTERM" | 15}
int parseSignal(const nlohmann::json& body);
// {"data": "text"} or {"data_base64": "..."}
std::string parseStdinData(const nlohmann::json& body);
// {"rows": R, "cols": C}, each 1..kMaxTerminalSide.
void parseTerminalSize(const nlohmann::json& object, const std::string& what, uint16_t& rows,
                       uint16_t& cols);

nlohmann::json toJson(const ProcessInfo& info);

// One SSE event: "event: NAME\ndata: JSON\n\n".
std::string sseEvent(std::string_view name, const nlohmann::json& data);
std::string sseStart(int pid);
std::string sseEvent(int pid, const OutputEvent& event);
// A comment line: keeps the connection busy through silence (and finds dead readers).
inline constexpr std::string_view kSseKeepAlive = ": keep-alive\n\n";

}  // namespace declaw::api
