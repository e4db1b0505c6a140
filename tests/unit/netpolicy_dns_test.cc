// DNS messages for the stub: hostile queries are refused, and the answers it builds are read
// back by an independent parser (glibc's libresolv ns_parserr).
#include <arpa/nameser.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "netpolicy/dns_message.h"

using namespace declaw::netpolicy;
using Bytes = std::vector<uint8_t>;

namespace {

struct Header {
  uint16_t id = 0x1234;
  uint16_t flags = 0x0100;  // RD
  uint16_t qd = 1, an = 0, ns = 0, ar = 0;
};

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

Bytes header(const Header& h) {
  Bytes b;
  for (uint16_t v : {h.id, h.flags, h.qd, h.an, h.ns, h.ar}) put16(b, v);
  return b;
}

// Labels as given (no checks), the root label, then type and class.
Bytes query(const std::vector<std::string>& labels, uint16_t qtype = 1, Header h = {}) {
  Bytes b = header(h);
  for (const auto& l : labels) {
    b.push_back(static_cast<uint8_t>(l.size()));
    b.insert(b.end(), l.begin(), l.end());
  }
  b.push_back(0);
  put16(b, qtype);
  put16(b, kDnsClassIn);
  return b;
}

// A default header followed by raw question bytes.
Bytes afterHeader(std::initializer_list<int> tail) {
  Bytes b = header({});
  for (int x : tail) b.push_back(static_cast<uint8_t>(x));
  return b;
}

std::string parseError(const Bytes& b) {
  auto q = parseDnsQuery(b);
  REQUIRE_FALSE(q.ok());
  return q.error().message;
}

// The records of `response` as libresolv reads them.
struct Parsed {
  uint16_t id;
  int rcode;
  int qdcount;
  std::vector<std::pair<int, Bytes>> answers;  // (type, rdata)
  std::vector<uint32_t> ttls;
  std::string answer_name;
};

Parsed readBack(const Bytes& response) {
  ns_msg msg;
  REQUIRE(ns_initparse(response.data(), static_cast<int>(response.size()), &msg) == 0);
  Parsed p;
  // ns_msg_id() is `_id + 0`, an int: narrowing it in braces is ill-formed (clang refuses it).
  p.id = static_cast<uint16_t>(ns_msg_id(msg));
  p.rcode = ns_msg_getflag(msg, ns_f_rcode);
  p.qdcount = ns_msg_count(msg, ns_s_qd);
  CHECK(ns_msg_getflag(msg, ns_f_qr) == 1);
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    REQUIRE(ns_parserr(&msg, ns_s_an, i, &rr) == 0);
    p.answers.emplace_back(ns_rr_type(rr),
                           Bytes(ns_rr_rdata(rr), ns_rr_rdata(rr) + ns_rr_rdlen(rr)));
    p.ttls.push_back(ns_rr_ttl(rr));
    p.answer_name = ns_rr_name(rr);
  }
  return p;
}

}  // namespace

TEST_CASE("a plain A query parses; the name is lowercased, the question kept as sent") {
  Bytes b = query({"Allowed", "Test"});
  auto q = parseDnsQuery(b);
  REQUIRE(q.ok());
  CHECK(q->id == 0x1234);
  CHECK(q->recursion_desired);
  CHECK(q->name == "allowed.test");
  CHECK(q->qtype == 1);
  CHECK(q->qclass == kDnsClassIn);
  CHECK(q->question_wire == Bytes(b.begin() + kDnsHeaderSize, b.end()));
  CHECK(peekDnsId(b) == 0x1234);
}

TEST_CASE("SRV-style names with '_' parse; the root parses as the empty name") {
  auto srv = parseDnsQuery(query({"_http", "_tcp", "example", "test"}, 33));
  REQUIRE(srv.ok());
  CHECK(srv->name == "_http._tcp.example.test");
  auto root = parseDnsQuery(query({}, 2));
  REQUIRE(root.ok());
  CHECK(root->name.empty());
}

TEST_CASE("an EDNS OPT record in the additional section is tolerated") {
  Header h;
  h.ar = 1;
  Bytes b = query({"a", "test"}, 1, h);
  for (uint8_t x : {0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0}) b.push_back(x);  // OPT, 1232 bytes
  CHECK(parseDnsQuery(b).ok());
}

TEST_CASE("malformed and hostile queries are refused with a reason") {
  Header response;
  response.flags = 0x8100;
  Header notify;
  notify.flags = 0x2000;  // opcode 4
  Header with_rcode;
  with_rcode.flags = 0x0003;
  Header two_questions;
  two_questions.qd = 2;
  Header no_question;
  no_question.qd = 0;
  Header answers;
  answers.an = 1;
  Header authority;
  authority.ns = 1;
  Header additional;
  additional.ar = 2;

  Bytes pointer = afterHeader({0xc0, 0x0c, 0, 1, 0, 1});  // points at itself
  Bytes pointer_after_label = afterHeader({1, 'a', 0xc0, 0x0c, 0, 1, 0, 1});
  Bytes reserved = afterHeader({0x40, 'a', 0, 0, 1, 0, 1});
  Bytes label_past_end = afterHeader({10, 'a', 'b'});
  Bytes unterminated = afterHeader({1, 'a'});
  Bytes no_class = query({"a", "test"});
  no_class.resize(no_class.size() - 2);

  struct Case {
    Bytes bytes;
    const char* error;
  };
  const Case cases[] = {
      {{}, "DNS message shorter than its header"},
      {Bytes(11, 0), "DNS message shorter than its header"},
      {query({"a"}, 1, response), "DNS message is a response, not a query"},
      {query({"a"}, 1, notify), "DNS opcode is not QUERY"},
      {query({"a"}, 1, with_rcode), "DNS query carries an rcode"},
      {query({"a"}, 1, two_questions), "DNS query must have exactly one question"},
      {query({"a"}, 1, no_question), "DNS query must have exactly one question"},
      {query({"a"}, 1, answers), "DNS query carries answer or authority records"},
      {query({"a"}, 1, authority), "DNS query carries answer or authority records"},
      {query({"a"}, 1, additional), "DNS query has more than one additional record"},
      {pointer, "compression pointer in a DNS query name"},
      {pointer_after_label, "compression pointer in a DNS query name"},
      {reserved, "reserved DNS label type"},
      {query({std::string(64, 'a')}), "reserved DNS label type"},  // 64 = 0x40
      {label_past_end, "DNS label runs past the message"},
      {unterminated, "DNS name runs past the message"},
      {header({}), "DNS name runs past the message"},
      {no_class, "DNS question is missing its type or class"},
      {query({"a.b", "test"}), "DNS label contains a byte outside [A-Za-z0-9_-]"},
      {query({std::string("a\0b", 3)}), "DNS label contains a byte outside [A-Za-z0-9_-]"},
      {query({"caf\xc3\xa9"}), "DNS label contains a byte outside [A-Za-z0-9_-]"},
  };
  for (const auto& c : cases) {
    INFO(c.error);
    CHECK(parseError(c.bytes) == c.error);
  }
}

TEST_CASE("names stop at 255 octets on the wire and labels at 63") {
  std::string l63(63, 'a');
  // 3 x (1 + 63) + (1 + 61) + 1 = 255
  CHECK(parseDnsQuery(query({l63, l63, l63, std::string(61, 'b')})).ok());
  CHECK(parseError(query({l63, l63, l63, std::string(62, 'b')})) ==
        "DNS name longer than 255 octets");
  CHECK(parseError(query({l63, l63, l63, l63, l63})) == "DNS name longer than 255 octets");
}

TEST_CASE("a refusal echoes the id, RD and question with the rcode") {
  auto q = parseDnsQuery(query({"Blocked", "test"}));
  REQUIRE(q.ok());
  for (DnsRcode rcode : {DnsRcode::kNxDomain, DnsRcode::kRefused, DnsRcode::kServFail}) {
    Bytes r = buildDnsError(*q, rcode);
    Parsed p = readBack(r);
    CHECK(p.id == 0x1234);
    CHECK(p.rcode == static_cast<int>(rcode));
    CHECK(p.qdcount == 1);
    CHECK(p.answers.empty());
    CHECK(Bytes(r.begin() + kDnsHeaderSize, r.end()) == q->question_wire);
    CHECK(r[2] == 0x81);                              // QR, RD
    CHECK(r[3] == (0x80 | static_cast<int>(rcode)));  // RA, rcode
  }
}

TEST_CASE("a header-only FORMERR for what could not be parsed") {
  Bytes r = buildDnsHeaderOnly(0xbeef, DnsRcode::kFormErr);
  CHECK(r == Bytes{0xbe, 0xef, 0x80, 0x81, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(peekDnsId(Bytes{0xbe}) == std::nullopt);
}

TEST_CASE("an answer carries the addresses of the asked family with the given TTL") {
  const IpAddress addresses[] = {ipLiteral("198.19.0.10"), ipLiteral("2001:db8::10"),
                                 ipLiteral("198.19.0.11")};
  auto a = parseDnsQuery(query({"Allowed", "test"}, 1));
  REQUIRE(a.ok());
  Parsed p = readBack(buildDnsAnswer(*a, addresses, 30));
  CHECK(p.rcode == 0);
  REQUIRE(p.answers.size() == 2);
  CHECK(p.answers[0] == std::pair<int, Bytes>{1, Bytes{198, 19, 0, 10}});
  CHECK(p.answers[1] == std::pair<int, Bytes>{1, Bytes{198, 19, 0, 11}});
  CHECK(p.ttls == std::vector<uint32_t>{30, 30});
  CHECK(p.answer_name == "Allowed.test");  // the pointer leads to the question as sent

  auto aaaa = parseDnsQuery(query({"allowed", "test"}, 28));
  REQUIRE(aaaa.ok());
  Parsed p6 = readBack(buildDnsAnswer(*aaaa, addresses, 30));
  REQUIRE(p6.answers.size() == 1);
  CHECK(p6.answers[0].first == 28);
  CHECK(p6.answers[0].second.size() == 16);

  auto txt = parseDnsQuery(query({"allowed", "test"}, 16));
  REQUIRE(txt.ok());
  Parsed none = readBack(buildDnsAnswer(*txt, addresses, 30));
  CHECK(none.rcode == 0);
  CHECK(none.answers.empty());
}

TEST_CASE("an answer that would not fit 512 bytes leaves records out") {
  std::vector<IpAddress> many;
  for (uint32_t i = 0; i < 100; ++i) many.push_back(IpAddress::v4(0xc6130000 + i));
  auto q = parseDnsQuery(query({"allowed", "test"}));
  REQUIRE(q.ok());
  Bytes r = buildDnsAnswer(*q, many, 30);
  CHECK(r.size() <= kMaxDnsUdpPayload);
  Parsed p = readBack(r);
  // 12 header + 18 question = 30; (512 - 30) / 16 = 30 records.
  CHECK(p.answers.size() == 30);
}
