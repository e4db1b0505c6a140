// Resources, limits and usage as people read them: human sizes, the resource lines of `info`,
// the rows of `stats` and the screen frames it redraws. Pure, like format.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clients/ctl/requests.h"

namespace declaw::ctl {

// A byte count in 1024-based units with about three significant digits: "512B", "1.5KiB",
// "12.3MiB", "512MiB", "2GiB". Trailing zeros after the point are dropped.
std::string formatBytes(uint64_t bytes);

// A number of cores without needless digits: "1.5", "0.25", "2".
std::string formatCores(double cores);

// The lines `info` adds for a SandboxInfo's limits and lifecycle, in the order of the flags:
// {"resources", "cpu=1.5 memory_mb=512 pids=256 disk_mb=1024"}, {"lifecycle", "on_timeout=kill"}.
// Fields the daemon did not send are left out; an absent object is "-".
std::vector<std::pair<std::string, std::string>> resourceInfoLines(const nlohmann::json& info);

// The ids `stats` watches when none are given: every sandbox of a listing that is alive
// (running or paused), in the listing's order.
std::vector<std::string> liveSandboxIds(const nlohmann::json& sandboxes);

// The `stats` table header and one row per GET .../metrics answer:
// ID  CPU %  CORES  MEM USAGE / LIMIT  MEM %  PIDS  DISK USAGE / LIMIT  NET RX / TX  OOM
// A limit the daemon reports as 0 (not enforced on this host) shows as "-", and so does a
// percentage of it; NET is "-" for a sandbox without a network interface.
std::vector<std::string> statsHeader();
std::vector<std::string> statsRow(std::string_view id, const nlohmann::json& metrics);

// One `stats --json` line: the daemon's metrics object with "sandbox_id" added, compact.
std::string statsJsonLine(std::string_view id, const nlohmann::json& metrics);

// A frame that redraws a terminal in place: cursor home, each line followed by clear-to-end-of-
// line, then clear-to-end-of-screen, so nothing of a longer earlier frame stays and the screen
// does not flicker as a full clear would. With a known size, lines are cut to its width and the
// frame to its height (a frame taller than the screen would scroll and break the redraw).
std::string terminalFrame(std::string_view text, std::optional<TerminalSize> size);

// Escape sequences around a redrawn screen: the cursor is hidden while frames are drawn and
// shown again on every way out.
inline constexpr std::string_view kHideCursor = "\x1b[?25l";
inline constexpr std::string_view kShowCursor = "\x1b[?25h";

}  // namespace declaw::ctl
