#include "clients/ctl/process_events.h"

#include <nlohmann/json.hpp>

#include "clients/ctl/format.h"
#include "clients/ctl/requests.h"

namespace declaw::ctl {
namespace {

constexpr int kMaxExitCode = 255;

Error badEvent(const std::string& type, std::string_view what) {
  return PlainError() << "bad response from declawd: `" << type << "` event " << what;
}

Result<OutputStream> parseStreamName(const nlohmann::json& value, const std::string& type) {
  if (value == "stdout") return OutputStream::kStdout;
  if (value == "stderr") return OutputStream::kStderr;
  if (value == "pty") return OutputStream::kPty;
  return badEvent(type, "names no known stream");
}

template <typename T>
std::optional<T> optionalInteger(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return static_cast<T>(it->get<int64_t>());
}

Result<OutputEvent> decodeOutput(const nlohmann::json& body, OutputStream stream,
                                 const std::string& type) {
  OutputEvent out{stream, {}};
  auto b64 = body.find("data_base64");
  if (b64 != body.end() && b64->is_string()) {
    auto bytes = base64Decode(b64->get_ref<const std::string&>());
    if (!bytes) return badEvent(type, "has data_base64 that is not base64");
    out.bytes = std::move(*bytes);
    return out;
  }
  auto text = body.find("data");
  if (text == body.end() || !text->is_string()) return badEvent(type, "has no data");
  out.bytes = text->get<std::string>();
  return out;
}

}  // namespace

Result<ProcessEvent> decodeProcessEvent(const SseEvent& event) {
  const std::string& type = event.type;
  if (type != "start" && type != "stdout" && type != "stderr" && type != "pty" && type != "lost" &&
      type != "exit") {
    return ProcessEvent{};
  }
  auto body = nlohmann::json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return badEvent(type, "is not a JSON object");

  if (type == "start") {
    auto pid = optionalInteger<int64_t>(body, "pid");
    if (!pid) return badEvent(type, "has no pid");
    return ProcessEvent{StartEvent{*pid}};
  }
  if (type == "lost") {
    auto stream = parseStreamName(body.value("stream", nlohmann::json()), type);
    if (!stream) return stream.error();
    auto it = body.find("bytes");
    if (it == body.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
      return badEvent(type, "has no byte count");
    }
    return ProcessEvent{LostEvent{*stream, it->get<uint64_t>()}};
  }
  if (type == "exit") {
    ExitEvent exit;
    exit.exit_code = optionalInteger<int64_t>(body, "exit_code");
    exit.signal = optionalInteger<int>(body, "signal");
    auto timed_out = body.find("timed_out");
    exit.timed_out = timed_out != body.end() && timed_out->is_boolean() && timed_out->get<bool>();
    if (auto error = body.find("error"); error != body.end() && error->is_string()) {
      exit.error = error->get<std::string>();
    }
    if (auto oom = body.find("oom_killed"); oom != body.end() && oom->is_boolean()) {
      exit.oom_killed = oom->get<bool>();
    }
    return ProcessEvent{exit};
  }
  auto stream = parseStreamName(type, type);
  if (!stream) return stream.error();
  auto output = decodeOutput(body, *stream, type);
  if (!output) return output.error();
  return ProcessEvent{std::move(*output)};
}

const char* streamName(OutputStream stream) {
  switch (stream) {
    case OutputStream::kStdout:
      return "stdout";
    case OutputStream::kStderr:
      return "stderr";
    case OutputStream::kPty:
      return "pty";
  }
  return "output";
}

std::string lostNote(const LostEvent& lost) {
  return std::to_string(lost.bytes) + (lost.bytes == 1 ? " byte" : " bytes") + " of " +
         streamName(lost.stream) + (lost.bytes == 1 ? " was" : " were") + " dropped";
}

std::optional<int> exitStatus(const ExitEvent& exit) {
  if (exit.timed_out) return kTimedOutExitCode;
  if (!exit.exit_code) return std::nullopt;
  // A shell cannot see exit statuses outside 0..255; keep an odd value from wrapping to 0.
  int64_t raw = *exit.exit_code;
  return raw >= 0 && raw <= kMaxExitCode ? static_cast<int>(raw) : kMaxExitCode;
}

}  // namespace declaw::ctl
