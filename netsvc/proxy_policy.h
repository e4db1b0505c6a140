// The egress proxy's decisions, as pure functions over a sandbox's Decider (no sockets).
//
// For each redirected connection the proxy reads the first bytes (sniff.h) and then:
//   - a TLS ClientHello with SNI, or an HTTP request with a Host header naming a host: the name
//     decides (decideName); an allowed name is resolved by declawd itself and the connection goes
//     to one of its addresses that decideConnection allows, on the original destination's port.
//     The original destination address is tried first when it is among them, so the sandbox's
//     own choice among a name's addresses is kept.
//   - no name (a ClientHello without SNI, an HTTP/1.0 request without Host) or an IP literal as
//     the name: the original destination address decides (decideAddress) and is connected to.
//   - bytes that are neither, or that two parsers could read differently (duplicate Host
//     headers, two SNI names, ...): refused. Only TLS and HTTP are proxied on 80 and 443.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netpolicy/addr.h"
#include "netpolicy/policy.h"
#include "netpolicy/sniff.h"

namespace declaw::netsvc {

// Upstream addresses tried per connection.
inline constexpr size_t kMaxConnectAttempts = 4;

enum class ProxyProtocol { kTls, kHttp };

// TLS when the first byte is a handshake record's (22), HTTP otherwise. `data` is not empty.
ProxyProtocol protocolOf(std::span<const uint8_t> data);
netpolicy::SniffResult sniffFirstBytes(ProxyProtocol protocol, std::span<const uint8_t> data);
// How many bytes the sniffer for `protocol` may need at most.
size_t sniffLimit(ProxyProtocol protocol);

enum class ProxyStep {
  kRefuse,           // close, after refusalMessage
  kConnectOriginal,  // connect to the original destination
  kResolveName,      // resolve `name`, then planUpstream
};

struct ProxyPlan {
  ProxyStep step = ProxyStep::kRefuse;
  // The normalised name to resolve; for logs, what was found (a name, an IP literal, or "").
  std::string name;
  std::string why;  // why it was refused: "not in allow_out", "duplicate Host header", ...
};

// `sniff` must not be kNeedMore.
ProxyPlan planConnection(const netpolicy::Decider& decider, const netpolicy::SniffResult& sniff,
                         const netpolicy::IpAddress& original_destination);

struct UpstreamPlan {
  std::vector<netpolicy::IpAddress> order;  // at most kMaxConnectAttempts, best first
  std::vector<std::pair<netpolicy::IpAddress, netpolicy::Reason>> refused;
};

// Orders the addresses `name` resolved to: refused ones out, the original destination first
// when allowed, then addresses of its family, then the rest.
UpstreamPlan planUpstream(const netpolicy::Decider& decider, std::string_view name,
                          std::span<const netpolicy::IpAddress> resolved,
                          const netpolicy::IpAddress& original_destination);

// What the client gets before the close: for HTTP a 403 saying which host was refused and why,
// for TLS a fatal access_denied alert (RFC 8446 section 6.2), which clients report as such
// rather than as a reset.
std::string refusalMessage(ProxyProtocol protocol, std::string_view host, std::string_view why);
// When the upstream cannot be reached: HTTP 502, TLS internal_error.
std::string unreachableMessage(ProxyProtocol protocol, std::string_view host);

}  // namespace declaw::netsvc
