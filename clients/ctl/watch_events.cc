#include "clients/ctl/watch_events.h"

#include <nlohmann/json.hpp>

#include "clients/ctl/commands.h"
#include "clients/ctl/format.h"

namespace declaw::ctl {
namespace {

// The width of the type column: the longest type the daemon sends ("create", "remove", ...).
constexpr size_t kTypeColumnWidth = 6;
constexpr std::string_view kColumnGap = "  ";

Error badEvent(const std::string& type, std::string_view what) {
  return PlainError() << "bad response from declawd: `" << type << "` event " << what;
}

// A string field; missing or not a string is nullopt.
std::optional<std::string> stringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool isRemoved(const WatchEnd& end) { return end.reason == "removed"; }

}  // namespace

Result<WatchEvent> decodeWatchEvent(const SseEvent& event) {
  const std::string& type = event.type;
  if (type != "start" && type != "fs" && type != "lost" && type != "end") return WatchEvent{};
  auto body = nlohmann::json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return badEvent(type, "is not a JSON object");

  if (type == "start") {
    auto path = stringField(body, "path");
    if (!path) return badEvent(type, "has no path");
    return WatchEvent{WatchStart{std::move(*path)}};
  }
  if (type == "fs") {
    auto change_type = stringField(body, "type");
    auto name = stringField(body, "name");
    if (!change_type || change_type->empty()) return badEvent(type, "has no type");
    if (!name) return badEvent(type, "has no name");
    return WatchEvent{WatchChange{std::move(*change_type), std::move(*name)}};
  }
  if (type == "lost") return WatchEvent{WatchLost{stringField(body, "reason").value_or("")}};
  auto reason = stringField(body, "reason");
  if (!reason) return badEvent(type, "has no reason");
  return WatchEvent{WatchEnd{std::move(*reason), stringField(body, "message").value_or("")}};
}

std::string watchChangeLine(const WatchChange& change) {
  std::string line = escapeControl(change.type);
  if (line.size() < kTypeColumnWidth) line.append(kTypeColumnWidth - line.size(), ' ');
  line += kColumnGap;
  line += escapeControl(change.name);
  line += '\n';
  return line;
}

std::string watchLostNote() { return "events were dropped (the watch fell behind)"; }

std::string watchEndNote(const WatchEnd& end) {
  if (end.message.empty()) return escapeControl(end.reason);
  std::string note = escapeControl(end.message);
  if (!isRemoved(end)) note += " (" + escapeControl(end.reason) + ")";
  return note;
}

int watchExitCode(const WatchEnd& end) { return isRemoved(end) ? 0 : kErrorExitCode; }

}  // namespace declaw::ctl
