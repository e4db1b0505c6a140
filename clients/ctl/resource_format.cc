#include "clients/ctl/resource_format.h"

#include <array>
#include <cstdio>
#include <cstdlib>

#include "clients/ctl/format.h"

namespace declaw::ctl {
namespace {

constexpr double kUnitStep = 1024.0;
constexpr double kPercent = 100.0;

// A number field, nullopt when absent, null or not a number.
std::optional<double> numberField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// A count: a non-negative integer (nlohmann keeps parsed ones unsigned, built ones signed).
std::optional<uint64_t> countField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->get<int64_t>() < 0) return std::nullopt;
  return static_cast<uint64_t>(it->get<int64_t>());
}

std::string printed(const char* format, double value) {
  std::array<char, 64> text{};
  (void)std::snprintf(text.data(), text.size(), format, value);
  return text.data();
}

std::string trimZeros(std::string number) {
  if (number.find('.') == std::string::npos) return number;
  while (number.back() == '0') number.pop_back();
  if (number.back() == '.') number.pop_back();
  return number;
}

std::string bytesOrDash(const std::optional<uint64_t>& bytes) {
  return bytes ? formatBytes(*bytes) : "-";
}

// A limit of 0 is the daemon's "not enforced here".
std::string limitOrDash(const std::optional<uint64_t>& limit, std::string (*show)(uint64_t)) {
  return limit && *limit > 0 ? show(*limit) : "-";
}

std::string percentOf(const std::optional<double>& used, const std::optional<double>& limit) {
  if (!used || !limit || *limit <= 0) return "-";
  return printed("%.2f%%", kPercent * *used / *limit);
}

std::string plainCount(uint64_t n) { return std::to_string(n); }

}  // namespace

std::string formatBytes(uint64_t bytes) {
  static constexpr std::array<const char*, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < static_cast<uint64_t>(kUnitStep)) return std::to_string(bytes) + "B";
  double value = static_cast<double>(bytes) / kUnitStep;
  size_t unit = 0;
  while (value >= kUnitStep && unit + 1 < kUnits.size()) {
    value /= kUnitStep;
    ++unit;
  }
  auto render = [](double v) { return printed(v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v); };
  std::string text = render(value);
  // 1023.7 KiB rounds to "1024": that is 1 MiB.
  if (std::strtod(text.c_str(), nullptr) >= kUnitStep && unit + 1 < kUnits.size()) {
    text = render(value / kUnitStep);
    ++unit;
  }
  return trimZeros(text) + kUnits[unit];
}

std::string formatCores(double cores) { return printed("%.4g", cores); }

std::vector<std::pair<std::string, std::string>> resourceInfoLines(const nlohmann::json& info) {
  const nlohmann::json none;
  const nlohmann::json& resources =
      info.is_object() && info.contains("resources") ? info["resources"] : none;
  std::string limits;
  auto add = [&](const char* key, const std::string& value) {
    limits += (limits.empty() ? "" : " ") + std::string(key) + "=" + value;
  };
  if (auto cpu = numberField(resources, "cpu")) add("cpu", formatCores(*cpu));
  for (const char* key : {"memory_mb", "pids", "disk_mb"}) {
    if (auto n = countField(resources, key)) add(key, std::to_string(*n));
  }
  const nlohmann::json& lifecycle =
      info.is_object() && info.contains("lifecycle") ? info["lifecycle"] : none;
  std::string on_timeout = displayField(lifecycle, "on_timeout");
  return {{"resources", limits.empty() ? "-" : limits},
          {"lifecycle", on_timeout == "-" ? "-" : "on_timeout=" + on_timeout}};
}

std::vector<std::string> liveSandboxIds(const nlohmann::json& sandboxes) {
  std::vector<std::string> ids;
  if (!sandboxes.is_array()) return ids;
  for (const auto& sbx : sandboxes) {
    const std::string state = displayField(sbx, "state");
    const std::string id = displayField(sbx, "sandbox_id");
    if ((state == "running" || state == "paused") && id != "-") ids.push_back(id);
  }
  return ids;
}

std::vector<std::string> statsHeader() {
  return {
      "ID",          "CPU %", "CORES", "MEM USAGE / LIMIT", "MEM %", "PIDS", "DISK USAGE / LIMIT",
      "NET RX / TX", "OOM"};
}

std::vector<std::string> statsRow(std::string_view id, const nlohmann::json& m) {
  const auto cores_used = numberField(m, "cpu_cores_used");
  const auto cores_limit = numberField(m, "cpu_count");
  const bool cpu_limited = cores_limit && *cores_limit > 0;
  std::string cpu_pct = "-";
  if (auto pct = numberField(m, "cpu_used_pct"); pct && cpu_limited) {
    cpu_pct = printed("%.2f%%", *pct);
  }
  std::string cores = cores_used ? printed("%.2f", *cores_used) : "-";
  cores += " / " + (cpu_limited ? formatCores(*cores_limit) : std::string("-"));

  const auto mem_used = countField(m, "mem_used");
  const auto mem_total = countField(m, "mem_total");
  std::string mem = bytesOrDash(mem_used) + " / " + limitOrDash(mem_total, formatBytes);
  std::optional<double> mem_used_d, mem_total_d;
  if (mem_used) mem_used_d = static_cast<double>(*mem_used);
  if (mem_total) mem_total_d = static_cast<double>(*mem_total);

  const auto pids = countField(m, "pids");
  std::string pids_text = (pids ? std::to_string(*pids) : "-") + " / " +
                          limitOrDash(countField(m, "pids_limit"), plainCount);

  std::string disk = bytesOrDash(countField(m, "disk_used")) + " / " +
                     limitOrDash(countField(m, "disk_total"), formatBytes);

  const auto rx = countField(m, "net_rx_bytes");
  const auto tx = countField(m, "net_tx_bytes");
  std::string net = rx || tx ? bytesOrDash(rx) + " / " + bytesOrDash(tx) : "-";

  const auto ooms = countField(m, "oom_kills");
  return {std::string(id),
          cpu_pct,
          cores,
          mem,
          percentOf(mem_used_d, mem_total_d),
          pids_text,
          disk,
          net,
          ooms ? std::to_string(*ooms) : "-"};
}

std::string statsJsonLine(std::string_view id, const nlohmann::json& metrics) {
  // The id first, so a reader of the stream sees at once which sandbox a line is about.
  nlohmann::ordered_json line = {{"sandbox_id", id}};
  if (metrics.is_object()) {
    for (const auto& [key, value] : metrics.items()) line[key] = value;
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string terminalFrame(std::string_view text, std::optional<TerminalSize> size) {
  static constexpr std::string_view kHome = "\x1b[H";
  static constexpr std::string_view kClearLine = "\x1b[K";
  static constexpr std::string_view kClearBelow = "\x1b[J";
  // One row stays free: a newline on the last row would scroll the screen. One column too: a
  // line that fills the row leaves the cursor pending a wrap, where clear-to-end-of-line would
  // erase its last character.
  size_t max_lines = size && size->rows > 1 ? static_cast<size_t>(size->rows - 1) : SIZE_MAX;
  size_t max_width = size && size->cols > 1 ? static_cast<size_t>(size->cols - 1) : SIZE_MAX;
  std::string out(kHome);
  size_t lines = 0;
  size_t pos = 0;
  while (pos < text.size() && lines < max_lines) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    out += text.substr(pos, std::min(end - pos, max_width));
    out += kClearLine;
    out += '\n';
    ++lines;
    pos = end + 1;
  }
  out += kClearBelow;
  return out;
}

}  // namespace declaw::ctl
