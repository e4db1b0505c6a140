// `declawctl pause`, `resume` and `stats`, and the note for a command the OOM killer ended.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <iostream>
#include <set>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/format.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/resource_format.h"
#include "clients/ctl/terminal.h"

namespace declaw::ctl {
namespace {

// How often `stats` samples, as `docker stats`.
constexpr auto kStatsInterval = std::chrono::seconds(1);

using SteadyClock = std::chrono::steady_clock;

// Sleeps until `until`; false when SIGINT or SIGTERM came first.
bool sleepUntil(SteadyClock::time_point until) {
  while (g_interrupted == 0) {
    auto left = until - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) return true;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    if (::nanosleep(&ts, nullptr) == 0) return g_interrupted == 0;
    if (errno != EINTR) return g_interrupted == 0;
  }
  return false;
}

// Where `stats` draws: a terminal is redrawn in place with the cursor hidden, and the cursor is
// shown again on every way out (the SIGINT/SIGTERM handlers only set g_interrupted, so the loop
// always returns through here); anything else gets one table after another.
class StatsOutput {
 public:
  explicit StatsOutput(bool redraw) : redraw_(redraw) {
    if (redraw_) (void)writeFully(STDOUT_FILENO, kHideCursor);
  }
  StatsOutput(const StatsOutput&) = delete;
  StatsOutput& operator=(const StatsOutput&) = delete;
  ~StatsOutput() { finish(); }

  // Shows the cursor again; idempotent.
  void finish() {
    if (redraw_ && !finished_) (void)writeFully(STDOUT_FILENO, kShowCursor);
    finished_ = true;
  }

  bool redraws() const { return redraw_; }

  Result<void> table(const std::string& text) {
    if (redraw_) return writeFully(STDOUT_FILENO, terminalFrame(text, terminalSize(STDOUT_FILENO)));
    std::string out = frames_++ > 0 ? "\n" + text : text;
    return writeFully(STDOUT_FILENO, out);
  }

  Result<void> lines(const std::string& text) { return writeFully(STDOUT_FILENO, text); }

 private:
  bool redraw_;
  bool finished_ = false;
  int frames_ = 0;
};

Result<std::vector<std::string>> sandboxesToWatch(ApiClient& api,
                                                  const std::vector<std::string>& given) {
  if (!given.empty()) return given;
  auto listing = api.listSandboxes("");
  if (!listing) return listing.error();
  return liveSandboxIds(*listing);
}

int changeState(const GlobalOptions& global, const std::vector<std::string>& ids, bool pause) {
  ApiClient api(global.socket_path);
  int rc = 0;
  for (const auto& id : ids) {
    auto info = pause ? api.pauseSandbox(id) : api.resumeSandbox(id);
    if (!info) {
      rc = reportError(info.error());
    } else if (global.json) {
      printJson(*info);
    }
  }
  return rc;
}

}  // namespace

int cmdPause(const GlobalOptions& global, const std::vector<std::string>& ids) {
  return changeState(global, ids, /*pause=*/true);
}

int cmdResume(const GlobalOptions& global, const std::vector<std::string>& ids) {
  return changeState(global, ids, /*pause=*/false);
}

int cmdStats(const GlobalOptions& global, const std::vector<std::string>& ids, bool stream) {
  installInterruptHandlers();
  ApiClient api(global.socket_path);
  StatsOutput out(stream && !global.json && ::isatty(STDOUT_FILENO) == 1);
  // Messages for sandboxes named on the command line that could not be measured; on a redrawn
  // screen they wait until it is left, or the next frame would wipe them.
  std::vector<Error> failures;
  bool failed = false;
  auto fail = [&](Error error) {
    failed = true;
    if (out.redraws()) {
      failures.push_back(std::move(error));
    } else {
      reportError(error);
    }
  };

  const bool named = !ids.empty();
  std::vector<std::string> given = ids;  // the named sandboxes still measured
  // declawd averages CPU use since the same client process's previous request for a sandbox, or
  // since the sandbox started. So each sandbox is sampled once before it is shown: every row
  // then covers the last interval, not the sandbox's lifetime so far.
  std::set<std::string> primed;
  for (bool first = true; g_interrupted == 0; first = false) {
    const auto round_start = SteadyClock::now();
    auto watched = sandboxesToWatch(api, given);
    if (!watched) {
      if (g_interrupted != 0) break;
      fail(watched.error());
      break;
    }
    std::vector<std::vector<std::string>> rows;
    std::string json_lines;
    std::vector<std::string> measured;
    std::set<std::string> sampled;
    for (const auto& id : *watched) {
      auto metrics = api.sandboxMetrics(id);
      if (g_interrupted != 0) break;
      if (!metrics) {
        // A sandbox of the listing that ended since was not asked for: it just leaves the table.
        if (named) fail(metrics.error());
        continue;
      }
      measured.push_back(id);
      sampled.insert(id);
      if (!primed.contains(id)) continue;
      if (global.json) {
        json_lines += statsJsonLine(id, *metrics);
      } else {
        rows.push_back(statsRow(id, *metrics));
      }
    }
    if (g_interrupted != 0) break;
    // A wrong id ends it at once, as a typo should.
    if (first && failed) break;
    // The first round only primes, unless there is nothing to prime (no live sandbox).
    if (!first || sampled.empty()) {
      auto shown =
          global.json ? out.lines(json_lines) : out.table(formatTable(statsHeader(), rows));
      if (!shown) {
        fail(PlainError() << "stdout: " << shown.error().describe());
        break;
      }
      if (!stream) break;
    }
    // A named sandbox that cannot be measured is not asked for again; with none left, stop.
    if (named) given = measured;
    if (named && given.empty()) break;
    primed = std::move(sampled);
    if (!sleepUntil(round_start + kStatsInterval)) break;
  }
  out.finish();  // before the messages, which must not land on a hidden-cursor screen
  for (const auto& error : failures) reportError(error);
  return failed ? kErrorExitCode : 0;
}

std::optional<uint64_t> oomKillCount(ApiClient& api, const std::string& id) {
  auto metrics = api.sandboxMetrics(id);
  if (!metrics) return std::nullopt;
  auto it = metrics->find("oom_kills");
  if (it == metrics->end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

bool oomKilled(ApiClient& api, const std::string& id, const ExitEvent& exit,
               std::optional<uint64_t> kills_before) {
  if (exit.oom_killed) return *exit.oom_killed;
  if (!kills_before || !mayBeOomKill(exit.signal, exit.exit_code)) return false;
  auto kills_after = oomKillCount(api, id);
  return kills_after && *kills_after > *kills_before;
}

void reportOomKill(ApiClient& api, const std::string& id) {
  auto info = api.getSandbox(id);
  std::cerr << "declawctl: " << oomNote(info ? *info : nlohmann::json()) << "\n" << std::flush;
}

}  // namespace declaw::ctl
