// The resolver's side of DNS: the queries declawd sends to the upstream resolver and the
// responses it accepts, plus where the upstream is (--dns-upstream, or the host's
// /etc/resolv.conf). Pure: no sockets.
//
// A response is trusted only as far as it answers the question asked: same id, QR set, the
// question echoed (name compared case-insensitively, type and class), and only the answer
// records that the CNAME chain starting at the asked name reaches. Authority and additional
// records are never read, so a glue record cannot plant an address for another name.
// Compression pointers must point backwards (no loops) and a name may follow at most
// kMaxDnsPointerJumps of them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "netpolicy/addr.h"
#include "netpolicy/dns_message.h"

namespace declaw::netsvc {

using netpolicy::IpAddress;

inline constexpr uint16_t kDefaultDnsPort = 53;
// The EDNS UDP payload size declawd advertises upstream (the DNS flag day 2020 value): large
// enough for ordinary A/AAAA answers, small enough not to fragment.
inline constexpr uint16_t kUpstreamEdnsPayload = 1232;
inline constexpr size_t kMaxDnsPointerJumps = 16;
// CNAME hops followed from the asked name; longer chains answer nothing.
inline constexpr size_t kMaxCnameChain = 8;
// Addresses kept from one response.
inline constexpr size_t kMaxAnswerAddresses = 32;

// An address and port: "192.0.2.1:53", "[2001:db8::1]:53"; a bare address means port 53.
struct SocketAddress {
  IpAddress address;
  uint16_t port = kDefaultDnsPort;

  static Result<SocketAddress> parse(std::string_view text);
  std::string toString() const;
  bool operator==(const SocketAddress&) const = default;
};

// The `nameserver` lines of a resolv.conf(5) text, in order (port 53). IPv6 zone ids
// ("fe80::1%eth0") are skipped: a link-local upstream is not supported.
std::vector<SocketAddress> parseResolvConf(std::string_view text);

// A recursive query for `name` (already normalised) with an EDNS OPT record advertising
// kUpstreamEdnsPayload bytes. Fails for a name that cannot be put on the wire.
Result<std::vector<uint8_t>> buildUpstreamQuery(uint16_t id, std::string_view name, uint16_t qtype);

struct UpstreamAnswer {
  netpolicy::DnsRcode rcode = netpolicy::DnsRcode::kNoError;
  bool truncated = false;
  // The addresses of type qtype at the end of the CNAME chain, at most kMaxAnswerAddresses.
  std::vector<IpAddress> addresses;
  // The smallest TTL among the records used (CNAMEs included); 0 when there are none.
  uint32_t ttl = 0;
};

// Checks `message` against the query (id, name, qtype) and reads its answer. Errors say why the
// response was not accepted; the caller then waits for another or tries the next upstream.
Result<UpstreamAnswer> parseUpstreamResponse(std::span<const uint8_t> message, uint16_t id,
                                             std::string_view name, uint16_t qtype);

}  // namespace declaw::netsvc
