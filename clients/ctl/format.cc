#include "clients/ctl/format.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "clients/ctl/network_format.h"
#include "clients/ctl/resource_format.h"
#include "clients/ctl/signals.h"

namespace declaw::ctl {
namespace {

bool isUnreserved(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c == '-' || c == '.' || c == '_' || c == '~';
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// A boolean field that is true; anything else (missing, null, another type) is false.
bool isTrue(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

Result<std::pair<std::string, std::string>> parseKeyValue(std::string_view arg) {
  size_t eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return PlainError() << "expected KEY=VALUE, got '" << arg << "'";
  }
  return std::pair<std::string, std::string>(std::string(arg.substr(0, eq)),
                                             std::string(arg.substr(eq + 1)));
}

Result<std::map<std::string, std::string>> parseKeyValues(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  for (const auto& arg : args) {
    auto kv = parseKeyValue(arg);
    if (!kv) return kv.error();
    out[kv->first] = kv->second;
  }
  return out;
}

std::string percentEncode(std::string_view value, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (isUnreserved(c) || (keep_slash && c == '/')) {
      out += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

std::string metadataQuery(const std::map<std::string, std::string>& pairs) {
  std::string inner;
  for (const auto& [key, value] : pairs) {
    if (!inner.empty()) inner += '&';
    inner += percentEncode(key) + "=" + percentEncode(value);
  }
  return percentEncode(inner);
}

Result<std::string> base64Decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return PlainError() << "bad base64 length";
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64Value(c);
    if (v < 0) return PlainError() << "bad base64 character";
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (left == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool isValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    auto c = static_cast<unsigned char>(bytes[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > bytes.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 (RFC 3629).
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

CopyEndpoint parseCopyEndpoint(std::string_view spec) {
  size_t colon = spec.find(':');
  if (colon != std::string_view::npos && colon > 0 &&
      spec.substr(0, colon).find('/') == std::string_view::npos) {
    return {std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
  }
  return {std::nullopt, std::string(spec)};
}

std::string baseName(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string formatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  auto widen = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < widths.size() && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  widen(header);
  for (const auto& row : rows) widen(row);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string formatPairs(const nlohmann::json& object) {
  if (!object.is_object()) return "";
  std::string out;
  for (const auto& [key, value] : object.items()) {
    if (!out.empty()) out += ',';
    out += key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

std::string displayField(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string formatSandboxTable(const nlohmann::json& sandboxes) {
  std::vector<std::vector<std::string>> rows;
  if (sandboxes.is_array()) {
    for (const auto& sbx : sandboxes) {
      rows.push_back(
          {displayField(sbx, "sandbox_id"), displayField(sbx, "template_id"),
           displayField(sbx, "state"), displayField(sbx, "started_at"), displayField(sbx, "end_at"),
           sbx.is_object() ? formatPairs(sbx.value("metadata", nlohmann::json())) : std::string()});
    }
  }
  return formatTable({"ID", "TEMPLATE", "STATE", "STARTED", "ENDS", "METADATA"}, rows);
}

std::string formatSandboxInfo(const nlohmann::json& info) {
  std::vector<std::pair<std::string, std::string>> lines;
  const std::string_view kScalars[] = {"sandbox_id",           "template_id", "state",
                                       "started_at",           "end_at",      "owner_uid",
                                       "allow_internet_access"};
  for (auto key : kScalars) lines.emplace_back(std::string(key), displayField(info, key));
  for (auto& line : resourceInfoLines(info)) lines.push_back(std::move(line));
  for (auto& line : networkInfoLines(info)) lines.push_back(std::move(line));
  for (auto key : {"metadata", "envs"}) {
    const auto value = info.is_object() ? info.value(key, nlohmann::json()) : nlohmann::json();
    lines.emplace_back(key, formatPairs(value));
  }
  return formatFields(lines);
}

std::string formatFields(const std::vector<std::pair<std::string, std::string>>& lines) {
  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : lines) {
    std::string line = key + ":" + std::string(width - key.size() + 2, ' ') + value;
    while (line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string escapeControl(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::string processState(const nlohmann::json& process) {
  if (!process.is_object()) return "unknown";
  if (isTrue(process, "running")) return "running";
  if (isTrue(process, "timed_out")) return "timed-out";
  auto signal = process.find("signal");
  if (signal != process.end() && signal->is_number_integer()) {
    return "killed(" + signalName(signal->get<int>()) + ")";
  }
  auto code = process.find("exit_code");
  if (code != process.end() && code->is_number_integer()) {
    return "exited(" + std::to_string(code->get<int64_t>()) + ")";
  }
  return "unknown";
}

std::string formatProcessTable(const nlohmann::json& processes) {
  std::vector<std::vector<std::string>> rows;
  if (processes.is_array()) {
    for (const auto& p : processes) {
      // A login shell of `exec -it` has no command: null in the contract, "" from declawd.
      const std::string cmd = displayField(p, "cmd");
      rows.push_back({displayField(p, "pid"), escapeControl(displayField(p, "user")),
                      processState(p), isTrue(p, "is_pty") ? "yes" : "no",
                      displayField(p, "started_at"), cmd.empty() ? "-" : escapeControl(cmd)});
    }
  }
  return formatTable({"PID", "USER", "STATE", "PTY", "STARTED", "CMD"}, rows);
}

}  // namespace declaw::ctl
