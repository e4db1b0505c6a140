#include "clients/ctl/template_format.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "clients/ctl/format.h"
#include "clients/ctl/resource_format.h"

namespace declaw::ctl {
namespace {

constexpr std::string_view kSha256Prefix = "sha256:";
constexpr size_t kShortDigestChars = 12;
// A bar narrower than this says nothing; wider than this only stretches.
constexpr int kMinBarWidth = 10;
constexpr int kMaxBarWidth = 40;
// A build step's command is cut to this in the one-line failure report (the whole command is
// the user's own --run argument).
constexpr size_t kMaxStepCommandChars = 60;

// Layer media types without the prefix every OCI or docker layer type has: "tar+gzip".
std::string shortMediaType(std::string media_type) {
  for (std::string_view prefix :
       {"application/vnd.oci.image.layer.v1.", "application/vnd.docker.image.rootfs.diff."}) {
    if (media_type.starts_with(prefix)) return media_type.substr(prefix.size());
  }
  return media_type;
}

// A field holding a number of bytes; nullopt when it is missing or not one.
std::optional<uint64_t> byteCount(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
    return std::nullopt;
  }
  return it->get<uint64_t>();
}

// A byte count as formatBytes() shows it; anything else as displayField() does.
std::string bytesField(const nlohmann::json& object, std::string_view key) {
  auto bytes = byteCount(object, key);
  return bytes ? formatBytes(*bytes) : displayField(object, key);
}

// The template a snapshot was made from, or the built-in under a snapshot of one; nothing for a
// built-in itself (declawd names it as its own base).
std::string origin(const nlohmann::json& t) {
  if (displayField(t, "source") == "builtin") return "-";
  std::string parent = displayField(t, "parent");
  return parent != "-" ? parent : displayField(t, "base");
}

std::string text(const nlohmann::json& object, std::string_view key) {
  return escapeControl(displayField(object, key));
}

}  // namespace

std::string shortDigest(const nlohmann::json& digest) {
  if (!digest.is_string()) return "-";
  const auto& s = digest.get_ref<const std::string&>();
  if (!s.starts_with(kSha256Prefix) || s.size() < kSha256Prefix.size() + kShortDigestChars) {
    return "-";
  }
  return s.substr(kSha256Prefix.size(), kShortDigestChars);
}

std::string formatTemplateTable(const nlohmann::json& templates) {
  std::vector<std::vector<std::string>> rows;
  if (templates.is_array()) {
    for (const auto& t : templates) {
      const bool builtin = displayField(t, "source") == "builtin";
      rows.push_back(
          {text(t, "name"), text(t, "source"),
           shortDigest(t.is_object() ? t.value("digest", nlohmann::json()) : nlohmann::json()),
           displayField(t, "layer_count"), builtin ? "-" : bytesField(t, "size"),
           displayField(t, "sandboxes"), displayField(t, "created_at"), escapeControl(origin(t))});
    }
  }
  return formatTable({"NAME", "SOURCE", "DIGEST", "LAYERS", "SIZE", "SANDBOXES", "CREATED", "FROM"},
                     rows);
}

std::string formatTemplateInfo(const nlohmann::json& info) {
  std::vector<std::pair<std::string, std::string>> lines;
  for (auto key : {"name", "source", "digest"}) lines.emplace_back(key, text(info, key));
  std::string size = bytesField(info, "size");
  if (auto bytes = byteCount(info, "size")) size += " (" + std::to_string(*bytes) + " bytes)";
  lines.emplace_back("size", size);
  for (auto key : {"created_at", "sandboxes", "owner_uid", "base", "parent"}) {
    lines.emplace_back(key, text(info, key));
  }
  const nlohmann::json config =
      info.is_object() ? info.value("config", nlohmann::json::object()) : nlohmann::json::object();
  for (auto key : {"working_dir", "user", "default_user"}) {
    lines.emplace_back(key, text(config, key));
  }
  const nlohmann::json env =
      config.is_object() ? config.value("env", nlohmann::json()) : nlohmann::json();
  if (!env.is_array() || env.empty()) lines.emplace_back("env", "-");
  if (env.is_array()) {
    for (const auto& var : env) {
      lines.emplace_back("env",
                         escapeControl(var.is_string() ? var.get<std::string>() : var.dump()));
    }
  }
  std::string tags;
  if (info.is_object() && info.value("repo_tags", nlohmann::json()).is_array()) {
    for (const auto& tag : info["repo_tags"]) {
      tags += (tags.empty() ? "" : " ") +
              escapeControl(tag.is_string() ? tag.get<std::string>() : tag.dump());
    }
  }
  lines.emplace_back("repo_tags", tags.empty() ? "-" : tags);
  lines.emplace_back("layer_count", displayField(info, "layer_count"));
  if (info.is_object() && info.value("layers", nlohmann::json()).is_array()) {
    size_t n = 0;
    for (const auto& layer : info["layers"]) {
      std::string line = displayField(layer, "digest") + "  " + bytesField(layer, "size") + ", " +
                         bytesField(layer, "unpacked_bytes") + " unpacked";
      if (layer.is_object() && layer.value("media_type", nlohmann::json()).is_string()) {
        line += ", " + shortMediaType(layer["media_type"].get<std::string>());
      }
      lines.emplace_back("layer " + std::to_string(++n), escapeControl(line));
    }
  }
  return formatFields(lines);
}

bool progressVisible(bool terminal, std::optional<uint64_t> total, uint64_t sent) {
  if (!terminal) return false;
  return total ? *total >= kProgressMinBytes : sent >= kProgressMinBytes;
}

std::string progressLine(std::string_view label, uint64_t sent, std::optional<uint64_t> total,
                         int columns) {
  std::string line(label);
  if (!total) {
    line += "  " + formatBytes(sent) + " sent";
  } else {
    const uint64_t done = std::min(sent, *total);
    const int percent = *total == 0 ? 100 : static_cast<int>(done * 100 / *total);
    std::string tail =
        "  " + std::to_string(percent) + "%  " + formatBytes(done) + " / " + formatBytes(*total);
    // LABEL + "  [" + bar + "]" + tail
    int room =
        columns > 0 ? columns - static_cast<int>(line.size() + 4 + tail.size()) : kMaxBarWidth;
    int width = std::min(room, kMaxBarWidth);
    if (width >= kMinBarWidth) {
      const int filled = *total == 0 ? width : static_cast<int>(done * width / *total);
      line += "  [" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
    }
    line += tail;
  }
  if (columns > 0 && line.size() > static_cast<size_t>(columns)) line.resize(columns);
  return line;
}

std::string stepFailure(size_t index, size_t count, std::string_view cmd,
                        const CommandOutcome& outcome, int64_t timeout_s) {
  std::string shown = escapeControl(cmd);
  if (shown.size() > kMaxStepCommandChars) shown = shown.substr(0, kMaxStepCommandChars) + "...";
  std::string out =
      "step " + std::to_string(index + 1) + "/" + std::to_string(count) + " (" + shown + ")";
  if (outcome.timed_out) {
    out += " timed out";
    if (timeout_s > 0) out += " after " + std::to_string(timeout_s) + " s";
  } else if (outcome.oom_killed) {
    out += " was killed for lack of memory (exit code " + std::to_string(outcome.exit_code) + ")";
  } else {
    out += " exited with code " + std::to_string(outcome.exit_code);
  }
  return out;
}

}  // namespace declaw::ctl
