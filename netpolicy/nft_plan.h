// The nftables rulesets declawd applies, planned as libnftables JSON documents
// ({"nftables": [commands]}, libnftables-json(5)) for nft_run_cmd_from_buffer with JSON input.
// Planning is pure; the apply step only hands the document to libnftables, one document being
// one atomic transaction.
//
// One table, `inet declaw`, which declawd owns: created at start (after deleting whatever a
// crashed daemon left), deleted at stop. Its base chains act only on traffic from or to the host
// ends of sandbox veths (`dcw*`) and otherwise accept, so the host's own firewall keeps deciding
// everything else:
//   forward     iifname vmap @fwd_vmap; dcw* drop; replies to dcw* accept; dcw* drop
//   input       iifname vmap @in_vmap; dcw* drop          (traffic from sandboxes to the host)
//   prerouting  iifname vmap @nat_vmap                    (nat: the egress proxy redirect)
//   postrouting masquerade the pool towards non-sandbox interfaces
// and the shared interval sets always_denied4/6 and private4/6 (Boundaries).
//
// Each sandbox adds three regular chains, jumped to from the vmaps by its veth's name, a fourth
// that they go to for every drop, and its own sets, so that removing it is deleting its elements
// and objects (no rule handles). "drop" below is `goto sbx_<key>_refuse`, which rejects or drops:
//   sbx_<key>_fwd     anti-spoofing; established accept; always_denied drop; private allows
//                     accept; private drop; allow accept; resolved accept; [udp 443 drop]; deny
//                     drop; default verdict
//   sbx_<key>_in      IPv6 neighbour discovery; anti-spoofing; DNS (and the proxy port) on its
//                     gateway address; drop. The host's addresses are reached through input, not
//                     forward, so this chain is what keeps them out of reach.
//   sbx_<key>_nat     when the policy has name rules: TCP 80/443 to destinations the address
//                     rules do not already decide is redirected to the egress proxy.
//   sbx_<key>_refuse  limit rate kRefusedLogRate/second burst kRefusedLogBurst packets
//                     log prefix "declaw sbx-<key> refused: " level info;
//                     ip saddr <sandbox> meta l4proto tcp counter name sbx_<key>_dropped
//                     reject with tcp reset;
//                     ip saddr <sandbox> counter name sbx_<key>_dropped
//                     reject with icmpx admin-prohibited;
//                     (the same two for ip6 saddr with a v6 lease)
//                     counter name sbx_<key>_dropped drop.
//                     The limit only decides whether a packet is logged (it is a match in a rule
//                     without a verdict); every packet is counted once, and rejected (so the
//                     sandbox's client fails at once) only when its source is the sandbox's own
//                     address: a forged source is dropped, the host answers nobody else.
//   sets sbx_<key>_{allow,allowpriv,deny,resolved}{4,6}; counter sbx_<key>_dropped counts every
//   packet its chains refuse, rejected or dropped.
// The kernel writes log lines only for the initial network namespace, where declawd applies the
// table, unless the host sets net.netfilter.nf_log_all_netns=1 (tests' namespaces log nothing).
// The orders mirror Decider::decideAddress, and the unit tests hold the two together.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "netpolicy/addr.h"
#include "netpolicy/address_pool.h"
#include "netpolicy/policy.h"

namespace declaw::netpolicy {

inline constexpr std::string_view kNftTable = "declaw";
inline constexpr std::string_view kHostIfPrefix = "dcw";
// IFNAMSIZ is 16 with the NUL: "dcw" + 12 characters, the length of a sandbox id's suffix.
inline constexpr size_t kMaxSandboxKeyLength = 12;
inline constexpr uint16_t kDnsPort = 53;
// A sandbox's refused packets are logged at most this many a second, after a burst of
// kRefusedLogBurst: a flood from one sandbox cannot flood the kernel log, and each sandbox has
// its own bucket, so one sandbox's flood does not hide another's refusals.
inline constexpr uint32_t kRefusedLogRate = 10;
inline constexpr uint32_t kRefusedLogBurst = 20;
// The kernel's longest log prefix (NF_LOG_PREFIXLEN less the NUL); longer ones are refused.
inline constexpr size_t kNftLogPrefixMax = 127;

struct TableConfig {
  Cidr pool4;
  std::optional<Cidr> pool6;
  uint16_t proxy_port = 0;  // where the egress proxy listens on each gateway address
  Boundaries boundaries;
};

struct SandboxNet {
  std::string key;  // the sandbox id's random suffix: [a-z0-9], 1..12 characters
  Lease lease;
};

// "dcw" + key, the host end of the sandbox's veth; fails for a key that is not [a-z0-9]{1,12}.
Result<std::string> hostIfName(std::string_view key);

nlohmann::json planTableCreate(const TableConfig& config);
nlohmann::json planTableDelete();
// Replaces the shared Boundaries sets' elements (the host's addresses changed).
nlohmann::json planBoundariesUpdate(const Boundaries& boundaries);

// The sandbox's chains, sets and vmap elements, filled from `decider`. The decider's Boundaries
// must be the table's (config.boundaries): the chains use the shared sets, while the private
// allows are computed from the decider's private ranges.
Result<nlohmann::json> planSandboxAdd(const TableConfig& config, const SandboxNet& sandbox,
                                      const Decider& decider);
// A live policy change: flushes the sandbox's chains and sets and fills them from `decider`.
// Connections already established keep going (the sandbox's chain accepts them before the
// policy rules).
Result<nlohmann::json> planSandboxUpdate(const TableConfig& config, const SandboxNet& sandbox,
                                         const Decider& decider);
Result<nlohmann::json> planSandboxRemove(std::string_view key);

// Addresses the DNS stub just answered for an allowed name (decideConnection said yes), open on
// every port for `ttl_seconds`. Adding an element already present does not extend its timeout.
Result<nlohmann::json> planResolvedAdd(std::string_view key, std::span<const IpAddress> addresses,
                                       uint32_t ttl_seconds);

}  // namespace declaw::netpolicy
