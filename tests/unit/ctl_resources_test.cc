// declawctl's resources without a daemon: the limits a create request carries, how `info` and
// `stats` show limits and usage, the redrawn screen of `stats`, and how a command the OOM killer
// ended is recognised.
#include <catch2/catch.hpp>
#include <csignal>
#include <string>

#include "clients/ctl/format.h"
#include "clients/ctl/process_events.h"
#include "clients/ctl/requests.h"
#include "clients/ctl/resource_format.h"

using nlohmann::json;
namespace ctl = declaw::ctl;

namespace {

// A GET .../metrics answer of declawd, as api/resource_wire.cc writes it.
json sampleMetrics() {
  return json::parse(R"({"timestamp": "2026-11-27T02:41:01Z", "cpu_cores_used": 0.75,
      "cpu_used_pct": 50.0, "cpu_count": 1.5, "cpu_usage_ns": 123456789,
      "mem_used": 134217728, "mem_total": 536870912, "pids": 12, "pids_limit": 256,
      "disk_used": 1536, "disk_total": 1073741824, "oom_kills": 2,
      "net_rx_bytes": null, "net_tx_bytes": null})");
}

}  // namespace

TEST_CASE("sizes are shown in 1024-based units with about three significant digits") {
  CHECK(ctl::formatBytes(0) == "0B");
  CHECK(ctl::formatBytes(1023) == "1023B");
  CHECK(ctl::formatBytes(1024) == "1KiB");
  CHECK(ctl::formatBytes(1536) == "1.5KiB");
  CHECK(ctl::formatBytes(2047) == "2KiB");
  CHECK(ctl::formatBytes(12900000) == "12.3MiB");
  CHECK(ctl::formatBytes(uint64_t{512} << 20) == "512MiB");
  CHECK(ctl::formatBytes(uint64_t{1} << 30) == "1GiB");
  CHECK(ctl::formatBytes((uint64_t{3} << 30) / 2) == "1.5GiB");
  // Just under a unit rounds up into it rather than showing "1024KiB".
  CHECK(ctl::formatBytes((uint64_t{1} << 20) - 100) == "1MiB");
  CHECK(ctl::formatBytes(UINT64_MAX) == "16EiB");
}

TEST_CASE("cores are shown without needless digits") {
  CHECK(ctl::formatCores(1.5) == "1.5");
  CHECK(ctl::formatCores(0.25) == "0.25");
  CHECK(ctl::formatCores(2.0) == "2");
  CHECK(ctl::formatCores(0.01) == "0.01");
}

TEST_CASE("a create request carries the limits and the lifecycle that were given, only those") {
  ctl::SandboxSpec spec;
  spec.resources.memory_mb = 64;
  CHECK(*ctl::buildCreateRequest(spec) == json::parse(R"({"resources": {"memory_mb": 64}})"));
  spec.resources.cpu = 1.5;
  spec.resources.pids = 256;
  spec.resources.disk_mb = 1024;
  spec.on_timeout = "pause";
  CHECK(*ctl::buildCreateRequest(spec) == json::parse(R"({
      "resources": {"cpu": 1.5, "memory_mb": 64, "pids": 256, "disk_mb": 1024},
      "lifecycle": {"on_timeout": "pause"}})"));
}

TEST_CASE("info shows the limits and the lifecycle of a sandbox") {
  json info = json::parse(R"({"sandbox_id": "sbx-1", "state": "paused",
      "resources": {"cpu": 1.5, "memory_mb": 512, "pids": 256, "disk_mb": 1024},
      "lifecycle": {"on_timeout": "pause"}})");
  std::string text = ctl::formatSandboxInfo(info);
  CHECK(text.find("state:                  paused\n") != std::string::npos);
  CHECK(text.find("resources:              cpu=1.5 memory_mb=512 pids=256 disk_mb=1024\n") !=
        std::string::npos);
  CHECK(text.find("lifecycle:              on_timeout=pause\n") != std::string::npos);
}

TEST_CASE("info from a daemon without resources shows them as unknown") {
  auto lines = ctl::resourceInfoLines(json::parse(R"({"sandbox_id": "sbx-1"})"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == std::pair<std::string, std::string>{"resources", "-"});
  CHECK(lines[1] == std::pair<std::string, std::string>{"lifecycle", "-"});
}

TEST_CASE("the ls table shows a paused sandbox as paused") {
  json sandboxes = json::parse(R"([{"sandbox_id": "sbx-1", "state": "paused"}])");
  CHECK(ctl::formatSandboxTable(sandboxes).find("sbx-1  -         paused") != std::string::npos);
}

TEST_CASE("stats watches every running or paused sandbox of a listing, in its order") {
  json listing = json::parse(R"([{"sandbox_id": "a", "state": "running"},
      {"sandbox_id": "b", "state": "killed"}, {"sandbox_id": "c", "state": "paused"},
      {"sandbox_id": "d", "state": "creating"}, {"state": "running"}])");
  CHECK(ctl::liveSandboxIds(listing) == std::vector<std::string>{"a", "c"});
  CHECK(ctl::liveSandboxIds(json::object()).empty());
}

TEST_CASE("a stats row shows CPU against its limit, memory, pids, disk and OOM kills") {
  CHECK(ctl::formatTable(ctl::statsHeader(), {ctl::statsRow("sbx-1", sampleMetrics())}) ==
        "ID     CPU %   CORES       MEM USAGE / LIMIT  MEM %   PIDS      DISK USAGE / LIMIT  "
        "NET RX / TX  OOM\n"
        "sbx-1  50.00%  0.75 / 1.5  128MiB / 512MiB    25.00%  12 / 256  1.5KiB / 1GiB       "
        "-            2\n");
}

TEST_CASE("limits a host does not enforce show as '-', and so do their percentages") {
  json m = sampleMetrics();
  m["cpu_count"] = 0;
  m["mem_total"] = 0;
  m["pids_limit"] = 0;
  m["disk_total"] = 0;
  m["net_rx_bytes"] = 2048;
  m["net_tx_bytes"] = 10;
  auto row = ctl::statsRow("sbx-1", m);
  CHECK(row == std::vector<std::string>{"sbx-1", "-", "0.75 / -", "128MiB / -", "-", "12 / -",
                                        "1.5KiB / -", "2KiB / 10B", "2"});
  auto empty = ctl::statsRow("sbx-2", json::object());
  CHECK(empty ==
        std::vector<std::string>{"sbx-2", "-", "- / -", "- / -", "-", "- / -", "- / -", "-", "-"});
}

TEST_CASE("a stats JSON line is the daemon's metrics with the sandbox id first, on one line") {
  std::string line = ctl::statsJsonLine("sbx-1", sampleMetrics());
  CHECK(line.rfind("{\"sandbox_id\":\"sbx-1\",", 0) == 0);
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  json parsed = json::parse(line);
  CHECK(parsed["mem_total"] == 536870912);
  CHECK(parsed["net_rx_bytes"].is_null());
}

TEST_CASE("a redrawn frame goes home, clears each line's rest and everything below") {
  CHECK(ctl::terminalFrame("ab\ncd\n", std::nullopt) == "\x1b[Hab\x1b[K\ncd\x1b[K\n\x1b[J");
}

TEST_CASE("a redrawn frame fits the terminal, so it never scrolls or wraps") {
  ctl::TerminalSize size{3, 4};
  // Two lines of at most three characters: the last row and column stay free.
  CHECK(ctl::terminalFrame("abcdef\nxy\nmore\nrows\n", size) ==
        "\x1b[Habc\x1b[K\nxy\x1b[K\n\x1b[J");
}

TEST_CASE("a buffered result says when the OOM killer struck") {
  auto outcome = ctl::decodeCommandResult(
      json::parse(R"({"exit_code": 137, "signal": 9, "oom_killed": true, "stdout": ""})"));
  REQUIRE(outcome.ok());
  CHECK(outcome->oom_killed);
  CHECK(outcome->exit_code == 137);
  CHECK_FALSE(ctl::decodeCommandResult(json::parse(R"({"exit_code": 0})"))->oom_killed);
}

TEST_CASE("the OOM note names the sandbox's memory limit when it is known") {
  CHECK(ctl::oomNote(json::parse(R"({"resources": {"memory_mb": 64}})")) ==
        "the command was killed for lack of memory (memory_mb=64)");
  CHECK(ctl::oomNote(json()) == "the command was killed for lack of memory");
}

TEST_CASE("only a SIGKILL, or a shell's 137 for one, may be the OOM killer's doing") {
  CHECK(ctl::mayBeOomKill(SIGKILL, 137));
  CHECK(ctl::mayBeOomKill(std::nullopt, 137));
  CHECK_FALSE(ctl::mayBeOomKill(SIGTERM, 143));
  CHECK_FALSE(ctl::mayBeOomKill(std::nullopt, 0));
  CHECK_FALSE(ctl::mayBeOomKill(std::nullopt, std::nullopt));
}

TEST_CASE("an exit event's oom_killed is taken when the daemon sends one") {
  auto event = ctl::decodeProcessEvent(
      {"exit", R"({"pid": 3, "exit_code": 137, "signal": 9, "oom_killed": true})", ""});
  REQUIRE(event.ok());
  auto* exit = std::get_if<ctl::ExitEvent>(&*event);
  REQUIRE(exit != nullptr);
  CHECK(exit->oom_killed == true);
  auto plain = ctl::decodeProcessEvent({"exit", R"({"pid": 3, "exit_code": 0})", ""});
  CHECK_FALSE(std::get<ctl::ExitEvent>(*plain).oom_killed.has_value());
}
