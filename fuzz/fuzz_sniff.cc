// What the egress proxy and the DNS stub read from sandbox traffic (netpolicy/dns_message.h,
// netpolicy/sniff.h): a DNS query, the first bytes of a TLS connection (SNI), the first bytes of
// an HTTP request (Host). All three parsers see every input.
//
// Input: the bytes a sandbox sends (a UDP payload or the start of a TCP stream).
//
// Invariants:
//   - a sniffer's verdict is final: once a prefix of the stream gives anything but kNeedMore, the
//     whole stream gives the same status and host (the proxy acts on the first verdict; if more
//     bytes could change it, the server could read a name the proxy did not judge);
//   - a found host is what cleanSniffedHost allows: lowercase letters, digits, '-', '_', '.',
//     or an IPv6 literal, 1..253 bytes;
//   - a parsed DNS query has a lowercase name of LDH/underscore labels, and the answers built for
//     it echo its id and question and fit the UDP limit.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "netpolicy/dns_message.h"
#include "netpolicy/sniff.h"

namespace {

namespace np = declaw::netpolicy;
using declaw::fuzz::show;

constexpr int kPrefixChecks = 8;

bool sameVerdict(const np::SniffResult& a, const np::SniffResult& b) {
  return a.status == b.status && a.host == b.host;
}

void checkHost(const np::SniffResult& r) {
  if (r.status == np::SniffStatus::kInvalid) FUZZ_CHECK(!r.reason.empty());
  if (r.status != np::SniffStatus::kFound) {
    FUZZ_CHECK(r.host.empty(), r.host);
    return;
  }
  FUZZ_CHECK(!r.host.empty() && r.host.size() <= 253, show(r.host));
  FUZZ_CHECK(!r.host.ends_with('.'), show(r.host));
  const bool v6 = r.host.find(':') != std::string::npos;
  for (char c : r.host) {
    const bool ok = (c >= '0' && c <= '9') || c == '.' ||
                    (v6 ? ((c >= 'a' && c <= 'f') || c == ':')
                        : ((c >= 'a' && c <= 'z') || c == '-' || c == '_'));
    FUZZ_CHECK(ok, show(r.host));
  }
}

template <typename Sniff>
void checkSniffer(const char* what, Sniff sniff, std::span<const uint8_t> data) {
  const np::SniffResult whole = sniff(data);
  checkHost(whole);
  // Prefixes at points spread over the input (deterministic, so crashes reproduce).
  uint64_t state = data.size() * 0x9e3779b97f4a7c15ull + 1;
  for (int i = 0; i < kPrefixChecks && !data.empty(); ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const size_t cut = i == 0 ? data.size() - 1 : static_cast<size_t>(state % data.size());
    const np::SniffResult part = sniff(data.first(cut));
    checkHost(part);
    if (part.status != np::SniffStatus::kNeedMore) {
      FUZZ_CHECK(sameVerdict(part, whole),
                 std::string(what) + ": prefix of " + std::to_string(cut) + " bytes said '" +
                     part.host + "' (" + part.reason + "), all " + std::to_string(data.size()) +
                     " said '" + whole.host + "' (" + whole.reason + ")");
    }
  }
}

void checkDns(std::span<const uint8_t> data) {
  auto id = np::peekDnsId(data);
  FUZZ_CHECK(id.has_value() == (data.size() >= 2));
  auto query = np::parseDnsQuery(data);
  if (!query) {
    if (id) {
      auto formerr = np::buildDnsHeaderOnly(*id, np::DnsRcode::kFormErr);
      FUZZ_CHECK(formerr.size() == np::kDnsHeaderSize);
    }
    return;
  }
  FUZZ_CHECK(query->id == *id);
  FUZZ_CHECK(query->name.size() < np::kMaxDnsNameWireLength, show(query->name));
  FUZZ_CHECK(!query->name.starts_with('.') && !query->name.ends_with('.'), show(query->name));
  FUZZ_CHECK(query->name.find("..") == std::string::npos, show(query->name));
  for (char c : query->name) {
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.',
               show(query->name));
  }
  FUZZ_CHECK(query->question_wire.size() >= 5 &&
             query->question_wire.size() <= np::kMaxDnsNameWireLength + 4);
  // The question as sent is the message's bytes after the header.
  FUZZ_CHECK(std::equal(query->question_wire.begin(), query->question_wire.end(),
                        data.begin() + np::kDnsHeaderSize));

  auto refused = np::buildDnsError(*query, np::DnsRcode::kRefused);
  FUZZ_CHECK(refused.size() == np::kDnsHeaderSize + query->question_wire.size());
  FUZZ_CHECK(refused[0] == data[0] && refused[1] == data[1]);

  static const std::vector<np::IpAddress> kAddresses = [] {
    std::vector<np::IpAddress> out;
    for (uint32_t i = 0; i < 40; ++i) out.push_back(np::IpAddress::v4(0xc6120000 + i));
    out.push_back(np::ipLiteral("2001:db8::1"));
    return out;
  }();
  auto answer = np::buildDnsAnswer(*query, kAddresses, 60);
  FUZZ_CHECK(answer.size() <= np::kMaxDnsUdpPayload, std::to_string(answer.size()));
  FUZZ_CHECK(answer[0] == data[0] && answer[1] == data[1]);
  FUZZ_CHECK(std::equal(query->question_wire.begin(), query->question_wire.end(),
                        answer.begin() + np::kDnsHeaderSize));
  // ANCOUNT matches the records that follow (A: 16 bytes each, AAAA: 28).
  const size_t ancount = static_cast<size_t>(answer[6] << 8 | answer[7]);
  const size_t records = answer.size() - np::kDnsHeaderSize - query->question_wire.size();
  FUZZ_CHECK(ancount == 0 ? records == 0 : records >= ancount * 16);
  // A response is never taken for a query (the stub must not answer its own packets).
  FUZZ_CHECK(!np::parseDnsQuery(answer), "a response parsed as a query");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  checkDns(bytes);
  checkSniffer("tls", np::sniffTlsServerName, bytes);
  checkSniffer("http", np::sniffHttpHost, bytes);
  return 0;
}
