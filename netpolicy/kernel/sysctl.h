// Network sysctls of the calling thread's network namespace (/proc/sys/net follows the netns of
// whoever opens it): IPv4 forwarding for the host, and the per-interface stance of veth ends.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace declaw::netpolicy {

struct SysctlSetting {
  std::string path;  // under /proc/sys: "net/ipv4/conf/dcwab12/rp_filter"
  std::string value;
  // IPv6 knobs on a kernel booted with ipv6.disable=1: there is nothing to turn off.
  bool missing_ok = false;
  bool operator==(const SysctlSetting&) const = default;
};

// What a setSysctl did, so that it can be undone.
struct SysctlChange {
  std::string path;
  std::string previous;  // without the trailing newline
  std::string written;
  bool changed = false;  // false: the value was already `written`, nothing was written
};

// The value without its trailing newline.
Result<std::string> readSysctl(std::string_view path);
// Writes `value` unless the sysctl already holds it.
Result<SysctlChange> setSysctl(std::string_view path, std::string_view value);
Result<void> applySysctl(const SysctlSetting& setting);
// Puts `previous` back, but only when setSysctl changed it and it still holds what was written:
// a value someone else set since is theirs, and stays.
Result<void> restoreSysctl(const SysctlChange& change);

inline constexpr std::string_view kIpv4ForwardSysctl = "net/ipv4/ip_forward";

// net.ipv4.ip_forward=1, which masquerading the sandboxes' traffic needs. Writing ip_forward
// also sets every interface's conf/*/forwarding (and so turns off accepting ICMP redirects).
//
// The daemon should restoreSysctl() the returned change at a clean stop: a host left forwarding
// with declaw's table gone routes between all its interfaces, which its admin never asked for.
// restoreSysctl leaves it on when it was on before the daemon started, or when someone set it
// since. Hosts that forward for other reasons too (Docker, libvirt, VPNs) should say so in
// sysctl.d (net.ipv4.ip_forward=1): then declaw never changes it, and so never turns it off.
Result<SysctlChange> enableIpv4Forwarding();

}  // namespace declaw::netpolicy
