// The nftables plans: their shape, read as rules; their verdicts, walked by a model and compared
// with Decider's; and, where nft and user namespaces are available, their acceptance by the
// kernel inside a throwaway network namespace (nothing touches the host's ruleset).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "netpolicy/loopback_plan.h"
#include "netpolicy/nft_plan.h"
#include "tests/unit/netpolicy_nft_model.h"

using namespace declaw::netpolicy;
using namespace declaw::testing;
using Strings = std::vector<std::string>;

namespace {

constexpr uint16_t kProxyPort = 3128;

TableConfig testConfig(bool with_v6 = false) {
  TableConfig c;
  c.pool4 = cidrLiteral("198.18.0.0/16");
  if (with_v6) c.pool6 = cidrLiteral("fd00:dc::/64");
  c.proxy_port = kProxyPort;
  c.boundaries = Boundaries::defaults();
  c.boundaries.always_denied.add(c.pool4);
  c.boundaries.always_denied.add(cidrLiteral("203.0.113.5"));
  if (with_v6) c.boundaries.always_denied.add(*c.pool6);
  return c;
}

SandboxNet testSandbox(const TableConfig& config, const char* key = "abc123") {
  auto pool = AddressPool::create(config.pool4, config.pool6);
  REQUIRE(pool.ok());
  return {key, pool->leaseFor(1)};
}

Decider deciderFor(const TableConfig& config, Strings allow, Strings deny) {
  auto p = parsePolicy({true, std::move(allow), std::move(deny)});
  REQUIRE(p.ok());
  return Decider(*p, config.boundaries);
}

NftModel modelWith(const TableConfig& config, const SandboxNet& s, const Decider& d) {
  NftModel m;
  m.apply(planTableCreate(config));
  auto add = planSandboxAdd(config, s, d);
  REQUIRE(add.ok());
  m.apply(*add);
  return m;
}

}  // namespace

TEST_CASE("the table: base chains that act only on sandbox veths, and the shared sets") {
  TableConfig config = testConfig();
  nlohmann::json doc = planTableCreate(config);
  const auto& cmds = doc["nftables"];
  // add + delete + add: starts clean whether or not a crashed daemon left the table.
  CHECK(cmds[0] == nlohmann::json::parse(R"({"add":{"table":{"family":"inet","name":"declaw"}}})"));
  CHECK(cmds[1] ==
        nlohmann::json::parse(R"({"delete":{"table":{"family":"inet","name":"declaw"}}})"));
  CHECK(cmds[2] == cmds[0]);
  NftModel m;
  m.apply(doc);
  CHECK(m.renderChain("forward") == Strings{
                                        "iifname dcw* ct state invalid drop",
                                        "iifname vmap @fwd_vmap",
                                        "iifname dcw* drop",
                                        "oifname dcw* ct state established,related accept",
                                        "oifname dcw* drop",
                                    });
  CHECK(m.renderChain("input") == Strings{"iifname vmap @in_vmap", "iifname dcw* drop"});
  CHECK(m.renderChain("prerouting") == Strings{"iifname vmap @nat_vmap"});
  CHECK(m.renderChain("postrouting") ==
        Strings{"ip saddr 198.18.0.0/16 oifname != dcw* masquerade"});
  // Base chains accept by default: the host's other traffic is not ours to judge.
  for (const auto& c : cmds) {
    if (c.contains("add") && c["add"].contains("chain") && c["add"]["chain"].contains("hook")) {
      CHECK(c["add"]["chain"]["policy"] == "accept");
    }
  }
  // Normalised: 255.255.255.255/32 lies inside 240.0.0.0/4 and is not a separate element.
  CHECK(m.set("always_denied4") ==
        std::vector<Cidr>{cidrLiteral("0.0.0.0/8"), cidrLiteral("127.0.0.0/8"),
                          cidrLiteral("169.254.0.0/16"), cidrLiteral("198.18.0.0/16"),
                          cidrLiteral("203.0.113.5/32"), cidrLiteral("224.0.0.0/4"),
                          cidrLiteral("240.0.0.0/4")});
  CHECK(m.set("private6").size() == 3);
  CHECK(planTableDelete() ==
        nlohmann::json::parse(
            R"({"nftables":[{"delete":{"table":{"family":"inet","name":"declaw"}}}]})"));
}

TEST_CASE("a sandbox with name rules: its chains, in Decider's order") {
  TableConfig config = testConfig();
  SandboxNet s = testSandbox(config);
  Decider d = deciderFor(config, {"allowed.test", "198.19.1.0/24", "10.1.0.0/16"}, {});
  NftModel m = modelWith(config, s, d);
  const std::string refuse = "goto sbx_abc123_refuse";
  CHECK(m.renderChain("sbx_abc123_fwd") == Strings{
                                               "ip saddr != 198.18.0.6 " + refuse,
                                               "meta nfproto ipv6 " + refuse,
                                               "ct state established,related accept",
                                               "ip daddr @always_denied4 " + refuse,
                                               "ip daddr @sbx_abc123_allowpriv4 accept",
                                               "ip daddr @private4 " + refuse,
                                               "ip daddr @sbx_abc123_allow4 accept",
                                               "ip daddr @sbx_abc123_resolved4 accept",
                                               "udp dport 443 " + refuse,
                                               "ip daddr @sbx_abc123_deny4 " + refuse,
                                               refuse,
                                           });
  CHECK(m.renderChain("sbx_abc123_in") == Strings{
                                              "ip saddr != 198.18.0.6 " + refuse,
                                              "meta nfproto ipv6 " + refuse,
                                              "ip daddr 198.18.0.5 udp dport 53 accept",
                                              "ip daddr 198.18.0.5 tcp dport 53 accept",
                                              "ip daddr 198.18.0.5 tcp dport 3128 accept",
                                              refuse,
                                          });
  CHECK(m.renderChain("sbx_abc123_nat") == Strings{
                                               "ip daddr @always_denied4 return",
                                               "ip daddr @private4 return",
                                               "ip daddr @sbx_abc123_allow4 return",
                                               "tcp dport { 80,443 } redirect to :3128",
                                           });
  CHECK(m.set("sbx_abc123_allow4") ==
        std::vector<Cidr>{cidrLiteral("10.1.0.0/16"), cidrLiteral("198.19.1.0/24")});
  CHECK(m.set("sbx_abc123_allowpriv4") == std::vector<Cidr>{cidrLiteral("10.1.0.0/16")});
  CHECK(m.set("sbx_abc123_deny4").empty());
}

TEST_CASE("ALL_TRAFFIC fills both families; an address-only policy has no redirect") {
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  NftModel m = modelWith(config, s, deciderFor(config, {"1.1.1.1"}, {"ALL_TRAFFIC"}));
  CHECK(m.set("sbx_abc123_deny4") == std::vector<Cidr>{cidrLiteral("0.0.0.0/0")});
  CHECK(m.set("sbx_abc123_deny6") == std::vector<Cidr>{cidrLiteral("::/0")});
  CHECK(m.renderChain("sbx_abc123_nat").empty());
  Strings in = m.renderChain("sbx_abc123_in");
  CHECK(in.front() ==
        "icmpv6 type { nd-neighbor-solicit,nd-neighbor-advert } ip6 hoplimit 255 accept");
  CHECK(std::count(in.begin(), in.end(), "ip6 daddr fd00:dc::5 udp dport 53 accept") == 1);
  CHECK(std::find(in.begin(), in.end(), "ip6 saddr != fd00:dc::6 goto sbx_abc123_refuse") !=
        in.end());
}

TEST_CASE("a sandbox's refused packets are logged within a rate limit, and all counted") {
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  NftModel m = modelWith(config, s, deciderFor(config, {"allowed.test"}, {}));
  const std::string counted = "counter name sbx_abc123_dropped ";
  const std::string logged =
      "limit rate 10/second burst 20 packets log prefix \"declaw sbx-abc123 refused: \" level info";
  CHECK(m.renderChain("sbx_abc123_refuse") ==
        Strings{
            logged,
            "ip saddr 198.18.0.6 meta l4proto tcp " + counted + "reject with tcp reset",
            "ip saddr 198.18.0.6 " + counted + "reject with icmpx admin-prohibited",
            "ip6 saddr fd00:dc::6 meta l4proto tcp " + counted + "reject with tcp reset",
            "ip6 saddr fd00:dc::6 " + counted + "reject with icmpx admin-prohibited",
            counted + "drop",
        });
  // The limit stands alone in a rule without a verdict: over it, a packet skips only the log.
  NftPacket refused{"dcwabc123", "eth0", s.lease.v4.sandbox, ipLiteral("198.19.0.20"), "udp", 7};
  NftTrace under = m.trace("forward", refused);
  CHECK(under.verdict == "reject");
  CHECK(under.counters == Strings{"sbx_abc123_dropped"});
  CHECK(under.logs == Strings{"declaw sbx-abc123 refused: "});
  refused.over_limit = true;
  NftTrace over = m.trace("forward", refused);
  CHECK(over.verdict == "reject");
  CHECK(over.counters == Strings{"sbx_abc123_dropped"});
  CHECK(over.logs.empty());

  // The longest key still fits the kernel's prefix limit, with the sandbox id in full.
  SandboxNet longest = testSandbox(config, "abcdefghijkl");
  NftModel m2 = modelWith(config, longest, deciderFor(config, {}, {}));
  const std::string prefix = "declaw sbx-abcdefghijkl refused: ";
  CHECK(m2.trace("input", {"dcwabcdefghijkl", "", longest.lease.v4.sandbox, longest.lease.v4.host,
                           "tcp", 22})
            .logs == Strings{prefix});
  CHECK(prefix.size() <= kNftLogPrefixMax);
}

TEST_CASE("a refused packet from the sandbox's own address is rejected, a forged one dropped") {
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  NftModel m = modelWith(config, s, deciderFor(config, {"allowed.test", "198.19.0.5"}, {}));
  const IpAddress v4 = s.lease.v4.sandbox;
  const IpAddress v6 = s.lease.v6->sandbox;
  struct Case {
    const char* hook;
    IpAddress from;
    const char* to;
    const char* l4;
    const char* verdict;
    const char* reply;
  };
  const Case cases[] = {
      // Its own address: answered over its own veth, so its client fails at once. TCP with a
      // reset (ECONNREFUSED), anything else with ICMP.
      {"forward", v4, "198.19.0.20", "tcp", "reject", "tcp reset"},
      {"forward", v4, "198.19.0.20", "udp", "reject", "icmpx admin-prohibited"},
      {"forward", v4, "169.254.169.254", "tcp", "reject", "tcp reset"},
      {"forward", v6, "2001:db8::1", "tcp", "reject", "tcp reset"},
      {"forward", v6, "2001:db8::1", "udp", "reject", "icmpx admin-prohibited"},
      {"input", v4, "198.18.0.5", "tcp", "reject", "tcp reset"},  // its gateway, not port 53
      {"input", v6, "fd00:dc::5", "udp", "reject", "icmpx admin-prohibited"},
      // Any other source is forged: an answer would go to whoever owns that address, so the
      // host sends none, whatever the destination. A neighbour's address, an outside host's,
      // the other family's pool, link-local.
      {"forward", ipLiteral("198.18.0.10"), "198.19.0.20", "tcp", "drop", ""},
      {"forward", ipLiteral("198.18.0.10"), "198.19.0.20", "udp", "drop", ""},
      {"forward", ipLiteral("8.8.8.8"), "198.19.0.20", "tcp", "drop", ""},
      {"forward", ipLiteral("8.8.8.8"), "198.19.0.5", "udp", "drop", ""},  // allowed to it
      {"forward", ipLiteral("fd00:dc::a"), "2001:db8::1", "tcp", "drop", ""},
      {"forward", ipLiteral("fe80::1"), "2001:db8::1", "udp", "drop", ""},
      {"input", ipLiteral("198.18.0.10"), "198.18.0.5", "udp", "drop", ""},
      {"input", ipLiteral("fe80::1"), "fd00:dc::5", "tcp", "drop", ""},
  };
  for (const Case& c : cases) {
    for (bool over_limit : {false, true}) {
      NftPacket p{"dcwabc123", "eth0", c.from, ipLiteral(c.to), c.l4, 7, "new", over_limit};
      INFO(c.hook << " " << c.from.toString() << " -> " << c.to << " " << c.l4
                  << (over_limit ? " over the limit" : ""));
      NftTrace t = m.trace(c.hook, p);
      CHECK(t.verdict == c.verdict);
      CHECK(t.reply == c.reply);
      CHECK(t.counters == Strings{"sbx_abc123_dropped"});
    }
  }
  CHECK(m.evaluate("forward", {"dcwabc123", "eth0", v4, ipLiteral("198.19.0.5"), "udp", 7}) ==
        "accept");  // what the forged ones above were denied

  // Without an IPv6 lease the sandbox has no IPv6 address to answer: every IPv6 packet drops.
  TableConfig v4_only = testConfig();
  SandboxNet s4 = testSandbox(v4_only);
  NftModel m4 = modelWith(v4_only, s4, deciderFor(v4_only, {}, {}));
  for (const std::string& rule : m4.renderChain("sbx_abc123_refuse")) {
    CHECK(rule.find("ip6") == std::string::npos);
  }
  NftTrace v6_packet = m4.trace("forward", {"dcwabc123", "eth0", ipLiteral("fd00:dc::6"),
                                            ipLiteral("2001:db8::1"), "tcp", 443});
  CHECK(v6_packet.verdict == "drop");
  CHECK(v6_packet.counters == Strings{"sbx_abc123_dropped"});
}

TEST_CASE("no way out of a sandbox's chains drops a packet without counting it") {
  const std::vector<std::pair<Strings, Strings>> policies = {
      {{}, {}},
      {{"allowed.test"}, {}},
      {{"198.19.1.0/24", "10.1.0.0/16"}, {"ALL_TRAFFIC"}},
      {{}, {"198.19.0.0/16", "evil.test"}},
  };
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  const char* sources[] = {"198.18.0.6", "198.18.0.10", "fd00:dc::6", "fd00:dc::a"};
  const char* destinations[] = {"198.19.0.5", "198.19.1.7",  "10.1.2.3",    "169.254.169.254",
                                "198.18.0.5", "198.18.0.1",  "2001:db8::1", "fd00:dc::5",
                                "fe80::1",    "203.0.113.5", "8.8.8.8"};
  for (const auto& [allow, deny] : policies) {
    NftModel m = modelWith(config, s, deciderFor(config, allow, deny));
    // Statically: the sandbox's chains never drop or reject themselves, they go to the refuse
    // chain, and every rule there that ends a packet counts it.
    for (const char* chain : {"sbx_abc123_fwd", "sbx_abc123_in", "sbx_abc123_nat"}) {
      for (const std::string& rule : m.renderChain(chain)) {
        INFO(chain << ": " << rule);
        CHECK_FALSE(rule.ends_with("drop"));
        CHECK(rule.find("reject") == std::string::npos);
        if (rule.find("goto") != std::string::npos) CHECK(rule.ends_with("goto sbx_abc123_refuse"));
      }
    }
    Strings refuse_chain = m.renderChain("sbx_abc123_refuse");
    REQUIRE(refuse_chain.size() == 6);
    for (size_t i = 1; i < refuse_chain.size(); ++i) {
      INFO(refuse_chain[i]);
      CHECK(refuse_chain[i].find("counter name sbx_abc123_dropped ") != std::string::npos);
    }
    CHECK(refuse_chain.back() == "counter name sbx_abc123_dropped drop");
    // Dynamically: every packet from the sandbox's veth, under or over the log limit.
    int drops = 0;
    int rejects = 0;
    int passes = 0;
    for (const char* hook : {"forward", "input", "prerouting"}) {
      for (const char* from : sources) {
        for (const char* to : destinations) {
          for (const char* l4 : {"tcp", "udp"}) {
            for (uint16_t port : {uint16_t{53}, uint16_t{443}, kProxyPort}) {
              for (const char* state : {"new", "established"}) {
                for (bool over_limit : {false, true}) {
                  NftPacket p{"dcwabc123", "eth0", ipLiteral(from), ipLiteral(to),
                              l4,          port,   state,           over_limit};
                  if (p.saddr.isV4() != p.daddr.isV4()) continue;
                  NftTrace t = m.trace(hook, p);
                  INFO(hook << " " << from << " -> " << to << " " << l4 << " " << port << " "
                            << state << (over_limit ? " over the limit" : "") << ": " << t.verdict);
                  if (refused(t.verdict)) {
                    // Answered only when the answer goes back to the sandbox itself.
                    bool own = p.saddr == s.lease.v4.sandbox || p.saddr == s.lease.v6->sandbox;
                    CHECK(t.verdict == (own ? "reject" : "drop"));
                    ++(own ? rejects : drops);
                    CHECK(t.counters == Strings{"sbx_abc123_dropped"});
                    CHECK(t.logs.size() == (over_limit ? 0u : 1u));
                  } else {
                    ++passes;
                    CHECK(t.counters.empty());
                    CHECK(t.logs.empty());
                  }
                }
              }
            }
          }
        }
      }
    }
    CHECK(drops > 0);
    CHECK(rejects > 0);
    CHECK(passes > 0);
  }
}

TEST_CASE("the firewall's verdict for a new connection is Decider's, for every policy") {
  const std::vector<std::pair<Strings, Strings>> policies = {
      {{}, {}},
      {{"allowed.test"}, {}},
      {{"198.19.1.0/24"}, {"ALL_TRAFFIC"}},
      {{}, {"198.19.0.0/16", "2001:db8::/32"}},
      {{"10.1.0.0/16", "fd00:1::/32"}, {}},
      {{"ALL_TRAFFIC"}, {"198.19.0.0/16"}},
      {{"8.0.0.0/6", "169.254.169.254", "198.18.0.0/16"}, {}},
      {{"198.19.0.5"}, {"198.19.0.0/16"}},
      {{}, {"ALL_TRAFFIC"}},
      {{"::/0"}, {}},
      {{}, {"evil.test"}},
  };
  const char* addresses[] = {
      "198.19.0.5",  "198.19.0.6",
      "198.19.1.7",  "8.8.8.8",
      "9.1.1.1",     "10.1.2.3",
      "10.2.0.1",    "172.16.0.1",
      "100.64.0.1",  "169.254.169.254",
      "127.0.0.1",   "0.0.0.0",
      "224.0.0.251", "255.255.255.255",
      "198.18.0.10", "203.0.113.5",
      "2001:db8::1", "2606:4700::1",
      "fd00:1::5",   "fd00:2::5",
      "fe80::1",     "::1",
      "ff02::1",     "64:ff9b::a9fe:a9fe",
      "fd00:dc::a",
  };
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  for (const auto& [allow, deny] : policies) {
    Decider d = deciderFor(config, allow, deny);
    NftModel m = modelWith(config, s, d);
    for (const char* text : addresses) {
      IpAddress daddr = ipLiteral(text);
      INFO(text << " allow[0]=" << (allow.empty() ? "" : allow[0])
                << " deny[0]=" << (deny.empty() ? "" : deny[0]));
      NftPacket p{"dcwabc123", "eth0", daddr.isV4() ? s.lease.v4.sandbox : s.lease.v6->sandbox,
                  daddr,       "tcp",  22};
      Decision expected = d.decideAddress(daddr);
      // From its own address, a refusal is answered (rejected).
      CHECK(m.evaluate("forward", p) == (expected.allowed() ? "accept" : "reject"));
      // Web traffic goes to the proxy unless the address rules already decide it.
      p.dport = 443;
      bool by_address = expected.reason == Reason::kAlwaysDenied ||
                        expected.reason == Reason::kPrivateRange ||
                        expected.reason == Reason::kAllowRule;
      bool redirected = d.policy().needsProxy() && !by_address;
      CHECK((m.evaluate("prerouting", p) == "redirect") == redirected);
    }
  }
}

TEST_CASE("what a sandbox may send to the host, and spoofed sources") {
  TableConfig config = testConfig();
  SandboxNet s = testSandbox(config);
  NftModel m = modelWith(config, s, deciderFor(config, {"allowed.test"}, {}));
  IpAddress me = s.lease.v4.sandbox;
  IpAddress gateway = s.lease.v4.host;
  auto input = [&](const NftPacket& p) { return m.evaluate("input", p); };
  CHECK(input({"dcwabc123", "", me, gateway, "udp", 53}) == "accept");
  CHECK(input({"dcwabc123", "", me, gateway, "tcp", 53}) == "accept");
  CHECK(input({"dcwabc123", "", me, gateway, "tcp", kProxyPort}) == "accept");
  CHECK(input({"dcwabc123", "", me, gateway, "tcp", 22}) == "reject");
  CHECK(input({"dcwabc123", "", me, ipLiteral("203.0.113.5"), "tcp", 22}) == "reject");
  CHECK(input({"dcwabc123", "", me, ipLiteral("198.18.0.1"), "udp", 53}) ==
        "reject");  // not its gw
  // Forged sources are dropped without an answer, the base chains' guards too.
  CHECK(input({"dcwabc123", "", ipLiteral("198.18.0.10"), gateway, "udp", 53}) == "drop");
  CHECK(input({"dcwzzz", "", me, gateway, "udp", 53}) == "drop");  // a veth without a sandbox
  CHECK(input({"eth0", "", ipLiteral("192.0.2.1"), ipLiteral("203.0.113.5"), "tcp", 22}) ==
        "continue");  // the host's own traffic is not ours
  NftPacket spoofed{"dcwabc123", "eth0", ipLiteral("198.18.0.10"), ipLiteral("8.8.8.8"), "tcp", 22};
  CHECK(m.evaluate("forward", spoofed) == "drop");
  // Not even into a neighbour's open connection.
  spoofed.ct_state = "established";
  CHECK(m.evaluate("forward", spoofed) == "drop");
  NftPacket open_flow{"dcwabc123", "eth0", me, ipLiteral("198.19.9.9"), "tcp", 22, "established"};
  CHECK(m.evaluate("forward", open_flow) == "accept");  // a policy change spares it
  NftPacket inbound{"eth0", "dcwabc123", ipLiteral("8.8.8.8"), me, "tcp", 22};
  CHECK(m.evaluate("forward", inbound) == "drop");
  inbound.ct_state = "established";
  CHECK(m.evaluate("forward", inbound) == "accept");
}

TEST_CASE("a live policy change leaves the same state as adding the new policy") {
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  Decider before = deciderFor(config, {"allowed.test", "10.1.0.0/16"}, {});
  Decider after = deciderFor(config, {"198.19.0.0/16"}, {"ALL_TRAFFIC"});
  NftModel changed = modelWith(config, s, before);
  const IpAddress resolved[] = {ipLiteral("198.19.0.10")};
  changed.apply(*planResolvedAdd(s.key, resolved, 60));
  auto update = planSandboxUpdate(config, s, after);
  REQUIRE(update.ok());
  changed.apply(*update);
  NftModel fresh = modelWith(config, s, after);
  for (const char* chain :
       {"sbx_abc123_fwd", "sbx_abc123_in", "sbx_abc123_nat", "sbx_abc123_refuse"}) {
    CHECK(changed.renderChain(chain) == fresh.renderChain(chain));
  }
  for (const char* set : {"sbx_abc123_allow4", "sbx_abc123_allowpriv4", "sbx_abc123_deny4",
                          "sbx_abc123_deny6", "sbx_abc123_resolved4"}) {
    CHECK(changed.set(set) == fresh.set(set));
  }
}

TEST_CASE("removing a sandbox leaves the table as it was before it came") {
  TableConfig config = testConfig(true);
  NftModel m;
  m.apply(planTableCreate(config));
  Strings empty = m.objectNames();
  SandboxNet a = testSandbox(config, "aaa");
  SandboxNet b = testSandbox(config, "bbb");
  m.apply(*planSandboxAdd(config, a, deciderFor(config, {"allowed.test"}, {})));
  m.apply(*planSandboxAdd(config, b, deciderFor(config, {}, {})));
  Strings with_b_only = m.objectNames();
  auto remove = planSandboxRemove("aaa");
  REQUIRE(remove.ok());
  m.apply(*remove);
  m.apply(*planSandboxRemove("bbb"));
  CHECK(m.objectNames() == empty);
  CHECK(with_b_only.size() > empty.size());
}

TEST_CASE("resolved addresses open every port until their timeout") {
  TableConfig config = testConfig(true);
  SandboxNet s = testSandbox(config);
  Decider d = deciderFor(config, {"allowed.test"}, {});
  NftModel m = modelWith(config, s, d);
  NftPacket p{"dcwabc123", "eth0", s.lease.v4.sandbox, ipLiteral("198.19.0.10"), "udp", 7};
  CHECK(m.evaluate("forward", p) == "reject");
  const IpAddress addresses[] = {ipLiteral("::ffff:198.19.0.10"), ipLiteral("2001:db8::10")};
  auto add = planResolvedAdd(s.key, addresses, 30);
  REQUIRE(add.ok());
  CHECK((*add)["nftables"][0]["add"]["element"]["elem"] ==
        nlohmann::json::parse(R"([{"elem":{"val":"198.19.0.10","timeout":30}}])"));
  CHECK((*add)["nftables"][0]["add"]["element"]["name"] == "sbx_abc123_resolved4");
  m.apply(*add);
  CHECK(m.evaluate("forward", p) == "accept");
}

TEST_CASE("plans refuse keys that would not make an interface name, and missing ports") {
  TableConfig config = testConfig();
  CHECK(*hostIfName("abc123def456") == "dcwabc123def456");
  for (const char* bad : {"", "abc123def4567", "ABC", "a-b", "a b", "a*"}) {
    INFO(bad);
    CHECK_FALSE(hostIfName(bad).ok());
    CHECK_FALSE(planSandboxRemove(bad).ok());
  }
  config.proxy_port = 0;
  SandboxNet s = testSandbox(config);
  CHECK(planSandboxAdd(config, s, deciderFor(config, {"allowed.test"}, {})).error().message ==
        "sandbox abc123: name rules need the egress proxy port");
  CHECK(planSandboxAdd(config, s, deciderFor(config, {"1.1.1.1"}, {})).ok());
}

TEST_CASE("the loopback-only table: every hook drops, lo alone is accepted") {
  const auto doc = planLoopbackOnly()["nftables"];
  REQUIRE(doc.size() == 6);
  CHECK(doc[0]["add"]["table"]["name"] == kLoopbackTable);
  for (size_t i = 1; i <= 3; ++i) {
    const auto& chain = doc[i]["add"]["chain"];
    CHECK(chain["policy"] == "drop");
    CHECK(chain["table"] == kLoopbackTable);
    CHECK(chain["hook"] == chain["name"]);
  }
  const auto& input = doc[4]["add"]["rule"];
  CHECK(input["chain"] == "input");
  CHECK(input["expr"][0]["match"]["left"]["meta"]["key"] == "iifname");
  CHECK(input["expr"][0]["match"]["right"] == "lo");
  CHECK(input["expr"][1].contains("accept"));
  const auto& output = doc[5]["add"]["rule"];
  CHECK(output["chain"] == "output");
  CHECK(output["expr"][0]["match"]["left"]["meta"]["key"] == "oifname");
}
