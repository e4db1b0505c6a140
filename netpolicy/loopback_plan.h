// The second layer of loopback-only TCP (`network.loopback_inet` without internet access): an
// nftables table in the sandbox's own network namespace that lets packets in and out on `lo`
// only. The first layer is the namespace itself: it has no link but lo, and the sandbox's root
// has no CAP_NET_ADMIN to add one, change a route, or change this table. Pure: the daemon
// applies the document inside the sandbox's namespace (netpolicy/kernel/nft_apply.h).
#pragma once

#include <nlohmann/json.hpp>

namespace declaw::netpolicy {

inline constexpr const char* kLoopbackTable = "declaw_loopback";

// table inet declaw_loopback { chain input/output/forward: policy drop; input: iifname "lo"
// accept; output: oifname "lo" accept }.
nlohmann::json planLoopbackOnly();

}  // namespace declaw::netpolicy
