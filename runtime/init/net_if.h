// The sandbox end of its veth: address, default route and IPv6 stance, from the InitConfig's
// NetworkConfig. Plan, then apply: planNetwork validates and turns the config into a value the
// unit tests read; applyNetwork is the dumb rtnetlink and sysctl step.
//
// Order in init (main.cc): before the root filesystem is built, because the sandbox's own /proc
// has /proc/sys read-only (as Docker has it), while the host's /proc that init still sees shows
// the sysctls of init's network namespace (/proc/sys/net follows the opener's netns) and lets
// namespace root write them.
//
// The interface must already be in the namespace: the daemon creates the veth (peer moved in)
// before it sends the InitConfig, and the move is complete when the kernel acknowledges it. init
// does not wait or poll for it; a missing interface is a setup failure (ENODEV) that names it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

struct SysctlWrite {
  std::string path;  // under /proc/sys: "net/ipv6/conf/eth0/disable_ipv6"
  std::string value;
  // IPv6 knobs where the kernel has no IPv6 (ipv6.disable=1): nothing to turn off.
  bool missing_ok = false;
  bool operator==(const SysctlWrite&) const = default;
};

struct IfAddress {
  int family = 0;  // AF_INET | AF_INET6
  std::array<uint8_t, 16> address{};
  uint8_t prefix_len = 0;
  std::array<uint8_t, 16> gateway{};
  std::string text;  // "198.18.0.2/30 via 198.18.0.1", for error messages
};

struct NetPlan {
  std::string interface;
  std::vector<SysctlWrite> sysctls;  // applied first, while the interface is still down
  IfAddress v4;
  std::optional<IfAddress> v6;
};

// Refuses (EINVAL, naming the field) an interface name that is not 1..15 of [A-Za-z0-9_.-] or is
// "lo", an address that is not of its family, a gateway outside the address's prefix or equal to
// it, a nameserver that is not an address, and half an IPv6 configuration.
Result<NetPlan> planNetwork(const NetworkConfig& config);

// Sysctls, then addresses, link up, default routes, in the calling thread's network namespace.
Result<void> applyNetwork(const NetPlan& plan);

// planNetwork + applyNetwork.
Result<void> configureNetwork(const NetworkConfig& config);

}  // namespace declaw::runtime::init
