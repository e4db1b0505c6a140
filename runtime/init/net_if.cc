#include "runtime/init/net_if.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>

#include "common/io.h"
#include "common/unique_fd.h"
#include "runtime/init/netlink.h"

namespace declaw::runtime::init {

namespace {

constexpr const char* kProcSys = "/proc/sys/";

bool isValidIfName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "lo" || name == "." || name == "..") {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

size_t addressBytes(int family) { return family == AF_INET ? 4 : 16; }

bool parseAddress(int family, const std::string& text, std::array<uint8_t, 16>& out) {
  out.fill(0);
  return ::inet_pton(family, text.c_str(), out.data()) == 1;
}

bool samePrefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8;
    int mask = 0x80 >> (i % 8);
    if ((a[byte] & mask) != (b[byte] & mask)) return false;
  }
  return true;
}

// One family's address, prefix and gateway; `field` names them in errors ("address6").
Result<IfAddress> planAddress(int family, const std::string& field, const std::string& address,
                              uint32_t prefix_len, const std::string& gateway) {
  IfAddress a;
  a.family = family;
  const int bits = static_cast<int>(addressBytes(family) * 8);
  if (!parseAddress(family, address, a.address)) {
    return ErrnoError(EINVAL) << "network " << field << " '" << address << "' is not an IPv"
                              << (family == AF_INET ? 4 : 6) << " address";
  }
  // The gateway must be on the link: a /32 or /128 would need an on-link route, which the pool's
  // /30 and /126 never do.
  if (prefix_len < 1 || prefix_len > static_cast<uint32_t>(bits - 1)) {
    return ErrnoError(EINVAL) << "network " << field << " prefix length " << prefix_len
                              << " is not 1.." << bits - 1;
  }
  a.prefix_len = static_cast<uint8_t>(prefix_len);
  if (!parseAddress(family, gateway, a.gateway)) {
    return ErrnoError(EINVAL) << "network gateway for " << field << " '" << gateway
                              << "' is not an address of the same family";
  }
  if (a.gateway == a.address || !samePrefix(a.address, a.gateway, a.prefix_len)) {
    return ErrnoError(EINVAL) << "network gateway " << gateway << " is not another address in "
                              << address << "/" << prefix_len;
  }
  a.text = address + "/" + std::to_string(prefix_len) + " via " + gateway;
  return a;
}

std::string ipv6Conf(const std::string& interface, const char* knob) {
  return "net/ipv6/conf/" + interface + "/" + knob;
}

Result<void> writeSysctl(const SysctlWrite& s) {
  const std::string path = kProcSys + s.path;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd && errno == ENOENT && s.missing_ok) return {};
  if (!fd) return ErrnoError() << "open " << path;
  if (auto r = writeAll(fd.get(), s.value); !r) {
    return ErrnoError(r.error().code) << "write " << s.value << " to " << path;
  }
  return {};
}

Result<void> addAddress(RtnetlinkSocket& nl, int ifindex, const std::string& ifname,
                        const IfAddress& a) {
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(a.family);
  ifa.ifa_prefixlen = a.prefix_len;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = static_cast<uint32_t>(ifindex);
  // Usable at once: the only other node on the link is the host end, whose address differs by
  // construction, so duplicate address detection could only delay the first packets.
  if (a.family == AF_INET6) ifa.ifa_flags = IFA_F_NODAD;
  NetlinkRequest req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  req.attr(IFA_LOCAL, a.address.data(), addressBytes(a.family));
  req.attr(IFA_ADDRESS, a.address.data(), addressBytes(a.family));
  return nl.run(req, "RTM_NEWADDR " + ifname + " " + a.text);
}

Result<void> setUp(RtnetlinkSocket& nl, int ifindex, const std::string& ifname) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  NetlinkRequest req(RTM_NEWLINK, 0, &ifi, sizeof ifi);
  return nl.run(req, "RTM_NEWLINK " + ifname + " up");
}

Result<void> addDefaultRoute(RtnetlinkSocket& nl, int ifindex, const std::string& ifname,
                             const IfAddress& a) {
  rtmsg rt{};
  rt.rtm_family = static_cast<uint8_t>(a.family);
  rt.rtm_dst_len = 0;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  NetlinkRequest req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
  req.attr(RTA_GATEWAY, a.gateway.data(), addressBytes(a.family));
  req.attrU32(RTA_OIF, static_cast<uint32_t>(ifindex));
  return nl.run(req, "RTM_NEWROUTE default " + ifname + " " + a.text);
}

}  // namespace

Result<NetPlan> planNetwork(const NetworkConfig& config) {
  NetPlan plan;
  if (!isValidIfName(config.interface)) {
    return ErrnoError(EINVAL) << "network interface name '" << config.interface << "' is not 1.."
                              << IFNAMSIZ - 1 << " of [A-Za-z0-9_.-] (nor lo)";
  }
  plan.interface = config.interface;
  auto v4 = planAddress(AF_INET, "address", config.address, config.prefix_len, config.gateway);
  if (!v4) return v4.error();
  plan.v4 = std::move(*v4);
  if (!config.nameserver.empty()) {
    std::array<uint8_t, 16> ignored{};
    if (!parseAddress(AF_INET, config.nameserver, ignored) &&
        !parseAddress(AF_INET6, config.nameserver, ignored)) {
      return ErrnoError(EINVAL) << "network nameserver '" << config.nameserver
                                << "' is not an address";
    }
  }
  if (config.hasIpv6()) {
    auto v6 =
        planAddress(AF_INET6, "address6", config.address6, config.prefix_len6, config.gateway6);
    if (!v6) return v6.error();
    plan.v6 = std::move(*v6);
    // Routes come from the config alone: router advertisements (which sandbox code holding
    // CAP_NET_RAW could forge on its own link) are ignored.
    plan.sysctls.push_back({ipv6Conf(plan.interface, "accept_ra"), "0", false});
  } else {
    if (!config.gateway6.empty()) {
      return ErrnoError(EINVAL) << "network gateway6 given without address6";
    }
    // Off before the link comes up, so it never gets even a link-local address. On this
    // interface and on any created later ("default"); lo keeps ::1, which cannot leave the
    // sandbox and which /etc/hosts names as localhost.
    plan.sysctls.push_back({ipv6Conf(plan.interface, "disable_ipv6"), "1", true});
    plan.sysctls.push_back({ipv6Conf("default", "disable_ipv6"), "1", true});
  }
  return plan;
}

Result<void> applyNetwork(const NetPlan& plan) {
  const int ifindex = static_cast<int>(::if_nametoindex(plan.interface.c_str()));
  if (ifindex == 0) {
    return ErrnoError(errno == ENXIO ? ENODEV : errno)
           << "network interface " << plan.interface
           << " is not in the sandbox's network namespace (the daemon moves it in before "
              "sending the config)";
  }
  for (const SysctlWrite& s : plan.sysctls) {
    if (auto r = writeSysctl(s); !r) return r;
  }
  auto nl = RtnetlinkSocket::open();
  if (!nl) return nl.error();
  if (auto r = addAddress(*nl, ifindex, plan.interface, plan.v4); !r) return r;
  if (plan.v6) {
    if (auto r = addAddress(*nl, ifindex, plan.interface, *plan.v6); !r) return r;
  }
  // Up before the routes: the kernel checks that a gateway is reachable through a connected
  // route, and IPv4 installs those for addresses of interfaces that are up.
  if (auto r = setUp(*nl, ifindex, plan.interface); !r) return r;
  if (auto r = addDefaultRoute(*nl, ifindex, plan.interface, plan.v4); !r) return r;
  if (plan.v6) {
    if (auto r = addDefaultRoute(*nl, ifindex, plan.interface, *plan.v6); !r) return r;
  }
  return {};
}

Result<void> configureNetwork(const NetworkConfig& config) {
  auto plan = planNetwork(config);
  if (!plan) return plan.error();
  return applyNetwork(*plan);
}

}  // namespace declaw::runtime::init
