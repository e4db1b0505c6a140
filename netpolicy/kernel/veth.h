// The veth pair that gives a sandbox its network, made with libnl-3 (libnl-route-3).
//
// Plan, then apply. planSandboxVeth turns a sandbox key and its pool lease into a VethPlan value
// (names, the host end's addresses and sysctls), unit-tested without root; createVeth makes it:
//
//   1. RTM_NEWLINK veth: the host end `dcw<key>` in the calling thread's netns, its peer created
//      directly in the sandbox's netns (IFLA_NET_NS_FD inside VETH_INFO_PEER) under its final
//      name (eth0). One request: when it is acknowledged, the peer is in the sandbox, so the
//      daemon may send the InitConfig right after. Both ends start down.
//   2. the host end's sysctls, while it is down (no IPv6 link-local address appears first)
//   3. the host end's addresses: the lease's .1/30 (and ::1/126, without DAD)
//   4. the host end up. The peer stays down until declaw-init configures and raises it.
//
// If any step fails, the link is deleted again: createVeth leaves a pair or nothing. Deleting
// either end deletes both, and a namespace's end vanishes with the namespace, so a sandbox whose
// init died takes its veth with it; deleteLink is for kill and for crash cleanup.
//
// Everything here acts in the calling thread's network namespace (the host's, in the daemon;
// tests run it inside their own with netns.h) and needs CAP_NET_ADMIN there.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "netpolicy/addr.h"
#include "netpolicy/address_pool.h"
#include "netpolicy/kernel/sysctl.h"

namespace declaw::netpolicy {

// The sandbox end's name inside its namespace.
inline constexpr std::string_view kSandboxIfName = "eth0";

struct InterfaceAddress {
  IpAddress address;
  int prefix_len = 0;
  bool operator==(const InterfaceAddress&) const = default;
};

struct VethPlan {
  std::string host_name;  // "dcw<key>", in the caller's netns
  std::string peer_name;  // "eth0", in the peer netns
  std::vector<InterfaceAddress> host_addresses;
  std::vector<SysctlSetting> host_sysctls;  // for the host end, applied while it is down
};

// True for a name the kernel accepts for a new link: 1..15 bytes (IFNAMSIZ with its NUL), not
// "." or "..", no '/', ':' or whitespace.
bool isValidIfName(std::string_view name);

// The sandbox's veth: host end hostIfName(key) with lease.v4.host/30 (and lease.v6->host/126),
// peer `peer_name`. The host end's stance, what the nft table also enforces (defence in depth):
//   rp_filter=1          strict reverse-path check: a source the sandbox does not route to is
//                        dropped (effective value is max(conf/all, this): loose if all says 2)
//   accept_redirects=0   the sandbox cannot redirect the host's routes
//   IPv6 without a v6 lease: disable_ipv6=1 (no link-local, no neighbour discovery at all);
//   with one: accept_ra=0, so router advertisements forged by sandbox code (CAP_NET_RAW) cannot
//   give the host a route (CVE-2020-13401 in Docker).
// accept_local stays 0 (the default): a sandbox packet claiming a host address is dropped.
Result<VethPlan> planSandboxVeth(std::string_view key, const Lease& lease,
                                 std::string_view peer_name = kSandboxIfName);

// Creates the pair as planned, its peer in `peer_netns` (openNetnsOf(init pid)). Fails with
// EEXIST when a link of either name exists (the peer's, in its namespace).
Result<void> createVeth(const VethPlan& plan, BorrowedFd peer_netns);

// Deletes the link `name` (and so its peer). A link that does not exist is success: kill and
// crash cleanup may both try.
Result<void> deleteLink(std::string_view name);

// The kernel's counters of a link. For a host end, rx is what the sandbox sent, tx what it got.
struct LinkCounters {
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
};
Result<LinkCounters> linkCounters(std::string_view name);

// The links whose name starts with `prefix` (kHostIfPrefix: every sandbox host end, live or
// left by a crashed daemon), sorted.
Result<std::vector<std::string>> listLinks(std::string_view prefix);

}  // namespace declaw::netpolicy
