// A sandbox's network as people read it: the `network` view, the lines `info` adds, and a
// sentence for what its rules let out. Pure, like format.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace declaw::ctl {

// What the rules let out, in words, following the daemon's semantics (docs/api.md, Network):
//   "none (no internet access)", "none (deny_out has ALL_TRAFFIC)",
//   "only what allow_out names", "every public destination except deny_out",
//   "every public destination".
// `network` is a GET .../network answer: allow_internet_access, allow_out, deny_out.
std::string egressSummary(const nlohmann::json& network);

// A rule list as one line: the entries separated by spaces, "-" when empty or absent.
std::string formatRuleList(const nlohmann::json& entries);

// The refusal counts: "dns=0 proxy=2 firewall_packets=17", "-" when absent.
std::string formatRefusals(const nlohmann::json& refused);

// The `network ID` view of a GET (or PATCH) .../network answer: allow_internet_access, egress,
// allow_out, deny_out, address, gateway, address6, interface, refused; aligned.
std::string formatNetwork(const nlohmann::json& network);

// The lines `info` adds for a SandboxInfo's `network` object: allow_out, deny_out, address
// ("198.18.0.6", with the IPv6 address after it when there is one; "-" without a link) and
// refused. An absent network object (an older daemon) shows as "-".
std::vector<std::pair<std::string, std::string>> networkInfoLines(const nlohmann::json& info);

}  // namespace declaw::ctl
