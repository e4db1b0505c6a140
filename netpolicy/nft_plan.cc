#include "netpolicy/nft_plan.h"

#include <algorithm>

#include "netpolicy/nft_expr.h"

namespace declaw::netpolicy {
namespace {

using namespace nftjson;  // NOLINT: this file speaks the JSON vocabulary throughout

// Base chain priorities, as nft names them: filter, dstnat, srcnat.
constexpr int kPriorityFilter = 0;
constexpr int kPriorityDstNat = -100;
constexpr int kPrioritySrcNat = 100;
constexpr std::string_view kFwdVmap = "fwd_vmap";
constexpr std::string_view kInVmap = "in_vmap";
constexpr std::string_view kNatVmap = "nat_vmap";
constexpr std::string_view kAlwaysDenied = "always_denied";
constexpr std::string_view kPrivate = "private";
constexpr uint16_t kHttpPort = 80;
constexpr uint16_t kHttpsPort = 443;
// Hop limit 255 proves a neighbour discovery packet was not forwarded (RFC 4861 section 7.1.1).
constexpr int kNdHopLimit = 255;
constexpr Family kFamilies[] = {Family::kV4, Family::kV6};
// The log prefix names the sandbox by its id, as the daemon's own log lines do.
constexpr std::string_view kRefusedLogHead = "declaw sbx-";
constexpr std::string_view kRefusedLogTail = " refused: ";
static_assert(kRefusedLogHead.size() + kMaxSandboxKeyLength + kRefusedLogTail.size() <=
                  kNftLogPrefixMax,
              "the kernel refuses a longer log prefix");
// The level of the netsvc refusal lines too.
constexpr std::string_view kRefusedLogLevel = "info";
// The ICMP error a refused non-TCP packet from the sandbox gets: "communication administratively
// prohibited" (EHOSTUNREACH for an IPv4 socket, EACCES for an IPv6 one).
constexpr std::string_view kRefusedIcmpCode = "admin-prohibited";

// The per-sandbox interval sets, by what they hold.
constexpr std::string_view kAllowSet = "allow";
constexpr std::string_view kAllowPrivateSet = "allowpriv";
constexpr std::string_view kDenySet = "deny";
constexpr std::string_view kResolvedSet = "resolved";
constexpr std::string_view kIntervalSets[] = {kAllowSet, kAllowPrivateSet, kDenySet};

std::string familySet(std::string_view base, Family f) {
  return std::string(base) + std::string(familySuffix(f));
}

json anyHostIf() { return std::string(kHostIfPrefix) + "*"; }

json established() { return json::array({"established", "related"}); }

// The names of one sandbox's objects.
struct Names {
  std::string key;
  std::string ifname;
  std::string prefix;  // "sbx_<key>"
  std::string fwd() const { return prefix + "_fwd"; }
  std::string in() const { return prefix + "_in"; }
  std::string nat() const { return prefix + "_nat"; }
  std::string refuse() const { return prefix + "_refuse"; }
  std::string counter() const { return prefix + "_dropped"; }
  std::string set(std::string_view kind, Family f) const {
    return prefix + "_" + familySet(kind, f);
  }
  std::vector<std::string> allSets() const {
    std::vector<std::string> out;
    for (Family f : kFamilies) {
      for (auto kind : kIntervalSets) out.push_back(set(kind, f));
      out.push_back(set(kResolvedSet, f));
    }
    return out;
  }
};

Result<Names> namesFor(std::string_view key) {
  auto ifname = hostIfName(key);
  if (!ifname) return ifname.error();
  return Names{std::string(key), std::move(*ifname), "sbx_" + std::string(key)};
}

json setNameOnly(std::string_view name) {
  return {{"set", {{"family", "inet"}, {"table", kNftTable}, {"name", name}}}};
}

// Every packet a sandbox's chains refuse goes here: counted once, logged within the rate limit,
// rejected when it comes from the sandbox's own address and dropped otherwise.
json refuse(const Names& n) { return gotoChain(n.refuse()); }

// The refuse chain. The limit is a match, so it sits in a rule of its own that has no verdict:
// a packet over the limit only skips the log line, and every packet reaches one of the rules
// after it, each of which counts it and ends it.
//
// Only a packet whose source is the sandbox's own address is answered: the answer then goes back
// over the sandbox's own veth to the sender, so its connect() or recv() fails at once instead of
// waiting out a timeout. Any other source is forged (the anti-spoofing rules sent it here), and
// answering it would have the host send resets or ICMP errors at whoever owns the forged
// address: those are dropped without a word.
//
// TCP gets a reset (connect() fails with ECONNREFUSED, on IPv4 and IPv6 alike) rather than ICMP:
// the kernel rate-limits the ICMP errors it sends to one address (net.ipv4.icmp_ratelimit,
// net.ipv6.icmp.ratelimit: about one a second after a short burst), so a client opening
// connections faster than that would see some of them hang again; a reset is not limited, and is
// what every client already treats as "nothing serves here, try the next address". Everything
// else (UDP, ICMP) can only be told by ICMP: admin-prohibited, which says a filter refused it.
// The kernel itself never answers an ICMP error, a reset, or a broadcast or multicast packet.
void fillRefuseChain(std::vector<json>& cmds, const SandboxNet& s, const Names& n) {
  auto rule = [&](std::vector<json> expr) {
    cmds.push_back(add(ruleObject(n.refuse(), std::move(expr))));
  };
  std::string log_prefix = std::string(kRefusedLogHead) + n.key + std::string(kRefusedLogTail);
  json logged = kernelLog(log_prefix, kRefusedLogLevel);
  rule({limitPerSecond(kRefusedLogRate, kRefusedLogBurst), std::move(logged)});
  std::vector<const LinkAddresses*> links = {&s.lease.v4};
  if (s.lease.v6) links.push_back(&*s.lease.v6);
  for (const LinkAddresses* link : links) {
    json from_sandbox =
        match(payload(ipProtocol(link->sandbox.family()), "saddr"), "==", link->sandbox.toString());
    rule({from_sandbox, match(meta("l4proto"), "==", "tcp"), namedCounter(n.counter()),
          rejectWithTcpReset()});
    rule({from_sandbox, namedCounter(n.counter()), rejectWithIcmpx(kRefusedIcmpCode)});
  }
  rule({namedCounter(n.counter()), drop()});
}

json daddrIn(Family f, std::string_view set) {
  return match(payload(ipProtocol(f), "daddr"), "==", setRef(set));
}

// `add element` commands filling `set` with `prefixes` (none when empty: nft refuses "elem": []).
void addPrefixes(std::vector<json>& cmds, std::string_view set, const std::vector<Cidr>& prefixes) {
  if (prefixes.empty()) return;
  json elems = json::array();
  for (const Cidr& c : prefixes) elems.push_back(prefix(c));
  cmds.push_back(add(elementObject(set, std::move(elems))));
}

void addBoundaryElements(std::vector<json>& cmds, const Boundaries& b) {
  for (Family f : kFamilies) {
    addPrefixes(cmds, familySet(kAlwaysDenied, f), b.always_denied.normalized(f));
    addPrefixes(cmds, familySet(kPrivate, f), b.private_ranges.normalized(f));
  }
}

// The families the sandbox has an address in.
std::vector<Family> familiesOf(const SandboxNet& s) {
  if (s.lease.v6) return {Family::kV4, Family::kV6};
  return {Family::kV4};
}

// Drops packets whose source is not the sandbox's address; IPv6 entirely when it has none.
void addAntiSpoof(std::vector<json>& cmds, const std::string& chain, const SandboxNet& s,
                  const Names& n) {
  cmds.push_back(add(ruleObject(
      chain, {match(payload("ip", "saddr"), "!=", s.lease.v4.sandbox.toString()), refuse(n)})));
  if (s.lease.v6) {
    cmds.push_back(add(ruleObject(
        chain, {match(payload("ip6", "saddr"), "!=", s.lease.v6->sandbox.toString()), refuse(n)})));
  } else {
    cmds.push_back(add(ruleObject(chain, {match(meta("nfproto"), "==", "ipv6"), refuse(n)})));
  }
}

void addForwardRules(std::vector<json>& cmds, const SandboxNet& s, const Names& n,
                     const Policy& policy) {
  const std::string chain = n.fwd();
  auto rule = [&](std::vector<json> expr) {
    cmds.push_back(add(ruleObject(chain, std::move(expr))));
  };
  auto dropped = [&](json m) { rule({std::move(m), refuse(n)}); };
  if (!policy.internet) {
    rule({refuse(n)});
    return;
  }
  addAntiSpoof(cmds, chain, s, n);
  // After anti-spoofing, so that a sandbox cannot inject packets into a neighbour's flows by
  // borrowing its address; before the policy, so a live change spares open connections.
  rule({match(ctState(), "in", established()), accept()});
  auto families = familiesOf(s);
  for (Family f : families) dropped(daddrIn(f, familySet(kAlwaysDenied, f)));
  for (Family f : families) rule({daddrIn(f, n.set(kAllowPrivateSet, f)), accept()});
  for (Family f : families) dropped(daddrIn(f, familySet(kPrivate, f)));
  for (Family f : families) rule({daddrIn(f, n.set(kAllowSet, f)), accept()});
  for (Family f : families) rule({daddrIn(f, n.set(kResolvedSet, f)), accept()});
  // QUIC would carry HTTPS past the proxy: refused, clients fall back to TCP 443.
  if (policy.needsProxy()) dropped(match(payload("udp", "dport"), "==", kHttpsPort));
  for (Family f : families) dropped(daddrIn(f, n.set(kDenySet, f)));
  if (policy.defaultAllow()) {
    rule({accept()});
  } else {
    rule({refuse(n)});
  }
}

void addInputRules(std::vector<json>& cmds, const TableConfig& config, const SandboxNet& s,
                   const Names& n, const Policy& policy) {
  const std::string chain = n.in();
  auto rule = [&](std::vector<json> expr) {
    cmds.push_back(add(ruleObject(chain, std::move(expr))));
  };
  if (s.lease.v6) {
    // Neighbour discovery to the host's link-local address precedes any IPv6 traffic, and its
    // source may be link-local or unspecified, so it comes before anti-spoofing.
    rule({match(payload("icmpv6", "type"),
                "==", anonymousSet(json::array({"nd-neighbor-solicit", "nd-neighbor-advert"}))),
          match(payload("ip6", "hoplimit"), "==", kNdHopLimit), accept()});
  }
  if (policy.internet) {
    addAntiSpoof(cmds, chain, s, n);
    std::vector<const LinkAddresses*> links = {&s.lease.v4};
    if (s.lease.v6) links.push_back(&*s.lease.v6);
    for (const LinkAddresses* link : links) {
      json to_gateway =
          match(payload(ipProtocol(link->host.family()), "daddr"), "==", link->host.toString());
      rule({to_gateway, match(payload("udp", "dport"), "==", kDnsPort), accept()});
      rule({to_gateway, match(payload("tcp", "dport"), "==", kDnsPort), accept()});
      if (policy.needsProxy()) {
        rule({to_gateway, match(payload("tcp", "dport"), "==", config.proxy_port), accept()});
      }
    }
  }
  rule({refuse(n)});
}

void addNatRules(std::vector<json>& cmds, const TableConfig& config, const SandboxNet& s,
                 const Names& n, const Policy& policy) {
  if (!policy.needsProxy()) return;
  const std::string chain = n.nat();
  auto rule = [&](std::vector<json> expr) {
    cmds.push_back(add(ruleObject(chain, std::move(expr))));
  };
  // Destinations the forward chain decides by address alone keep their address: the always
  // denied and private ones (dropped there unless allowed by CIDR), and the allowed ones.
  auto families = familiesOf(s);
  for (Family f : families) rule({daddrIn(f, familySet(kAlwaysDenied, f)), ret()});
  for (Family f : families) rule({daddrIn(f, familySet(kPrivate, f)), ret()});
  for (Family f : families) rule({daddrIn(f, n.set(kAllowSet, f)), ret()});
  rule({match(payload("tcp", "dport"), "==", anonymousSet(json::array({kHttpPort, kHttpsPort}))),
        redirectTo(config.proxy_port)});
}

// Fills the sandbox's (empty) sets and chains.
void fillSandbox(std::vector<json>& cmds, const TableConfig& config, const SandboxNet& s,
                 const Names& n, const Decider& decider) {
  const Policy& policy = decider.policy();
  PrefixSet allow = policy.allow.cidrs;
  PrefixSet deny = policy.deny.cidrs;
  for (const char* everything : {"0.0.0.0/0", "::/0"}) {
    if (policy.allow.all_traffic) allow.add(cidrLiteral(everything));
    if (policy.deny.all_traffic) deny.add(cidrLiteral(everything));
  }
  PrefixSet allow_private = decider.privateAllows();
  for (Family f : kFamilies) {
    addPrefixes(cmds, n.set(kAllowSet, f), allow.normalized(f));
    addPrefixes(cmds, n.set(kAllowPrivateSet, f), allow_private.normalized(f));
    addPrefixes(cmds, n.set(kDenySet, f), deny.normalized(f));
  }
  addForwardRules(cmds, s, n, policy);
  addInputRules(cmds, config, s, n, policy);
  addNatRules(cmds, config, s, n, policy);
}

Result<void> checkSandbox(const TableConfig& config, const SandboxNet& s, const Policy& policy) {
  if (!s.lease.v4.sandbox.isV4() || !s.lease.v4.host.isV4()) {
    return PlainError() << "sandbox " << s.key << ": the IPv4 lease is not IPv4";
  }
  if (s.lease.v6 && (s.lease.v6->sandbox.isV4() || s.lease.v6->host.isV4())) {
    return PlainError() << "sandbox " << s.key << ": the IPv6 lease is not IPv6";
  }
  if (policy.needsProxy() && config.proxy_port == 0) {
    return PlainError() << "sandbox " << s.key << ": name rules need the egress proxy port";
  }
  return Ok{};
}

std::vector<json> vmapElements(const Names& n) {
  return {elementObject(kFwdVmap, json::array({json::array({n.ifname, jump(n.fwd())})})),
          elementObject(kInVmap, json::array({json::array({n.ifname, jump(n.in())})})),
          elementObject(kNatVmap, json::array({json::array({n.ifname, jump(n.nat())})}))};
}

}  // namespace

Result<std::string> hostIfName(std::string_view key) {
  bool ok = !key.empty() && key.size() <= kMaxSandboxKeyLength &&
            std::all_of(key.begin(), key.end(),
                        [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
  if (!ok)
    return PlainError() << "sandbox key must be 1.." << kMaxSandboxKeyLength << " of [a-z0-9]";
  return std::string(kHostIfPrefix) + std::string(key);
}

nlohmann::json planTableCreate(const TableConfig& config) {
  std::vector<json> cmds;
  // add + delete + add: one transaction that starts from an empty table whether or not a
  // crashed daemon left one behind (delete alone fails when there is none).
  cmds.push_back(add(tableObject()));
  cmds.push_back(del(tableObject()));
  cmds.push_back(add(tableObject()));
  for (Family f : kFamilies) {
    cmds.push_back(add(setObject(familySet(kAlwaysDenied, f), f, {"interval"})));
    cmds.push_back(add(setObject(familySet(kPrivate, f), f, {"interval"})));
  }
  addBoundaryElements(cmds, config.boundaries);
  for (auto map : {kFwdVmap, kInVmap, kNatVmap}) cmds.push_back(add(ifnameVmapObject(map)));

  cmds.push_back(add(baseChainObject("forward", "filter", "forward", kPriorityFilter)));
  cmds.push_back(add(baseChainObject("input", "filter", "input", kPriorityFilter)));
  cmds.push_back(add(baseChainObject("prerouting", "nat", "prerouting", kPriorityDstNat)));
  cmds.push_back(add(baseChainObject("postrouting", "nat", "postrouting", kPrioritySrcNat)));

  auto rule = [&](std::string_view chain, std::vector<json> expr) {
    cmds.push_back(add(ruleObject(chain, std::move(expr))));
  };
  json from_sandbox = match(meta("iifname"), "==", anyHostIf());
  json to_sandbox = match(meta("oifname"), "==", anyHostIf());
  rule("forward", {from_sandbox, match(ctState(), "in", "invalid"), drop()});
  rule("forward", {vmap(meta("iifname"), kFwdVmap)});
  // A veth whose sandbox has no chain (yet, or any more) gets nothing through.
  rule("forward", {from_sandbox, drop()});
  // Replies reach a sandbox; nothing starts a connection into one.
  rule("forward", {to_sandbox, match(ctState(), "in", established()), accept()});
  rule("forward", {to_sandbox, drop()});
  rule("input", {vmap(meta("iifname"), kInVmap)});
  rule("input", {from_sandbox, drop()});
  rule("prerouting", {vmap(meta("iifname"), kNatVmap)});
  json to_outside = match(meta("oifname"), "!=", anyHostIf());
  rule("postrouting",
       {match(payload("ip", "saddr"), "==", prefix(config.pool4)), to_outside, masquerade()});
  if (config.pool6) {
    rule("postrouting",
         {match(payload("ip6", "saddr"), "==", prefix(*config.pool6)), to_outside, masquerade()});
  }
  return document(std::move(cmds));
}

nlohmann::json planTableDelete() { return document({del(tableObject())}); }

nlohmann::json planBoundariesUpdate(const Boundaries& boundaries) {
  std::vector<json> cmds;
  for (Family f : kFamilies) {
    cmds.push_back(flush(setNameOnly(familySet(kAlwaysDenied, f))));
    cmds.push_back(flush(setNameOnly(familySet(kPrivate, f))));
  }
  addBoundaryElements(cmds, boundaries);
  return document(std::move(cmds));
}

Result<nlohmann::json> planSandboxAdd(const TableConfig& config, const SandboxNet& sandbox,
                                      const Decider& decider) {
  auto names = namesFor(sandbox.key);
  if (!names) return names.error();
  if (auto ok = checkSandbox(config, sandbox, decider.policy()); !ok) return ok.error();
  const Names& n = *names;
  std::vector<json> cmds;
  cmds.push_back(add(counterObject(n.counter())));
  for (Family f : kFamilies) {
    for (auto kind : kIntervalSets) cmds.push_back(add(setObject(n.set(kind, f), f, {"interval"})));
    cmds.push_back(add(setObject(n.set(kResolvedSet, f), f, {"timeout"})));
  }
  // The refuse chain before the chains that go to it, and after the counter it uses.
  cmds.push_back(add(chainObject(n.refuse())));
  fillRefuseChain(cmds, sandbox, n);
  for (const auto& chain : {n.fwd(), n.in(), n.nat()}) cmds.push_back(add(chainObject(chain)));
  fillSandbox(cmds, config, sandbox, n, decider);
  // Last: the vmaps send the veth's traffic to chains that are complete.
  for (auto& element : vmapElements(n)) cmds.push_back(add(std::move(element)));
  return document(std::move(cmds));
}

Result<nlohmann::json> planSandboxUpdate(const TableConfig& config, const SandboxNet& sandbox,
                                         const Decider& decider) {
  auto names = namesFor(sandbox.key);
  if (!names) return names.error();
  if (auto ok = checkSandbox(config, sandbox, decider.policy()); !ok) return ok.error();
  const Names& n = *names;
  std::vector<json> cmds;
  // Addresses resolved under the old policy may name hosts the new one refuses: flushed too.
  for (const auto& set : n.allSets()) cmds.push_back(flush(setNameOnly(set)));
  // The refuse chain depends on the lease, not the policy: it stays, with its rate limit's state.
  for (const auto& chain : {n.fwd(), n.in(), n.nat()}) cmds.push_back(flush(chainObject(chain)));
  fillSandbox(cmds, config, sandbox, n, decider);
  return document(std::move(cmds));
}

Result<nlohmann::json> planSandboxRemove(std::string_view key) {
  auto names = namesFor(key);
  if (!names) return names.error();
  const Names& n = *names;
  std::vector<json> cmds;
  // The vmap elements first (they jump to the chains), then the chains (their rules reference
  // the sets and go to the refuse chain), then the refuse chain (it references the counter),
  // then the sets and the counter.
  for (auto map : {kFwdVmap, kInVmap, kNatVmap}) {
    cmds.push_back(del(elementObject(map, json::array({n.ifname}))));
  }
  for (const auto& chain : {n.fwd(), n.in(), n.nat(), n.refuse()}) {
    cmds.push_back(flush(chainObject(chain)));
    cmds.push_back(del(chainObject(chain)));
  }
  for (const auto& set : n.allSets()) cmds.push_back(del(setNameOnly(set)));
  cmds.push_back(del(counterObject(n.counter())));
  return document(std::move(cmds));
}

Result<nlohmann::json> planResolvedAdd(std::string_view key, std::span<const IpAddress> addresses,
                                       uint32_t ttl_seconds) {
  auto names = namesFor(key);
  if (!names) return names.error();
  std::vector<json> cmds;
  for (Family f : kFamilies) {
    json elems = json::array();
    for (const IpAddress& a : addresses) {
      IpAddress plain = a.unmapped();
      if (plain.family() != f) continue;
      elems.push_back({{"elem", {{"val", plain.toString()}, {"timeout", ttl_seconds}}}});
    }
    if (!elems.empty()) {
      cmds.push_back(add(elementObject(names->set(kResolvedSet, f), std::move(elems))));
    }
  }
  return document(std::move(cmds));
}

}  // namespace declaw::netpolicy
