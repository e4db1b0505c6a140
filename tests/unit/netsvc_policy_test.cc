// What the DNS stub answers and what the egress proxy connects to, for a sandbox's policy:
// the decisions behind both services, without sockets.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "netpolicy/dns_message.h"
#include "netpolicy/policy.h"
#include "netpolicy_tls_samples.h"
#include "netsvc/proxy_policy.h"
#include "netsvc/stub_policy.h"

using namespace declaw::netsvc;
using namespace declaw::netpolicy;
using Strings = std::vector<std::string>;

namespace {

// As in netpolicy_policy_test: the pool 198.18.0.0/16 holds the sandboxes, 203.0.113.5 is the
// host, 198.19.0.0/16 plays the internet.
Decider deciderFor(Strings allow, Strings deny = {}, bool internet = true) {
  Boundaries b = Boundaries::defaults();
  b.always_denied.add(cidrLiteral("198.18.0.0/16"));
  b.always_denied.add(cidrLiteral("203.0.113.5"));
  auto p = parsePolicy({internet, std::move(allow), std::move(deny)});
  REQUIRE(p.ok());
  return Decider(*p, b);
}

DnsQuery question(const std::string& name, uint16_t qtype, uint16_t qclass = kDnsClassIn) {
  DnsQuery q;
  q.id = 7;
  q.name = name;
  q.qtype = qtype;
  q.qclass = qclass;
  return q;
}

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> fromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

SniffResult sniff(std::span<const uint8_t> data) { return sniffFirstBytes(protocolOf(data), data); }

const IpAddress kInternet = ipLiteral("198.19.0.10");

}  // namespace

// --- the DNS stub ---

TEST_CASE("the stub resolves A and AAAA for an allowed name, and ANY as both") {
  Decider d = deciderFor({"allowed.test"});
  StubPlan a = planStubQuery(d, question("allowed.test", 1));
  CHECK(a.step == StubStep::kResolve);
  CHECK(a.qtypes == std::vector<uint16_t>{1});
  CHECK_FALSE(a.refusal);
  CHECK(planStubQuery(d, question("allowed.test", 28)).qtypes == std::vector<uint16_t>{28});
  CHECK(planStubQuery(d, question("allowed.test", 255)).qtypes == std::vector<uint16_t>{1, 28});
}

TEST_CASE("a name the policy denies gets NXDOMAIN, and nothing is resolved") {
  Decider d = deciderFor({"allowed.test", "*.example.test"}, {"denied.example.test"});
  for (const char* name : {"blocked.test", "example.test", "c2VjcmV0.exfil.test"}) {
    INFO(name);
    StubPlan p = planStubQuery(d, question(name, 1));
    CHECK(p.step == StubStep::kReply);
    CHECK(p.rcode == DnsRcode::kNxDomain);
    CHECK(p.refusal);
    CHECK(p.qtypes.empty());
  }
  CHECK(planStubQuery(d, question("blocked.test", 1)).why == "not in allow_out");
  CHECK(planStubQuery(d, question("a.example.test", 1)).step == StubStep::kResolve);
  // Allow wins over deny, as everywhere in the policy.
  CHECK(planStubQuery(d, question("denied.example.test", 1)).step == StubStep::kResolve);
}

TEST_CASE("TXT, MX, SRV and HTTPS queries are refused even for allowed names") {
  Decider d = deciderFor({"allowed.test"});
  for (uint16_t type : {16, 15, 33, 65, 64, 12, 5}) {
    INFO(type);
    StubPlan p = planStubQuery(d, question("allowed.test", type));
    CHECK(p.step == StubStep::kReply);
    CHECK(p.rcode == DnsRcode::kRefused);
    CHECK(p.refusal);
  }
  CHECK(planStubQuery(d, question("allowed.test", 1, 3)).rcode == DnsRcode::kRefused);  // CHAOS
}

TEST_CASE("names that are not host names get NXDOMAIN, under any policy") {
  Decider open = deciderFor({});
  CHECK(planStubQuery(open, question("", 1)).rcode == DnsRcode::kNxDomain);
  CHECK(planStubQuery(open, question("_dmarc.example.test", 1)).rcode == DnsRcode::kNxDomain);
  CHECK(planStubQuery(open, question("10.0.0.1", 1)).rcode == DnsRcode::kNxDomain);
}

TEST_CASE("a sandbox without internet access gets no answer for any name") {
  Decider d = deciderFor({"allowed.test"}, {}, false);
  CHECK(planStubQuery(d, question("allowed.test", 1)).rcode == DnsRcode::kNxDomain);
}

TEST_CASE("private, link-local and host addresses are left out of an allowed name's answer") {
  Decider d = deciderFor({"allowed.test"});
  std::vector<IpAddress> upstream = {kInternet,
                                     ipLiteral("10.1.2.3"),
                                     ipLiteral("169.254.169.254"),
                                     ipLiteral("127.0.0.1"),
                                     ipLiteral("203.0.113.5"),
                                     ipLiteral("198.18.0.6"),
                                     ipLiteral("fd00::1"),
                                     ipLiteral("::ffff:10.0.0.1")};
  FilteredAnswer f = filterAnswer(d, "allowed.test", upstream);
  CHECK(f.allowed == std::vector{kInternet});
  REQUIRE(f.refused.size() == 7);
  CHECK(f.refused[0].second == Reason::kPrivateRange);
  CHECK(f.refused[1].second == Reason::kAlwaysDenied);
}

TEST_CASE("an allow_out CIDR inside a private range lets the name answer with it") {
  Decider d = deciderFor({"internal.test", "10.1.0.0/16"});
  FilteredAnswer f =
      filterAnswer(d, "internal.test", std::vector{ipLiteral("10.1.2.3"), ipLiteral("10.2.0.1")});
  CHECK(f.allowed == std::vector{ipLiteral("10.1.2.3")});
}

TEST_CASE("under a deny-list policy a denied CIDR is left out of a name allowed by default") {
  Decider d = deciderFor({}, {"198.19.9.0/24"});
  FilteredAnswer f =
      filterAnswer(d, "anything.test", std::vector{kInternet, ipLiteral("198.19.9.9")});
  CHECK(f.allowed == std::vector{kInternet});
}

// --- the egress proxy ---

TEST_CASE("the proxy tells TLS from HTTP by the first byte") {
  CHECK(protocolOf(fromHex(declaw::testing::kClientHelloTls13)) == ProxyProtocol::kTls);
  CHECK(protocolOf(bytes("GET / HTTP/1.1\r\n")) == ProxyProtocol::kHttp);
  CHECK(protocolOf(bytes("SSH-2.0-OpenSSH_9.2\r\n")) == ProxyProtocol::kHttp);
}

TEST_CASE("an allowed SNI name is resolved by the proxy, a blocked one refused") {
  Decider d = deciderFor({"a.example.test"});
  auto hello = fromHex(declaw::testing::kClientHelloTls13);  // SNI a.example.test
  ProxyPlan p = planConnection(d, sniff(hello), kInternet);
  CHECK(p.step == ProxyStep::kResolveName);
  CHECK(p.name == "a.example.test");

  Decider other = deciderFor({"allowed.test"});
  ProxyPlan refused = planConnection(other, sniff(hello), kInternet);
  CHECK(refused.step == ProxyStep::kRefuse);
  CHECK(refused.why == "not in allow_out");
}

TEST_CASE("Host: blocked.test to an allowed name's address is refused by name") {
  Decider d = deciderFor({"allowed.test"});
  ProxyPlan p = planConnection(
      d, sniff(bytes("GET / HTTP/1.1\r\nHost: blocked.test\r\nAccept: */*\r\n\r\n")), kInternet);
  CHECK(p.step == ProxyStep::kRefuse);
  CHECK(p.name == "blocked.test");
  ProxyPlan ok =
      planConnection(d, sniff(bytes("GET / HTTP/1.1\r\nHost: Allowed.Test:80\r\n\r\n")), kInternet);
  CHECK(ok.step == ProxyStep::kResolveName);
  CHECK(ok.name == "allowed.test");
}

TEST_CASE("without a name, the original destination address decides") {
  Decider by_cidr = deciderFor({"allowed.test", "198.19.0.0/24"});
  Decider by_name = deciderFor({"allowed.test"});
  auto no_sni = fromHex(declaw::testing::kClientHelloNoSni);
  CHECK(planConnection(by_cidr, sniff(no_sni), kInternet).step == ProxyStep::kConnectOriginal);
  CHECK(planConnection(by_name, sniff(no_sni), kInternet).step == ProxyStep::kRefuse);
  auto http10 = bytes("GET / HTTP/1.0\r\n\r\n");
  CHECK(planConnection(by_cidr, sniff(http10), kInternet).step == ProxyStep::kConnectOriginal);
  CHECK(planConnection(by_name, sniff(http10), kInternet).step == ProxyStep::kRefuse);
}

TEST_CASE("an IP literal in Host is judged as the original destination, not as a name") {
  Decider d = deciderFor({"allowed.test"});
  auto literal = bytes("GET / HTTP/1.1\r\nHost: 198.19.0.10\r\n\r\n");
  CHECK(planConnection(d, sniff(literal), kInternet).step == ProxyStep::kRefuse);
  Decider open = deciderFor({});
  CHECK(planConnection(open, sniff(literal), kInternet).step == ProxyStep::kConnectOriginal);
  CHECK(planConnection(open, sniff(literal), ipLiteral("169.254.169.254")).step ==
        ProxyStep::kRefuse);
}

TEST_CASE("ambiguous or foreign first bytes are refused, even under an open policy") {
  Decider open = deciderFor({});
  for (const char* text : {"GET / HTTP/1.1\r\nHost: allowed.test\r\nHost: blocked.test\r\n\r\n",
                           "GET http://blocked.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n",
                           "SSH-2.0-OpenSSH_9.2\r\n"}) {
    INFO(text);
    ProxyPlan p = planConnection(open, sniff(bytes(text)), kInternet);
    CHECK(p.step == ProxyStep::kRefuse);
    CHECK_FALSE(p.why.empty());
  }
}

TEST_CASE("the proxy connects only to allowed addresses, the sandbox's own choice first") {
  Decider d = deciderFor({"allowed.test"});
  std::vector<IpAddress> resolved = {ipLiteral("2001:db8::10"), ipLiteral("198.19.0.11"),
                                     ipLiteral("10.0.0.1"), kInternet, ipLiteral("169.254.1.1")};
  UpstreamPlan p = planUpstream(d, "allowed.test", resolved, kInternet);
  CHECK(p.order == std::vector{kInternet, ipLiteral("198.19.0.11"), ipLiteral("2001:db8::10")});
  CHECK(p.refused.size() == 2);

  UpstreamPlan only_private =
      planUpstream(d, "allowed.test", std::vector{ipLiteral("10.0.0.1")}, kInternet);
  CHECK(only_private.order.empty());
  CHECK(only_private.refused.front().second == Reason::kPrivateRange);
}

TEST_CASE("at most kMaxConnectAttempts addresses are tried") {
  Decider d = deciderFor({"allowed.test"});
  std::vector<IpAddress> many;
  for (int i = 1; i <= 10; ++i) many.push_back(ipLiteral("198.19.0." + std::to_string(i)));
  CHECK(planUpstream(d, "allowed.test", many, kInternet).order.size() == kMaxConnectAttempts);
}

TEST_CASE("an HTTP refusal is a 403 naming the host and the reason; TLS gets an alert") {
  std::string http = refusalMessage(ProxyProtocol::kHttp, "blocked.test", "not in allow_out");
  CHECK(http.starts_with("HTTP/1.1 403 Forbidden\r\n"));
  CHECK(http.find("Connection: close\r\n") != std::string::npos);
  CHECK(http.find("blocked.test is not allowed") != std::string::npos);
  size_t body = http.find("\r\n\r\n") + 4;
  CHECK(http.find("Content-Length: " + std::to_string(http.size() - body)) != std::string::npos);

  std::string tls = refusalMessage(ProxyProtocol::kTls, "blocked.test", "not in allow_out");
  CHECK(tls == std::string("\x15\x03\x03\x00\x02\x02\x31", 7));  // fatal access_denied
  CHECK(unreachableMessage(ProxyProtocol::kHttp, "x.test").starts_with("HTTP/1.1 502"));
}
