#include "api/process_wire.h"

#include <signal.h>
#include <string.h>

#include <charconv>

#include "api/errors.h"
#include "api/json_fields.h"
#include "api/text.h"
#include "api/wire.h"

namespace declaw::api {

namespace {

constexpr uint64_t kMaxTerminalSide = 1000;
constexpr int kMaxSignal = 64;  // SIGRTMAX on Linux

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

ProcessSpec parseProcessSpec(const nlohmann::json& body, const Limits& limits, ProcessKind kind) {
  ProcessSpec spec;
  RunDefaults defaults;
  // A server or a terminal lives until it exits or is killed (the sandbox timeout still
  // applies); a streamed command is a foreground one with live output.
  if (kind != ProcessKind::kStream) defaults.timeout_s = 0;
  defaults.cmd_optional = kind == ProcessKind::kPty;
  spec.run = parseRunSpec(body, limits, defaults);
  spec.background = kind == ProcessKind::kBackground;
  spec.stdin_open = boolField(body, "stdin_open").value_or(kind == ProcessKind::kBackground);
  // A process that outlives its request holds its stdin in the daemon until it reads it.
  if (spec.run.stdin_data.size() > limits.max_stdin_buffer_bytes) {
    throw tooLarge("'stdin' is larger than max_stdin_buffer_bytes (" +
                   std::to_string(limits.max_stdin_buffer_bytes) + ")");
  }
  if (kind == ProcessKind::kPty) {
    spec.pty = true;
    const nlohmann::json* size = findField(body, "size");
    if (!size) throw badRequest("'size' is required: {\"rows\": 24, \"cols\": 80}");
    if (!size->is_object()) throw badRequest("'size' must be an object with rows and cols");
    parseTerminalSize(*size, "size", spec.rows, spec.cols);
  }
  return spec;
}

int parsePid(const std::string& segment) {
  int pid = 0;
  auto [end, ec] = std::from_chars(segment.data(), segment.data() + segment.size(), pid);
  if (ec != std::errc() || end != segment.data() + segment.size() || pid <= 0) {
    throw notFound("process " + quoteInput(segment) + " not found");
  }
  return pid;
}

int parseSignal(const nlohmann::json& body) {
  const nlohmann::json* field = findField(body, "signal");
  if (!field) throw badRequest("'signal' is required: a name such as \"TERM\" or a number");
  if (field->is_number_integer()) {
    auto n = integerField(body, "signal", 1, kMaxSignal);
    return static_cast<int>(*n);
  }
  if (!field->is_string()) throw badRequest("'signal' must be a name or a number");
  std::string name = upper(field->get<std::string>());
  int number = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (ec == std::errc() && end == name.data() + name.size()) {
    if (number < 1 || number > kMaxSignal)
      throw badRequest("'signal' must be 1.." + std::to_string(kMaxSignal));
    return number;
  }
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    if (abbrev && name == abbrev) return sig;
  }
  throw badRequest("'signal' " + quoteInput(field->get<std::string>(), 32) +
                   " is not a signal name");
}

std::string parseStdinData(const nlohmann::json& body) {
  auto text = stringField(body, "data");
  auto encoded = stringField(body, "data_base64");
  if (text && encoded) throw badRequest("give 'data' or 'data_base64', not both");
  if (text) return std::move(*text);
  if (!encoded) throw badRequest("'data' or 'data_base64' is required");
  auto bytes = base64Decode(*encoded);
  if (!bytes) throw badRequest("'data_base64' is not valid base64");
  return std::move(*bytes);
}

void parseTerminalSize(const nlohmann::json& object, const std::string& what, uint16_t& rows,
                       uint16_t& cols) {
  auto r = integerField(object, "rows", 1, kMaxTerminalSide);
  auto c = integerField(object, "cols", 1, kMaxTerminalSide);
  if (!r || !c) throw badRequest("'" + what + "' needs 'rows' and 'cols'");
  rows = static_cast<uint16_t>(*r);
  cols = static_cast<uint16_t>(*c);
}

nlohmann::json toJson(const ProcessInfo& info) {
  auto optional = [](const std::optional<int>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  nlohmann::json out = {{"pid", info.pid},
                        {"cmd", replaceInvalidUtf8(info.cmd)},
                        {"user", info.user},
                        {"cwd", replaceInvalidUtf8(info.cwd)},
                        {"started_at", formatTime(info.started_at)},
                        {"running", info.running},
                        {"exit_code", optional(info.exit_code)},
                        {"signal", optional(info.signal)},
                        {"timed_out", info.timed_out},
                        {"is_pty", info.is_pty},
                        {"background", info.background},
                        {"stdin_open", info.stdin_open}};
  if (!info.argv.empty()) {
    nlohmann::json argv = nlohmann::json::array();
    for (const std::string& arg : info.argv) argv.push_back(replaceInvalidUtf8(arg));
    out["argv"] = std::move(argv);
  }
  if (info.ended_at) out["ended_at"] = formatTime(*info.ended_at);
  if (info.oom_killed) out["oom_killed"] = true;
  if (!info.error.empty()) out["error"] = info.error;
  return out;
}

std::string sseEvent(std::string_view name, const nlohmann::json& data) {
  std::string out = "event: ";
  out += name;
  out += "\ndata: ";
  // Compact JSON has no newline, so it is one data line.
  out += data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += "\n\n";
  return out;
}

std::string sseStart(int pid) { return sseEvent("start", {{"pid", pid}}); }

std::string sseEvent(int pid, const OutputEvent& event) {
  using Kind = OutputEvent::Kind;
  switch (event.kind) {
    case Kind::kStdout:
    case Kind::kStderr:
    case Kind::kPty: {
      nlohmann::json data = nlohmann::json::object();
      putBytes(data, "data", event.data);
      const char* name = event.kind == Kind::kStdout   ? "stdout"
                         : event.kind == Kind::kStderr ? "stderr"
                                                       : "pty";
      return sseEvent(name, data);
    }
    case Kind::kLost:
      return sseEvent("lost", {{"stream", event.stream}, {"bytes", event.lost_bytes}});
    case Kind::kExit: {
      nlohmann::json info = toJson(event.process);
      nlohmann::json data = {{"pid", pid},
                             {"exit_code", info["exit_code"]},
                             {"signal", info["signal"]},
                             {"timed_out", info["timed_out"]}};
      if (info.contains("error")) data["error"] = info["error"];
      if (info.contains("oom_killed")) data["oom_killed"] = true;
      return sseEvent("exit", data);
    }
    case Kind::kEnd:
      break;
  }
  return std::string();
}

}  // namespace declaw::api
