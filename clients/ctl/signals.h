// Signal names as declawctl accepts and shows them: "TERM", "SIGTERM", "term" or "15" on the
// command line; "TERM" in tables. Numbers are Linux's, from <csignal>, as the sandbox runs on the
// same kernel as declawctl.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace declaw::ctl {

// The range of signal numbers the API takes (docs/api.md, POST .../signal).
inline constexpr int kMinSignal = 1;
inline constexpr int kMaxSignal = 64;

// A name with or without "SIG" in any case, or a number kMinSignal..kMaxSignal.
Result<int> parseSignal(std::string_view text);

// "TERM" for 15; the number as text when the signal has no name here (real-time signals).
std::string signalName(int number);

// The `signal` field of POST .../signal: the name when there is one (what the API documents
// first), else the number.
nlohmann::json signalRequestValue(int number);

}  // namespace declaw::ctl
