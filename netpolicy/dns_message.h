// DNS messages for the stub resolver in declawd (RFC 1035 section 4): parsing the queries a
// sandbox sends, building the only answers the stub gives.
//
// The stub answers allowed names and refuses the rest, so nothing a sandbox puts in a query
// reaches another resolver unless the name is allowed. The parser is deliberately narrow, since
// every byte comes from untrusted code:
//   - a standard query (QR=0, OPCODE=0) with exactly one question, no answer or authority
//     records, and at most one additional record (an EDNS OPT, which is ignored);
//   - the question's name uncompressed: a query has nothing earlier to point at, so compression
//     pointers (and the reserved 0x40/0x80 label types) are refused, which also rules out
//     pointer loops;
//   - labels of 1..63 octets, the whole name at most 255 octets on the wire, label bytes limited
//     to letters, digits, '-' and '_' (SRV and TXT names use '_'), so a label cannot smuggle a '.'
//     or a control byte into the text the policy matches.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "netpolicy/addr.h"

namespace declaw::netpolicy {

inline constexpr size_t kDnsHeaderSize = 12;
inline constexpr size_t kMaxDnsNameWireLength = 255;
inline constexpr size_t kMaxDnsLabelLength = 63;
// The classic UDP payload limit (no EDNS): answers are cut to fit it.
inline constexpr size_t kMaxDnsUdpPayload = 512;

enum class DnsType : uint16_t { kA = 1, kAAAA = 28, kAny = 255 };
inline constexpr uint16_t kDnsClassIn = 1;

enum class DnsRcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

struct DnsQuery {
  uint16_t id = 0;
  bool recursion_desired = false;
  // Lowercase, labels joined by '.', no trailing dot; "" for the root.
  std::string name;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  // The question section as sent (name with its original case, type, class): answers echo it
  // byte for byte, as resolvers using 0x20 case randomisation check.
  std::vector<uint8_t> question_wire;
};

// Parses a query; any violation of the rules above is an error naming it.
Result<DnsQuery> parseDnsQuery(std::span<const uint8_t> message);

// The id of a message at least 2 bytes long: a stub answers FORMERR to what it cannot parse.
std::optional<uint16_t> peekDnsId(std::span<const uint8_t> message);

// A response with `rcode`, no records, and the query's question (NXDOMAIN, REFUSED, SERVFAIL).
std::vector<uint8_t> buildDnsError(const DnsQuery& query, DnsRcode rcode);
// A header-only response for a message that could not be parsed (FORMERR, NOTIMP).
std::vector<uint8_t> buildDnsHeaderOnly(uint16_t id, DnsRcode rcode);

// A NOERROR response answering the query with the addresses that fit its type (IPv4 for A, IPv6
// for AAAA, both for ANY; no records is a valid "no data" answer), each with `ttl` seconds.
// Records that would push the message past `max_size` are left out, not truncated.
std::vector<uint8_t> buildDnsAnswer(const DnsQuery& query, std::span<const IpAddress> addresses,
                                    uint32_t ttl, size_t max_size = kMaxDnsUdpPayload);

}  // namespace declaw::netpolicy
