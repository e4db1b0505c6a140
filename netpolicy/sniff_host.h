// Internal to sniff_*.cc: the one rule both sniffers apply to a name they found.
#pragma once

#include <string>
#include <string_view>

namespace declaw::netpolicy {

// Lowercases `raw`, drops one trailing dot, and checks that it is a plausible host: 1..253
// bytes of letters, digits, '-', '_' and '.' without an empty label ("a..b", ".a", "a.."), or an
// IPv6 literal (hex digits, ':' and '.').
// The policy's stricter host-name rules come later (decideName); this only keeps control bytes,
// spaces and '%' encodings from reaching logs and comparisons.
bool cleanSniffedHost(std::string_view raw, std::string& out, std::string& reason);

}  // namespace declaw::netpolicy
