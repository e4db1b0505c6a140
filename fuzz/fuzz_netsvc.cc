// The decisions of declawd's network services over hostile bytes (netsvc/): the DNS stub's plan
// for a sandbox's query, the egress proxy's plan for a connection's first bytes, and the
// upstream resolver's reply (which anyone on the path, or the authority of an allowed domain,
// may shape). All three see every input, under three policies.
//
// Input: bytes, read as a sandbox's DNS query, as the first bytes of a proxied connection, and as
// an upstream response to "example.test" (id 0x1234, type A and AAAA).
//
// Invariants: nothing a sandbox sends or an upstream answers makes the stub hand out, or the proxy
// connect to, an address the policy's boundaries forbid (loopback, link-local/metadata, private
// ranges, ...) or a name the policy refuses; the stub resolves only A and AAAA; the proxy tries
// at most kMaxConnectAttempts addresses; an upstream answer has addresses of the asked type only,
// at most kMaxAnswerAddresses.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "netpolicy/dns_message.h"
#include "netpolicy/policy.h"
#include "netsvc/proxy_policy.h"
#include "netsvc/stub_policy.h"
#include "netsvc/upstream_dns.h"

namespace {

namespace np = declaw::netpolicy;
namespace ns = declaw::netsvc;
using declaw::fuzz::show;

constexpr uint16_t kUpstreamId = 0x1234;
constexpr std::string_view kUpstreamName = "example.test";

np::Decider makeDecider(np::NetworkSpec spec) {
  auto policy = np::parsePolicy(spec);
  if (!policy) std::abort();
  return np::Decider(std::move(*policy), np::Boundaries::defaults());
}

const std::vector<np::Decider>& deciders() {
  static const std::vector<np::Decider> all = [] {
    std::vector<np::Decider> out;
    out.push_back(makeDecider({true, {}, {}}));  // everything public
    out.push_back(
        makeDecider({true, {"example.test", "*.allowed.test", "10.1.0.0/16"}, {"ALL_TRAFFIC"}}));
    out.push_back(makeDecider({true, {}, {"*.blocked.test", "93.184.216.0/24"}}));
    out.push_back(makeDecider({false, {"example.test"}, {}}));  // no internet
    return out;
  }();
  return all;
}

// What a resolver might say, from public to forbidden.
const std::vector<np::IpAddress>& resolvedAddresses() {
  static const std::vector<np::IpAddress> all = [] {
    std::vector<np::IpAddress> out;
    for (const char* a : {"93.184.216.34", "198.18.0.10", "2001:db8::10", "10.1.2.3", "10.9.9.9",
                          "127.0.0.1", "169.254.169.254", "::1", "fe80::1", "192.168.1.1",
                          "::ffff:169.254.169.254", "0.0.0.0", "224.0.0.1", "fd00::1"}) {
      out.push_back(np::ipLiteral(a));
    }
    return out;
  }();
  return all;
}

// Addresses no policy here may reach, whatever the name.
bool forbidden(const np::IpAddress& address) {
  static const np::Boundaries boundaries = np::Boundaries::defaults();
  const np::IpAddress a = address.unmapped();
  if (boundaries.always_denied.contains(a)) return true;
  // The only private range any policy above opens is 10.1.0.0/16.
  return boundaries.private_ranges.contains(a) && !np::cidrLiteral("10.1.0.0/16").contains(a);
}

void checkStub(std::span<const uint8_t> data) {
  auto query = np::parseDnsQuery(data);
  if (!query) return;
  for (const np::Decider& decider : deciders()) {
    const ns::StubPlan plan = ns::planStubQuery(decider, *query);
    if (plan.step == ns::StubStep::kReply) continue;
    FUZZ_CHECK(decider.decideName(query->name).allowed(), show(query->name));
    FUZZ_CHECK(!plan.qtypes.empty());
    for (uint16_t qtype : plan.qtypes) {
      FUZZ_CHECK(qtype == static_cast<uint16_t>(np::DnsType::kA) ||
                     qtype == static_cast<uint16_t>(np::DnsType::kAAAA),
                 std::to_string(qtype));
    }
    const ns::FilteredAnswer filtered = ns::filterAnswer(decider, query->name, resolvedAddresses());
    FUZZ_CHECK(filtered.allowed.size() + filtered.refused.size() == resolvedAddresses().size());
    for (const np::IpAddress& a : filtered.allowed) {
      FUZZ_CHECK(!forbidden(a), query->name + " -> " + a.toString());
      FUZZ_CHECK(decider.decideConnection(query->name, a).allowed(), a.toString());
    }
    // The answer the stub sends for them fits a UDP datagram.
    FUZZ_CHECK(np::buildDnsAnswer(*query, filtered.allowed, 30).size() <= np::kMaxDnsUdpPayload);
  }
}

void checkProxy(std::span<const uint8_t> data) {
  if (data.empty()) return;
  const ns::ProxyProtocol protocol = ns::protocolOf(data);
  if (data.size() > ns::sniffLimit(protocol)) return;
  const np::SniffResult sniff = ns::sniffFirstBytes(protocol, data);
  if (sniff.status == np::SniffStatus::kNeedMore) return;
  for (const np::Decider& decider : deciders()) {
    for (const np::IpAddress& original : resolvedAddresses()) {
      const ns::ProxyPlan plan = ns::planConnection(decider, sniff, original);
      switch (plan.step) {
        case ns::ProxyStep::kRefuse: {
          FUZZ_CHECK(!plan.why.empty());
          const std::string message = ns::refusalMessage(protocol, plan.name, plan.why);
          FUZZ_CHECK(!message.empty());
          break;
        }
        case ns::ProxyStep::kConnectOriginal:
          FUZZ_CHECK(!forbidden(original), original.toString());
          FUZZ_CHECK(decider.decideAddress(original).allowed(), original.toString());
          break;
        case ns::ProxyStep::kResolveName: {
          FUZZ_CHECK(sniff.status == np::SniffStatus::kFound);
          FUZZ_CHECK(decider.decideName(plan.name).allowed(), show(plan.name));
          const ns::UpstreamPlan upstream =
              ns::planUpstream(decider, plan.name, resolvedAddresses(), original);
          FUZZ_CHECK(upstream.order.size() <= ns::kMaxConnectAttempts);
          for (const np::IpAddress& a : upstream.order) {
            FUZZ_CHECK(!forbidden(a), plan.name + " -> " + a.toString());
          }
          break;
        }
      }
    }
  }
}

void checkUpstream(std::span<const uint8_t> data) {
  for (np::DnsType type : {np::DnsType::kA, np::DnsType::kAAAA}) {
    auto answer =
        ns::parseUpstreamResponse(data, kUpstreamId, kUpstreamName, static_cast<uint16_t>(type));
    if (!answer) continue;
    FUZZ_CHECK(answer->addresses.size() <= ns::kMaxAnswerAddresses);
    for (const np::IpAddress& a : answer->addresses) {
      FUZZ_CHECK(a.isV4() == (type == np::DnsType::kA), a.toString());
    }
    if (answer->addresses.empty()) FUZZ_CHECK(answer->ttl == 0);
    // What the stub passes on of it is within the boundaries, for any query name.
    for (const np::Decider& decider : deciders()) {
      for (const np::IpAddress& a :
           ns::filterAnswer(decider, kUpstreamName, answer->addresses).allowed) {
        FUZZ_CHECK(!forbidden(a), a.toString());
      }
    }
  }
}

void checkConfigText(std::string_view text) {
  for (const ns::SocketAddress& upstream : ns::parseResolvConf(text)) {
    auto again = ns::SocketAddress::parse(upstream.toString());
    FUZZ_CHECK(again && *again == upstream, upstream.toString());
  }
  if (auto address = ns::SocketAddress::parse(text)) {
    auto again = ns::SocketAddress::parse(address->toString());
    FUZZ_CHECK(again && *again == *address, address->toString());
    FUZZ_CHECK(address->port != 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  checkStub(bytes);
  checkProxy(bytes);
  checkUpstream(bytes);
  checkConfigText(declaw::fuzz::asText(data, size));
  return 0;
}
