// Addresses, prefixes and host names: the vocabulary the egress policy is written in.
#include <catch2/catch.hpp>
#include <string>

#include "netpolicy/addr.h"
#include "netpolicy/domain.h"

using namespace declaw::netpolicy;

TEST_CASE("addresses parse in canonical form only and print back the same") {
  struct Case {
    const char* text;
    const char* printed;  // nullptr: refused
  };
  const Case cases[] = {
      {"10.0.0.1", "10.0.0.1"},
      {"255.255.255.255", "255.255.255.255"},
      {"2001:DB8::1", "2001:db8::1"},
      {"::", "::"},
      {"::ffff:169.254.169.254", "::ffff:169.254.169.254"},
      // inet_aton's shorthands and octal are refused: "010.0.0.1" is not 8.0.0.1 here.
      {"010.0.0.1", nullptr},
      {"10.1", nullptr},
      {"0x7f.0.0.1", nullptr},
      {"10.0.0.256", nullptr},
      {"10.0.0.1 ", nullptr},
      {"fe80::1%eth0", nullptr},
      {"[::1]", nullptr},
      {"", nullptr},
      {"example.com", nullptr},
      {"1:2:3:4:5:6:7:8:9", nullptr},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto a = IpAddress::parse(c.text);
    if (c.printed == nullptr) {
      CHECK_FALSE(a.ok());
    } else {
      REQUIRE(a.ok());
      CHECK(a->toString() == c.printed);
    }
  }
}

TEST_CASE("an over-long address string is refused without overflowing the parse buffer") {
  CHECK_FALSE(IpAddress::parse(std::string(1000, '1')).ok());
  CHECK_FALSE(Cidr::parse(std::string(1000, ':') + "/8").ok());
}

// Found by fuzz_policy: inet_pton reads up to the first NUL, so the rest of the entry rode along
// unread ("10.0.0.1\0evil" was the host 10.0.0.1).
TEST_CASE("an address or CIDR with a NUL byte is refused, whatever the bytes before it") {
  CHECK_FALSE(IpAddress::parse(std::string("10.0.0.1\0evil", 13)).ok());
  CHECK_FALSE(IpAddress::parse(std::string("::1\0", 4)).ok());
  CHECK_FALSE(Cidr::parse(std::string("10.0.0.0\0/8", 11)).ok());
  CHECK_FALSE(Cidr::parse(std::string("10.0.0.0/8\0", 11)).ok());
}

TEST_CASE("an IPv4-mapped IPv6 address is judged as the IPv4 address it carries") {
  auto mapped = ipLiteral("::ffff:169.254.169.254");
  CHECK(mapped.isV4Mapped());
  CHECK(mapped.unmapped() == ipLiteral("169.254.169.254"));
  CHECK_FALSE(ipLiteral("2001:db8::1").isV4Mapped());
  CHECK(ipLiteral("2001:db8::1").unmapped() == ipLiteral("2001:db8::1"));
  // ::a.b.c.d (the deprecated IPv4-compatible form) is not a mapped address.
  CHECK_FALSE(ipLiteral("::169.254.169.254").isV4Mapped());
}

TEST_CASE("CIDRs: prefix lengths are checked per family and host bits are refused") {
  struct Case {
    const char* text;
    const char* result;  // the canonical form, or the expected error
  };
  const Case cases[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"1.1.1.1", "1.1.1.1/32"},
      {"1.1.1.1/32", "1.1.1.1/32"},
      {"2001:db8::/32", "2001:db8::/32"},
      {"::/0", "::/0"},
      {"10.0.0.0/33", "prefix length must be 0..32"},
      {"2001:db8::/129", "prefix length must be 0..128"},
      {"10.0.0.0/", "prefix length must be 0..32"},
      {"10.0.0.0/-1", "prefix length must be 0..32"},
      {"10.0.0.0/+8", "prefix length must be 0..32"},
      {"10.0.0.0/08", "prefix length must be 0..32"},
      {"10.0.0.0/8/8", "prefix length must be 0..32"},
      {"10.0.0.0/99999999999", "prefix length must be 0..32"},
      {"10.0.0.1/8", "host bits set (the network is 10.0.0.0/8)"},
      {"2001:db8::1/32", "host bits set (the network is 2001:db8::/32)"},
      {"example.com/8", "not an IPv4 address"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto cidr = Cidr::parse(c.text);
    if (cidr.ok()) {
      CHECK(cidr->toString() == c.result);
    } else {
      CHECK(cidr.error().message == c.result);
    }
  }
}

TEST_CASE("a prefix contains the addresses and prefixes inside it, never across families") {
  Cidr ten = cidrLiteral("10.0.0.0/8");
  CHECK(ten.contains(ipLiteral("10.0.0.0")));
  CHECK(ten.contains(ipLiteral("10.255.255.255")));
  CHECK_FALSE(ten.contains(ipLiteral("11.0.0.0")));
  CHECK_FALSE(ten.contains(ipLiteral("9.255.255.255")));
  CHECK(ten.contains(cidrLiteral("10.1.0.0/16")));
  CHECK(ten.contains(ten));
  CHECK_FALSE(ten.contains(cidrLiteral("8.0.0.0/6")));
  CHECK_FALSE(cidrLiteral("0.0.0.0/0").contains(ipLiteral("::1")));
  CHECK_FALSE(cidrLiteral("0.0.0.0/0").contains(ipLiteral("::ffff:10.0.0.1")));
  CHECK(cidrLiteral("::/0").contains(ipLiteral("::ffff:10.0.0.1")));
  Cidr odd = cidrLiteral("172.16.0.0/12");
  CHECK(odd.contains(ipLiteral("172.31.255.255")));
  CHECK_FALSE(odd.contains(ipLiteral("172.32.0.0")));
  Cidr v6 = cidrLiteral("fc00::/7");
  CHECK(v6.contains(ipLiteral("fdff::1")));
  CHECK_FALSE(v6.contains(ipLiteral("fe00::1")));
}

TEST_CASE("Cidr::at counts addresses from the network address, carrying across bytes") {
  CHECK(cidrLiteral("198.18.0.0/16").at(258) == ipLiteral("198.18.1.2"));
  CHECK(cidrLiteral("fd00::/64").at(0x1ff) == ipLiteral("fd00::1ff"));
  CHECK(Cidr::containing(ipLiteral("198.18.1.6"), 30) == cidrLiteral("198.18.1.4/30"));
}

TEST_CASE("a prefix set normalises to sorted, non-overlapping prefixes per family") {
  PrefixSet set{cidrLiteral("10.1.0.0/16"),    cidrLiteral("10.0.0.0/8"),
                cidrLiteral("1.1.1.1"),        cidrLiteral("1.1.1.1/32"),
                cidrLiteral("fd00::/8"),       cidrLiteral("fd00::1/128"),
                cidrLiteral("192.168.0.0/24"), cidrLiteral("192.168.1.0/24")};
  auto v4 = set.normalized(Family::kV4);
  REQUIRE(v4.size() == 4);
  CHECK(v4[0].toString() == "1.1.1.1/32");
  CHECK(v4[1].toString() == "10.0.0.0/8");
  CHECK(v4[2].toString() == "192.168.0.0/24");
  CHECK(v4[3].toString() == "192.168.1.0/24");
  auto v6 = set.normalized(Family::kV6);
  REQUIRE(v6.size() == 1);
  CHECK(v6[0].toString() == "fd00::/8");
  CHECK(set.contains(ipLiteral("10.200.0.1")));
  CHECK_FALSE(set.contains(ipLiteral("11.0.0.1")));
}

TEST_CASE("host names are lowercased, lose one trailing dot, and must be LDH") {
  struct Case {
    std::string text;
    const char* result;  // normalised, or nullptr when refused
  };
  const Case cases[] = {
      {"Example.COM", "example.com"},
      {"example.com.", "example.com"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"a-b.c0", "a-b.c0"},
      {"localhost", "localhost"},
      {"123.example", "123.example"},
      {"example.com..", nullptr},
      {".example.com", nullptr},
      {"a..b", nullptr},
      {"-a.com", nullptr},
      {"a-.com", nullptr},
      {"a_b.com", nullptr},
      {"a b.com", nullptr},
      {"bücher.example", nullptr},
      {"10.0.0", nullptr},
      {"1.2.3.4", nullptr},
      {"", nullptr},
      {".", nullptr},
      {std::string(64, 'a') + ".com", nullptr},  // labels stop at 63
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto n = normalizeHostName(c.text);
    if (c.result == nullptr) {
      CHECK_FALSE(n.ok());
    } else {
      REQUIRE(n.ok());
      CHECK(*n == c.result);
    }
  }
}

TEST_CASE("a label may be 63 characters, not 64") {
  std::string longest = std::string(63, 'a') + ".com";
  CHECK(normalizeHostName(longest).ok());
  CHECK(normalizeHostName("a" + longest).error().message == "label longer than 63 characters");
}

TEST_CASE("a host name may be 253 characters, not 254") {
  std::string label(49, 'a');  // 5 labels of 49 + 4 dots = 249, + ".abc" = 253
  std::string name = label + "." + label + "." + label + "." + label + "." + label + ".abc";
  REQUIRE(name.size() == 253);
  CHECK(normalizeHostName(name).ok());
  CHECK(normalizeHostName(name + ".").ok());  // the trailing dot does not count
  CHECK_FALSE(normalizeHostName("a" + name).ok());
}

TEST_CASE("non-ASCII names are refused with a pointer to punycode, control bytes escaped") {
  auto n = normalizeHostName("bücher.example");
  REQUIRE_FALSE(n.ok());
  CHECK(n.error().message == "non-ASCII host name: use its punycode (xn--) form");
  auto ctl = normalizeHostName(std::string("a\x01.com"));
  REQUIRE_FALSE(ctl.ok());
  CHECK(ctl.error().message == "byte 0x01 is not allowed in a host name");
}

TEST_CASE("*.domain matches subdomains at any depth but not the apex") {
  auto p = DomainPattern::parse("*.Example.test");
  REQUIRE(p.ok());
  CHECK(p->isWildcard());
  CHECK(p->toString() == "*.example.test");
  CHECK(p->matches("a.example.test"));
  CHECK(p->matches("a.b.example.test"));
  CHECK_FALSE(p->matches("example.test"));
  CHECK_FALSE(p->matches("badexample.test"));
  CHECK_FALSE(p->matches("example.test.evil"));
  CHECK_FALSE(p->matches(".example.test"));
  auto exact = DomainPattern::parse("api.example.test.");
  REQUIRE(exact.ok());
  CHECK(exact->matches("api.example.test"));
  CHECK_FALSE(exact->matches("x.api.example.test"));
}

TEST_CASE("malformed wildcards are refused with a reason") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"*", "'*' alone is not a domain pattern (ALL_TRAFFIC is)"},
      {"*.", "'*.' needs a domain after it"},
      {"*..", "'*.' needs a domain after it"},
      {"a.*.b", "'*' is allowed only as the whole first label ('*.example.com')"},
      {"*foo.com", "'*' is allowed only as the whole first label ('*.example.com')"},
      {"foo*.com", "'*' is allowed only as the whole first label ('*.example.com')"},
      {"*.*.com", "'*' is allowed only as the whole first label ('*.example.com')"},
      {"**.com", "'*' is allowed only as the whole first label ('*.example.com')"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto p = DomainPattern::parse(c.text);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().message == c.error);
  }
}
