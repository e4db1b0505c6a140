// The egress policy: which specs are refused and why, and what a sandbox may reach under each.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netpolicy/policy.h"

using namespace declaw::netpolicy;
using Strings = std::vector<std::string>;

namespace {

// The daemon's view in the tests: the pool 198.18.0.0/16 holds the sandboxes, 203.0.113.5 is
// the host, and 198.19.0.0/16 plays the internet.
Boundaries testBoundaries() {
  Boundaries b = Boundaries::defaults();
  b.always_denied.add(cidrLiteral("198.18.0.0/16"));
  b.always_denied.add(cidrLiteral("203.0.113.5"));
  return b;
}

Decider deciderFor(Strings allow, Strings deny, bool internet = true) {
  auto p = parsePolicy({internet, std::move(allow), std::move(deny)});
  REQUIRE(p.ok());
  return Decider(*p, testBoundaries());
}

std::string parseError(Strings allow, Strings deny) {
  auto p = parsePolicy({true, std::move(allow), std::move(deny)});
  REQUIRE_FALSE(p.ok());
  return p.error().message;
}

constexpr Decision kAllowRule{Verdict::kAllow, Reason::kAllowRule};
constexpr Decision kDefaultAllow{Verdict::kAllow, Reason::kDefaultAllow};
constexpr Decision kDenyRule{Verdict::kDeny, Reason::kDenyRule};
constexpr Decision kNotAllowed{Verdict::kDeny, Reason::kNotAllowed};
constexpr Decision kAlwaysDenied{Verdict::kDeny, Reason::kAlwaysDenied};
constexpr Decision kPrivate{Verdict::kDeny, Reason::kPrivateRange};
constexpr Decision kNoInternet{Verdict::kDeny, Reason::kNoInternet};
constexpr Decision kBadName{Verdict::kDeny, Reason::kBadName};

}  // namespace

TEST_CASE("a bad entry is refused with its list, index, text and reason") {
  struct Case {
    Strings allow;
    Strings deny;
    const char* error;
  };
  const Case cases[] = {
      {{"1.1.1.1", "pypi.org", "10.0.0.0/33"},
       {},
       "allow_out[2] '10.0.0.0/33': prefix length must be 0..32"},
      {{}, {"2001:db8::/129"}, "deny_out[0] '2001:db8::/129': prefix length must be 0..128"},
      {{""}, {}, "allow_out[0] '': empty entry"},
      {{"*"}, {}, "allow_out[0] '*': '*' alone is not a domain pattern (ALL_TRAFFIC is)"},
      {{}, {"*."}, "deny_out[0] '*.': '*.' needs a domain after it"},
      {{"a.*.b"},
       {},
       "allow_out[0] 'a.*.b': '*' is allowed only as the whole first label ('*.example.com')"},
      {{"example.com:443"},
       {},
       "allow_out[0] 'example.com:443': ports are not supported (an entry is a host, not "
       "host:port)"},
      {{"1.2.3.4:80"},
       {},
       "allow_out[0] '1.2.3.4:80': ports are not supported (an entry is a host, not host:port)"},
      {{"https://example.com"},
       {},
       "allow_out[0] 'https://example.com': a URL is not a destination: give its host name"},
      {{"example.com/api"},
       {},
       "allow_out[0] 'example.com/api': '/' belongs only in a CIDR (address/prefix length)"},
      {{"~.*\\.example\\.com"},
       {},
       "allow_out[0] '~.*\\x5c.example\\x5c.com': regex patterns are not supported"},
      {{"*.com"},
       {},
       "allow_out[0] '*.com': wildcard too broad: allow_out needs '*.' followed by at least 2 "
       "labels"},
      {{"10.0.0.1/8"}, {}, "allow_out[0] '10.0.0.1/8': host bits set (the network is 10.0.0.0/8)"},
      {{"10.0.0"}, {}, "allow_out[0] '10.0.0': not a valid IPv4 address"},
      {{"300.1.1.1"}, {}, "allow_out[0] '300.1.1.1': not a valid IPv4 address"},
      {{"exa mple.com"}, {}, "allow_out[0] 'exa mple.com': spaces are not allowed"},
      {{"bücher.example"},
       {},
       "allow_out[0] 'b\\xc3\\xbccher.example': non-ASCII host name: use its punycode (xn--) "
       "form"},
      {{"evil\ncom"}, {}, "allow_out[0] 'evil\\x0acom': byte 0x0a is not allowed in a host name"},
      {{"all_traffic"}, {}, "allow_out[0] 'all_traffic': '_' is not allowed in a host name"},
  };
  for (const auto& c : cases) {
    INFO(c.error);
    CHECK(parseError(c.allow, c.deny) == c.error);
  }
}

TEST_CASE("a broad wildcard may deny but not allow") {
  CHECK(parsePolicy({true, {}, {"*.ru"}}).ok());
  CHECK(parsePolicy({true, {"*.co.uk"}, {}}).ok());
}

TEST_CASE("an echoed entry is cut short") {
  std::string long_entry = std::string(100, 'a') + ".com";
  std::string error = parseError({long_entry}, {});
  CHECK(error == "allow_out[0] '" + std::string(64, 'a') + "...': label longer than 63 characters");
}

TEST_CASE("a policy over the size limits is refused before any entry is parsed") {
  Strings many(kMaxEntriesPerList + 1, "1.1.1.1");
  CHECK(parseError(many, {}) == "allow_out has 257 entries (at most 256)");
  CHECK(parseError({}, many) == "deny_out has 257 entries (at most 256)");
  CHECK(parsePolicy({true, Strings(kMaxEntriesPerList, "1.1.1.1"), {}}).ok());
  // 200 entries of 300 bytes in each list: 120000 bytes, and each entry invalid, yet the size
  // is what the client hears about.
  Strings big(200, std::string(300, 'x'));
  CHECK(parseError(big, big) ==
        "network policy too large: 120000 bytes of entries (at most 65536)");
}

TEST_CASE("entries come back in canonical form, in order, without duplicates") {
  auto p = parsePolicy({true,
                        {"Pypi.ORG.", "1.1.1.1/32", "ALL_TRAFFIC", "2001:DB8::/32", "pypi.org",
                         "0.0.0.0/0", "*.Example.test"},
                        {"10.0.0.0/8"}});
  REQUIRE(p.ok());
  NetworkSpec spec = p->toSpec();
  CHECK(spec.allow_out ==
        Strings{"pypi.org", "1.1.1.1", "0.0.0.0/0", "2001:db8::/32", "*.example.test"});
  CHECK(spec.deny_out == Strings{"10.0.0.0/8"});
  CHECK(p->allow.all_traffic);
}

TEST_CASE("the API's JSON network object is type-checked") {
  using nlohmann::json;
  auto ok =
      networkSpecFromJson(json{{"allow_out", {"a.test", "1.1.1.1"}}, {"deny_out", nullptr}}, true);
  REQUIRE(ok.ok());
  CHECK(ok->allow_out == Strings{"a.test", "1.1.1.1"});
  CHECK(ok->deny_out.empty());
  CHECK(networkSpecFromJson(nullptr, false).ok());
  CHECK_FALSE(networkSpecFromJson(nullptr, false)->allow_internet_access);
  CHECK(networkSpecFromJson(json::array(), true).error().message == "network must be an object");
  CHECK(networkSpecFromJson(json{{"allowOut", json::array()}}, true).error().message ==
        "network: unknown field 'allowOut'");
  CHECK(networkSpecFromJson(json{{"allow_out", "a.test"}}, true).error().message ==
        "allow_out must be an array of strings");
  CHECK(networkSpecFromJson(json{{"deny_out", {"a.test", 5}}}, true).error().message ==
        "deny_out[1] must be a string");
  json huge = json::array();
  for (size_t i = 0; i <= kMaxEntriesPerList; ++i) huge.push_back("1.1.1.1");
  CHECK(networkSpecFromJson(json{{"allow_out", huge}}, true).error().message ==
        "allow_out has 257 entries (at most 256)");
}

TEST_CASE("addresses: what each policy lets a sandbox reach") {
  struct Case {
    Strings allow;
    Strings deny;
    const char* address;
    Decision expected;
  };
  const Case cases[] = {
      // No lists: the public internet, nothing else.
      {{}, {}, "198.19.0.10", kDefaultAllow},
      {{}, {}, "2001:db8::10", kDefaultAllow},
      {{}, {}, "169.254.169.254", kAlwaysDenied},
      {{}, {}, "::ffff:169.254.169.254", kAlwaysDenied},
      {{}, {}, "127.0.0.1", kAlwaysDenied},
      {{}, {}, "::ffff:127.0.0.1", kAlwaysDenied},
      {{}, {}, "0.0.0.0", kAlwaysDenied},
      {{}, {}, "::", kAlwaysDenied},
      {{}, {}, "::1", kAlwaysDenied},
      {{}, {}, "fe80::1", kAlwaysDenied},
      {{}, {}, "224.0.0.251", kAlwaysDenied},
      {{}, {}, "ff02::fb", kAlwaysDenied},
      {{}, {}, "255.255.255.255", kAlwaysDenied},
      {{}, {}, "198.18.0.6", kAlwaysDenied},   // another sandbox
      {{}, {}, "203.0.113.5", kAlwaysDenied},  // the host
      {{}, {}, "10.1.2.3", kPrivate},
      {{}, {}, "172.31.0.1", kPrivate},
      {{}, {}, "192.168.1.1", kPrivate},
      {{}, {}, "100.64.0.1", kPrivate},
      {{}, {}, "fd12::1", kPrivate},
      {{}, {}, "::ffff:10.0.0.1", kPrivate},
      {{}, {}, "64:ff9b::a9fe:a9fe", kPrivate},  // NAT64 to 169.254.169.254
      {{}, {}, "172.32.0.1", kDefaultAllow},
      // allow_out alone denies what it does not name.
      {{"allowed.test"}, {}, "198.19.0.10", kNotAllowed},
      {{"198.19.1.0/24"}, {}, "198.19.1.5", kAllowRule},
      {{"198.19.1.0/24"}, {}, "198.19.2.5", kNotAllowed},
      // The SDK's spelling: allow_out with deny_out=[ALL_TRAFFIC].
      {{"198.19.1.0/24"}, {"ALL_TRAFFIC"}, "198.19.1.5", kAllowRule},
      {{"198.19.1.0/24"}, {"ALL_TRAFFIC"}, "198.19.2.5", kDenyRule},
      {{"198.19.1.0/24"}, {"0.0.0.0/0"}, "2001:db8::1", kDenyRule},  // covers IPv6 too
      // deny_out alone.
      {{}, {"198.19.0.0/16"}, "198.19.0.1", kDenyRule},
      {{}, {"198.19.0.0/16"}, "8.8.8.8", kDefaultAllow},
      {{}, {"::/0"}, "2001:db8::1", kDenyRule},
      {{}, {"::/0"}, "8.8.8.8", kDefaultAllow},
      // Allow wins over deny.
      {{"198.19.0.5"}, {"198.19.0.0/16"}, "198.19.0.5", kAllowRule},
      {{"198.19.0.5"}, {"198.19.0.0/16"}, "198.19.0.6", kDenyRule},
      // Private ranges open only to an allow CIDR inside them.
      {{"10.1.0.0/16"}, {}, "10.1.2.3", kAllowRule},
      {{"10.1.0.0/16"}, {}, "10.2.0.1", kPrivate},
      {{"10.0.0.0/8"}, {"10.0.0.0/8"}, "10.9.9.9", kAllowRule},
      {{"8.0.0.0/6"}, {}, "10.0.0.1", kPrivate},
      {{"8.0.0.0/6"}, {}, "9.0.0.1", kAllowRule},
      {{"ALL_TRAFFIC"}, {}, "10.0.0.1", kPrivate},
      {{"ALL_TRAFFIC"}, {}, "fd00::1", kPrivate},
      {{"fd00:1::/32"}, {}, "fd00:1::5", kAllowRule},
      {{"fd00:1::/32"}, {}, "fd00:2::5", kPrivate},
      {{"::ffff:10.0.0.1"}, {}, "10.0.0.1", kPrivate},  // mapped CIDRs are not IPv4 CIDRs
      // Nothing opens the always-denied list.
      {{"169.254.169.254"}, {}, "169.254.169.254", kAlwaysDenied},
      {{"198.18.0.0/16"}, {}, "198.18.0.6", kAlwaysDenied},
      {{"ALL_TRAFFIC"}, {}, "127.0.0.1", kAlwaysDenied},
      {{"ALL_TRAFFIC"}, {}, "8.8.8.8", kAllowRule},
      {{"::/0"}, {}, "2001:db8::1", kAllowRule},
      {{"::/0"}, {}, "8.8.8.8", kNotAllowed},
  };
  for (const auto& c : cases) {
    INFO(c.address << " allow " << c.allow.size() << " deny " << c.deny.size());
    Decider d = deciderFor(c.allow, c.deny);
    CHECK(d.decideAddress(ipLiteral(c.address)) == c.expected);
  }
}

TEST_CASE("without internet access nothing is allowed, whatever the lists say") {
  Decider d = deciderFor({"ALL_TRAFFIC", "allowed.test"}, {}, false);
  CHECK(d.decideAddress(ipLiteral("198.19.0.10")) == kNoInternet);
  CHECK(d.decideName("allowed.test") == kNoInternet);
  CHECK(d.decideConnection("allowed.test", ipLiteral("198.19.0.10")) == kNoInternet);
  CHECK_FALSE(d.policy().needsProxy());
  CHECK_FALSE(d.policy().defaultAllow());
}

TEST_CASE("names: what each policy lets a sandbox name in SNI, Host and DNS") {
  struct Case {
    Strings allow;
    Strings deny;
    const char* name;
    Decision expected;
  };
  const Case cases[] = {
      {{}, {}, "anything.test", kDefaultAllow},
      {{"allowed.test"}, {}, "allowed.test", kAllowRule},
      {{"allowed.test"}, {}, "ALLOWED.test.", kAllowRule},
      {{"allowed.test"}, {}, "blocked.test", kNotAllowed},
      {{"allowed.test"}, {}, "x.allowed.test", kNotAllowed},
      {{"*.example.test"}, {}, "a.example.test", kAllowRule},
      {{"*.example.test"}, {}, "a.b.example.test", kAllowRule},
      {{"*.example.test"}, {}, "example.test", kNotAllowed},
      {{"pypi.org"}, {"ALL_TRAFFIC"}, "pypi.org", kAllowRule},
      {{"pypi.org"}, {"ALL_TRAFFIC"}, "evil.test", kDenyRule},
      {{"allowed.test"}, {"allowed.test"}, "allowed.test", kAllowRule},  // allow wins
      {{}, {"*.evil.test"}, "x.evil.test", kDenyRule},
      {{}, {"*.evil.test"}, "evil.test", kDefaultAllow},
      {{}, {"*.evil.test"}, "good.test", kDefaultAllow},
      {{"ALL_TRAFFIC"}, {"evil.test"}, "evil.test", kAllowRule},
      {{}, {"ALL_TRAFFIC"}, "good.test", kDenyRule},
      // IP-only allow lists still make names default-deny.
      {{"198.19.0.0/16"}, {}, "allowed.test", kNotAllowed},
      // Not names: IP literals and malformed ones are for decideAddress or nobody.
      {{}, {}, "1.2.3.4", kBadName},
      {{}, {}, "", kBadName},
      {{}, {}, "a_b.test", kBadName},
      {{}, {}, "a..test", kBadName},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(deciderFor(c.allow, c.deny).decideName(c.name) == c.expected);
  }
}

TEST_CASE("connections the proxy makes for a name: the name, then the address it resolved to") {
  struct Case {
    Strings allow;
    Strings deny;
    const char* name;
    const char* resolved;
    Decision expected;
  };
  const Case cases[] = {
      {{"allowed.test"}, {}, "allowed.test", "198.19.0.10", kAllowRule},
      {{"allowed.test"}, {}, "blocked.test", "198.19.0.10", kNotAllowed},
      // DNS rebinding: an allowed name resolving inward is refused.
      {{"allowed.test"}, {}, "allowed.test", "10.0.0.1", kPrivate},
      {{"allowed.test"}, {}, "allowed.test", "169.254.169.254", kAlwaysDenied},
      {{"allowed.test"}, {}, "allowed.test", "::ffff:127.0.0.1", kAlwaysDenied},
      {{"allowed.test"}, {}, "allowed.test", "203.0.113.5", kAlwaysDenied},
      {{"allowed.test", "10.1.0.0/16"}, {}, "allowed.test", "10.1.0.1", kAllowRule},
      // An explicitly allowed name beats an address deny rule; a default-allowed one does not.
      {{"allowed.test"}, {"198.19.0.0/16"}, "allowed.test", "198.19.0.10", kAllowRule},
      {{}, {"198.19.0.0/16"}, "any.test", "198.19.0.10", kDenyRule},
      {{}, {"198.19.0.0/16"}, "any.test", "8.8.8.8", kDefaultAllow},
      {{}, {"evil.test"}, "evil.test", "8.8.8.8", kDenyRule},
  };
  for (const auto& c : cases) {
    INFO(c.name << " -> " << c.resolved);
    CHECK(deciderFor(c.allow, c.deny).decideConnection(c.name, ipLiteral(c.resolved)) ==
          c.expected);
  }
}

TEST_CASE("the proxy is needed exactly when a name rule can change a verdict") {
  struct Case {
    Strings allow;
    Strings deny;
    bool needs_proxy;
    bool default_allow;
  };
  const Case cases[] = {
      {{}, {}, false, true},
      {{"allowed.test"}, {}, true, false},
      {{}, {"evil.test"}, true, true},
      {{"1.1.1.1"}, {"ALL_TRAFFIC"}, false, false},
      {{"ALL_TRAFFIC", "allowed.test"}, {}, false, false},
      {{}, {"ALL_TRAFFIC"}, false, false},
      {{}, {"10.0.0.0/8"}, false, true},
  };
  for (const auto& c : cases) {
    auto p = parsePolicy({true, c.allow, c.deny});
    REQUIRE(p.ok());
    CHECK(p->needsProxy() == c.needs_proxy);
    CHECK(p->defaultAllow() == c.default_allow);
  }
}

TEST_CASE("only allow CIDRs inside a private range open it") {
  Decider d = deciderFor({"10.1.0.0/16", "8.0.0.0/6", "1.1.1.1", "fd00::/8", "ALL_TRAFFIC",
                          "192.168.0.0/16", "allowed.test"},
                         {});
  auto opened = d.privateAllows();
  CHECK(opened.normalized(Family::kV4) ==
        std::vector<Cidr>{cidrLiteral("10.1.0.0/16"), cidrLiteral("192.168.0.0/16")});
  CHECK(opened.normalized(Family::kV6) == std::vector<Cidr>{cidrLiteral("fd00::/8")});
}

TEST_CASE("every reason has words for the log") {
  for (Reason r :
       {Reason::kNoInternet, Reason::kAlwaysDenied, Reason::kPrivateRange, Reason::kAllowRule,
        Reason::kDenyRule, Reason::kDefaultAllow, Reason::kNotAllowed, Reason::kBadName}) {
    CHECK(describe(r) != "unknown");
  }
}
