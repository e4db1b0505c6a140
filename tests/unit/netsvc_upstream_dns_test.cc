// The resolver's wire side: the queries it sends read back as proper queries, and a response is
// believed only where it answers the question asked, however it is laid out.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "netpolicy/dns_message.h"
#include "netsvc/upstream_dns.h"

using namespace declaw::netsvc;
using declaw::netpolicy::DnsRcode;
using declaw::netpolicy::ipLiteral;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint16_t kA = 1;
constexpr uint16_t kAAAA = 28;
constexpr uint16_t kCname = 5;
constexpr uint16_t kId = 0xbeef;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

Bytes wireName(const std::string& name) {
  Bytes b;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    b.push_back(static_cast<uint8_t>(dot - start));
    b.insert(b.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  b.push_back(0);
  return b;
}

// A response builder: header, the question, then records appended by the test.
struct Response {
  Bytes bytes;
  uint16_t ancount = 0;

  Response(const std::string& qname, uint16_t qtype, uint16_t flags = 0x8180, uint16_t id = kId) {
    put16(bytes, id);
    put16(bytes, flags);
    put16(bytes, 1);
    put16(bytes, 0);  // ancount, patched by finish()
    put16(bytes, 0);
    put16(bytes, 0);
    Bytes n = wireName(qname);
    bytes.insert(bytes.end(), n.begin(), n.end());
    put16(bytes, qtype);
    put16(bytes, 1);
  }
  // A record whose owner is given as raw bytes (a name or a pointer).
  Response& record(const Bytes& owner, uint16_t type, uint32_t ttl, const Bytes& rdata) {
    bytes.insert(bytes.end(), owner.begin(), owner.end());
    put16(bytes, type);
    put16(bytes, 1);
    put32(bytes, ttl);
    put16(bytes, static_cast<uint16_t>(rdata.size()));
    bytes.insert(bytes.end(), rdata.begin(), rdata.end());
    ++ancount;
    return *this;
  }
  Bytes finish() const {
    Bytes b = bytes;
    b[6] = static_cast<uint8_t>(ancount >> 8);
    b[7] = static_cast<uint8_t>(ancount);
    return b;
  }
};

const Bytes kToQuestion = {0xc0, 0x0c};  // pointer to the question's name at offset 12

Bytes v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

}  // namespace

TEST_CASE("upstream addresses are written as address:port, a bare address meaning port 53") {
  CHECK(SocketAddress::parse("192.0.2.1")->toString() == "192.0.2.1:53");
  CHECK(SocketAddress::parse("192.0.2.1:5353")->port == 5353);
  CHECK(SocketAddress::parse("2001:db8::1")->toString() == "[2001:db8::1]:53");
  CHECK(SocketAddress::parse("[2001:db8::1]:5353")->toString() == "[2001:db8::1]:5353");
  for (const char* bad : {"", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:5x",
                          "[2001:db8::1", "[2001:db8::1]x53", "example.com:53", "[192.0.2.1]:"}) {
    INFO(bad);
    CHECK_FALSE(SocketAddress::parse(bad).ok());
  }
}

TEST_CASE("resolv.conf gives its nameservers in order and skips what is not an address") {
  auto servers = parseResolvConf(
      "# generated\nsearch example.com\nnameserver 192.0.2.53\n  nameserver\t2001:db8::53 # v6\n"
      "nameserver fe80::1%eth0\nnameserverx 192.0.2.9\noptions ndots:1\nnameserver 192.0.2.54\r\n");
  REQUIRE(servers.size() == 3);
  CHECK(servers[0].toString() == "192.0.2.53:53");
  CHECK(servers[1].toString() == "[2001:db8::53]:53");
  CHECK(servers[2].toString() == "192.0.2.54:53");
  CHECK(parseResolvConf("").empty());
}

TEST_CASE(
    "the upstream query is a standard query with an EDNS record, as the stub's parser reads") {
  auto query = buildUpstreamQuery(0x1234, "api.example.com", kAAAA);
  REQUIRE(query.ok());
  auto parsed = declaw::netpolicy::parseDnsQuery(*query);
  REQUIRE(parsed.ok());
  CHECK(parsed->id == 0x1234);
  CHECK(parsed->recursion_desired);
  CHECK(parsed->name == "api.example.com");
  CHECK(parsed->qtype == kAAAA);
  CHECK(query->at(11) == 1);  // ARCOUNT: the OPT record

  CHECK_FALSE(buildUpstreamQuery(1, std::string(64, 'a') + ".com", kA).ok());
  CHECK_FALSE(buildUpstreamQuery(1, "a..com", kA).ok());
}

TEST_CASE("an answer's addresses and smallest TTL are read") {
  Response r("allowed.test", kA);
  r.record(kToQuestion, kA, 300, v4(198, 19, 0, 10))
      .record(kToQuestion, kA, 60, v4(198, 19, 0, 11));
  auto answer = parseUpstreamResponse(r.finish(), kId, "allowed.test", kA);
  REQUIRE(answer.ok());
  CHECK(answer->rcode == DnsRcode::kNoError);
  CHECK(answer->addresses == std::vector{ipLiteral("198.19.0.10"), ipLiteral("198.19.0.11")});
  CHECK(answer->ttl == 60);
}

TEST_CASE("a CNAME chain is followed, with its TTLs, from the name asked") {
  Response r("www.example.test", kA);
  Bytes cdn = wireName("edge.cdn.test");
  r.record(kToQuestion, kCname, 30, cdn);
  r.record(wireName("edge.cdn.test"), kA, 600, v4(198, 19, 1, 1));
  auto answer = parseUpstreamResponse(r.finish(), kId, "www.example.test", kA);
  REQUIRE(answer.ok());
  CHECK(answer->addresses == std::vector{ipLiteral("198.19.1.1")});
  CHECK(answer->ttl == 30);
}

TEST_CASE("records for names off the chain are ignored, whatever section they pretend to be") {
  Response r("allowed.test", kA);
  r.record(wireName("victim.test"), kA, 300, v4(10, 0, 0, 1));
  r.record(kToQuestion, kA, 300, v4(198, 19, 0, 10));
  auto answer = parseUpstreamResponse(r.finish(), kId, "allowed.test", kA);
  REQUIRE(answer.ok());
  CHECK(answer->addresses == std::vector{ipLiteral("198.19.0.10")});
}

TEST_CASE("a response to another question, id or type is not accepted") {
  Response r("allowed.test", kA);
  r.record(kToQuestion, kA, 300, v4(198, 19, 0, 10));
  Bytes ok = r.finish();
  CHECK(parseUpstreamResponse(ok, kId, "allowed.test", kA).ok());
  CHECK_FALSE(parseUpstreamResponse(ok, kId + 1, "allowed.test", kA).ok());
  CHECK_FALSE(parseUpstreamResponse(ok, kId, "other.test", kA).ok());
  CHECK_FALSE(parseUpstreamResponse(ok, kId, "allowed.test", kAAAA).ok());
  Bytes query = ok;
  query[2] &= 0x7f;  // QR clear: a query, not a response
  CHECK_FALSE(parseUpstreamResponse(query, kId, "allowed.test", kA).ok());
  CHECK_FALSE(
      parseUpstreamResponse(Bytes(ok.begin(), ok.begin() + 11), kId, "allowed.test", kA).ok());
}

TEST_CASE("the question is matched without regard to case (0x20 from the upstream)") {
  Response r("AlLoWeD.TeSt", kA);
  r.record(kToQuestion, kA, 300, v4(198, 19, 0, 10));
  auto answer = parseUpstreamResponse(r.finish(), kId, "allowed.test", kA);
  REQUIRE(answer.ok());
  CHECK(answer->addresses.size() == 1);
}

TEST_CASE("compression pointers that loop or point forward are refused") {
  Response self_loop("allowed.test", kA);
  // A record whose owner is a pointer to itself.
  size_t at = self_loop.bytes.size();
  self_loop.record({static_cast<uint8_t>(0xc0 | (at >> 8)), static_cast<uint8_t>(at)}, kA, 1,
                   v4(1, 2, 3, 4));
  CHECK_FALSE(parseUpstreamResponse(self_loop.finish(), kId, "allowed.test", kA).ok());

  Response forward("allowed.test", kA);
  forward.record({0xc0, 0xff}, kA, 1, v4(1, 2, 3, 4));
  CHECK_FALSE(parseUpstreamResponse(forward.finish(), kId, "allowed.test", kA).ok());
}

TEST_CASE("a CNAME loop answers nothing") {
  Response r("a.test", kA);
  r.record(wireName("a.test"), kCname, 60, wireName("b.test"));
  r.record(wireName("b.test"), kCname, 60, wireName("a.test"));
  auto answer = parseUpstreamResponse(r.finish(), kId, "a.test", kA);
  REQUIRE(answer.ok());
  CHECK(answer->addresses.empty());
  CHECK(answer->ttl == 0);
}

TEST_CASE("NXDOMAIN and SERVFAIL come back as rcodes, truncation as a flag") {
  auto nx = parseUpstreamResponse(Response("gone.test", kA, 0x8183).finish(), kId, "gone.test", kA);
  REQUIRE(nx.ok());
  CHECK(nx->rcode == DnsRcode::kNxDomain);
  auto servfail = parseUpstreamResponse(Response("x.test", kA, 0x8182).finish(), kId, "x.test", kA);
  REQUIRE(servfail.ok());
  CHECK(servfail->rcode == DnsRcode::kServFail);

  Response tc("big.test", kA, 0x8380);
  tc.record(kToQuestion, kA, 300, v4(198, 19, 0, 10));
  Bytes cut = tc.finish();
  put16(cut, 0);  // ancount says 1, and half of a second record follows
  cut[7] = 2;
  auto truncated = parseUpstreamResponse(cut, kId, "big.test", kA);
  REQUIRE(truncated.ok());
  CHECK(truncated->truncated);
  CHECK(truncated->addresses.size() == 1);
}

TEST_CASE("A and AAAA records of the wrong size are skipped") {
  Response r("allowed.test", kAAAA);
  r.record(kToQuestion, kAAAA, 300, v4(1, 2, 3, 4));
  Bytes v6(16, 0);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[2] = 0x0d;
  v6[3] = 0xb8;
  v6[15] = 1;
  r.record(kToQuestion, kAAAA, 300, v6);
  auto answer = parseUpstreamResponse(r.finish(), kId, "allowed.test", kAAAA);
  REQUIRE(answer.ok());
  CHECK(answer->addresses == std::vector{ipLiteral("2001:db8::1")});
}
