#include "tests/unit/netpolicy_nft_model.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>

namespace declaw::testing {

using netpolicy::Cidr;
using netpolicy::IpAddress;
using nlohmann::json;

namespace {

// Calls `visit` on every string in `j`, recursively.
void forEachString(const json& j, const std::function<void(const std::string&)>& visit) {
  if (j.is_string()) {
    visit(j.get<std::string>());
  } else if (j.is_structured()) {
    for (const auto& child : j) forEachString(child, visit);
  }
}

bool referencesName(const json& rule_expr, const std::string& name) {
  bool found = false;
  forEachString(rule_expr, [&](const std::string& s) { found |= s == "@" + name || s == name; });
  return found;
}

Cidr elementCidr(const json& e) {
  if (e.contains("prefix")) {
    auto c = Cidr::make(netpolicy::ipLiteral(e["prefix"]["addr"].get<std::string>()),
                        e["prefix"]["len"].get<int>());
    REQUIRE(c.ok());
    return *c;
  }
  if (e.contains("elem"))
    return Cidr::host(netpolicy::ipLiteral(e["elem"]["val"].get<std::string>()));
  return Cidr::host(netpolicy::ipLiteral(e.get<std::string>()));
}

bool ifnameMatches(const std::string& pattern, const std::string& name) {
  if (pattern.ends_with('*')) return name.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == name;
}

}  // namespace

std::string renderExpr(const json& e) {
  if (e.is_string()) return e.get<std::string>();
  if (e.is_number()) return std::to_string(e.get<long>());
  if (e.is_array()) {
    std::string out;
    for (const auto& x : e) out += (out.empty() ? "" : ",") + renderExpr(x);
    return out;
  }
  if (e.contains("payload")) {
    return e["payload"]["protocol"].get<std::string>() + " " +
           e["payload"]["field"].get<std::string>();
  }
  if (e.contains("meta")) {
    std::string key = e["meta"]["key"];
    return key == "iifname" || key == "oifname" ? key : "meta " + key;
  }
  if (e.contains("ct")) return "ct " + e["ct"]["key"].get<std::string>();
  if (e.contains("set")) return "{ " + renderExpr(e["set"]) + " }";
  if (e.contains("prefix")) {
    return e["prefix"]["addr"].get<std::string>() + "/" +
           std::to_string(e["prefix"]["len"].get<int>());
  }
  if (e.contains("match")) {
    const json& m = e["match"];
    std::string op = m["op"] == "!=" ? " != " : " ";
    return renderExpr(m["left"]) + op + renderExpr(m["right"]);
  }
  if (e.contains("counter")) return "counter name " + e["counter"].get<std::string>();
  if (e.contains("redirect"))
    return "redirect to :" + std::to_string(e["redirect"]["port"].get<int>());
  if (e.contains("vmap"))
    return renderExpr(e["vmap"]["key"]) + " vmap " + e["vmap"]["data"].get<std::string>();
  if (e.contains("jump")) return "jump " + e["jump"]["target"].get<std::string>();
  if (e.contains("goto")) return "goto " + e["goto"]["target"].get<std::string>();
  if (e.contains("limit")) {
    const json& l = e["limit"];
    REQUIRE(l.size() == 3);  // packets (the default unit), never inverted
    return "limit rate " + std::to_string(l["rate"].get<int>()) + "/" +
           l["per"].get<std::string>() + " burst " + std::to_string(l["burst"].get<int>()) +
           " packets";
  }
  if (e.contains("log")) {
    const json& l = e["log"];
    REQUIRE(l.size() == 2);
    return "log prefix \"" + l["prefix"].get<std::string>() + "\" level " +
           l["level"].get<std::string>();
  }
  if (e.contains("reject")) {
    const json& r = e["reject"];
    if (r["type"] == "tcp reset") {
      REQUIRE(r.size() == 1);
      return "reject with tcp reset";
    }
    REQUIRE(r.size() == 2);
    REQUIRE(r["type"] == "icmpx");
    return "reject with icmpx " + r["expr"].get<std::string>();
  }
  for (const char* verdict : {"accept", "drop", "return", "masquerade"}) {
    if (e.contains(verdict)) return verdict;
  }
  FAIL("the model cannot render " << e.dump());
  return {};
}

void NftModel::apply(const json& document) {
  REQUIRE(document.contains("nftables"));
  for (const json& command : document["nftables"]) {
    REQUIRE(command.size() == 1);
    const std::string verb = command.begin().key();
    const json& object = command.begin().value();
    REQUIRE(object.size() == 1);
    const std::string kind = object.begin().key();
    const json& o = object.begin().value();
    INFO(verb << " " << kind << " " << o.dump());
    if (kind == "table") {
      REQUIRE(o["family"] == "inet");
      REQUIRE(o["name"] == "declaw");
      if (verb == "add") {
        table_ = true;
      } else {
        REQUIRE(verb == "delete");
        REQUIRE(table_);
        *this = NftModel();
      }
      continue;
    }
    REQUIRE(table_);
    REQUIRE(o["family"] == "inet");
    REQUIRE(o["table"] == "declaw");
    const std::string name = o.contains("name") ? o["name"].get<std::string>() : "";
    if (kind == "set" || kind == "map") {
      applySet(verb, name, kind == "map");
    } else if (kind == "chain") {
      applyChain(verb, name);
    } else if (kind == "rule") {
      applyRule(verb, o);
    } else if (kind == "element") {
      applyElement(verb, name, o);
    } else if (kind == "counter") {
      applyCounter(verb, name);
    } else {
      FAIL("the model does not know " << kind);
    }
  }
}

void NftModel::requireUnreferenced(const std::string& name) const {
  for (const auto& [chain, rules] : chains_) {
    for (const auto& r : rules) REQUIRE_FALSE(referencesName(r, name));
  }
}

void NftModel::applySet(const std::string& verb, const std::string& name, bool is_map) {
  if (verb == "add") {
    REQUIRE((is_map ? vmaps_.count(name) : sets_.count(name)) == 0);
    if (is_map) {
      vmaps_[name];
    } else {
      sets_[name];
    }
  } else if (verb == "flush") {
    REQUIRE(sets_.count(name) == 1);
    sets_[name].clear();
  } else {
    REQUIRE(verb == "delete");
    REQUIRE(sets_.count(name) == 1);
    requireUnreferenced(name);
    sets_.erase(name);
  }
}

void NftModel::applyChain(const std::string& verb, const std::string& name) {
  if (verb == "add") {
    REQUIRE(chains_.count(name) == 0);
    chains_[name];
  } else if (verb == "flush") {
    REQUIRE(chains_.count(name) == 1);
    chains_[name].clear();
  } else {
    REQUIRE(verb == "delete");
    REQUIRE(chains_.count(name) == 1);
    REQUIRE(chains_[name].empty());
    for (const auto& [map, elements] : vmaps_) {
      for (const auto& [ifname, target] : elements) REQUIRE(target != name);
    }
    requireUnreferenced(name);
    chains_.erase(name);
  }
}

void NftModel::applyRule(const std::string& verb, const json& o) {
  REQUIRE(verb == "add");
  const std::string chain = o["chain"];
  REQUIRE(chains_.count(chain) == 1);
  forEachString(o["expr"], [&](const std::string& s) {
    if (s.starts_with("@")) {
      std::string ref = s.substr(1);
      REQUIRE((sets_.count(ref) + vmaps_.count(ref)) == 1);
    }
  });
  for (const auto& e : o["expr"]) {
    if (e.contains("counter")) REQUIRE(counters_.count(e["counter"].get<std::string>()) == 1);
    for (const char* verdict : {"jump", "goto"}) {
      if (e.contains(verdict)) REQUIRE(chains_.count(e[verdict]["target"]) == 1);
    }
  }
  chains_[chain].push_back(o["expr"]);
}

void NftModel::applyElement(const std::string& verb, const std::string& name, const json& o) {
  REQUIRE(o["elem"].is_array());
  REQUIRE_FALSE(o["elem"].empty());
  if (vmaps_.count(name)) {
    auto& map = vmaps_[name];
    for (const auto& e : o["elem"]) {
      if (verb == "add") {
        const std::string target = e[1]["jump"]["target"];
        REQUIRE(chains_.count(target) == 1);
        map[e[0].get<std::string>()] = target;
      } else {
        REQUIRE(verb == "delete");
        REQUIRE(map.erase(e.get<std::string>()) == 1);
      }
    }
  } else {
    REQUIRE(verb == "add");
    REQUIRE(sets_.count(name) == 1);
    for (const auto& e : o["elem"]) sets_[name].push_back(elementCidr(e));
  }
}

void NftModel::applyCounter(const std::string& verb, const std::string& name) {
  if (verb == "add") {
    counters_[name] = true;
  } else {
    REQUIRE(verb == "delete");
    REQUIRE(counters_.erase(name) == 1);
    requireUnreferenced(name);
  }
}

std::vector<std::string> NftModel::objectNames() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : sets_) out.push_back("set " + name);
  for (const auto& [name, _] : chains_) out.push_back("chain " + name);
  for (const auto& [name, _] : counters_) out.push_back("counter " + name);
  for (const auto& [map, elements] : vmaps_) {
    out.push_back("map " + map);
    for (const auto& [ifname, target] : elements) out.push_back(map + "[" + ifname + "]");
  }
  return out;
}

const std::vector<Cidr>& NftModel::set(const std::string& name) const {
  static const std::vector<Cidr> kNone;
  auto it = sets_.find(name);
  return it == sets_.end() ? kNone : it->second;
}

std::vector<std::string> NftModel::renderChain(const std::string& name) const {
  std::vector<std::string> out;
  auto it = chains_.find(name);
  if (it == chains_.end()) return out;
  for (const auto& expr : it->second) {
    std::string line;
    for (const auto& e : expr) line += (line.empty() ? "" : " ") + renderExpr(e);
    out.push_back(line);
  }
  return out;
}

bool NftModel::matches(const json& m, const NftPacket& p) const {
  const json& left = m["left"];
  const json& right = m["right"];
  bool negate = m["op"] == "!=";
  // Each branch yields whether the packet has the field, and whether its value matches.
  auto judge = [&](bool applicable, const std::function<bool(const json&)>& equals) {
    if (!applicable) return false;  // nft's implicit protocol dependency: no such header
    bool hit = false;
    if (right.is_object() && right.contains("set")) {
      for (const auto& x : right["set"]) hit |= equals(x);
    } else if (right.is_array()) {
      for (const auto& x : right) hit |= equals(x);
    } else {
      hit = equals(right);
    }
    return hit != negate;
  };
  if (left.contains("payload")) {
    const std::string proto = left["payload"]["protocol"];
    const std::string field = left["payload"]["field"];
    if (proto == "ip" || proto == "ip6") {
      const IpAddress& a = field == "saddr" ? p.saddr : p.daddr;
      bool applicable = (proto == "ip") == a.isV4();
      return judge(applicable, [&](const json& r) {
        if (r.is_string() && r.get<std::string>().starts_with("@")) {
          const auto& cidrs = set(r.get<std::string>().substr(1));
          return std::any_of(cidrs.begin(), cidrs.end(),
                             [&](const Cidr& c) { return c.contains(a); });
        }
        if (r.is_object()) return elementCidr(r).contains(a);
        return netpolicy::ipLiteral(r.get<std::string>()) == a;
      });
    }
    if (field == "dport") {
      return judge(p.l4 == proto, [&](const json& r) { return r.get<int>() == p.dport; });
    }
    // icmpv6 type, ip6 hoplimit: the model's packets are never neighbour discovery.
    return judge(false, nullptr);
  }
  if (left.contains("meta")) {
    const std::string key = left["meta"]["key"];
    if (key == "l4proto") {
      return judge(true, [&](const json& r) { return r.get<std::string>() == p.l4; });
    }
    if (key == "nfproto") {
      std::string proto = p.daddr.isV4() ? "ipv4" : "ipv6";
      return judge(true, [&](const json& r) { return r.get<std::string>() == proto; });
    }
    const std::string& ifname = key == "iifname" ? p.iifname : p.oifname;
    return judge(true, [&](const json& r) { return ifnameMatches(r.get<std::string>(), ifname); });
  }
  if (left.contains("ct")) {
    return judge(true, [&](const json& r) { return r.get<std::string>() == p.ct_state; });
  }
  FAIL("the model cannot match " << m.dump());
  return false;
}

std::string NftModel::evaluate(const std::string& chain, const NftPacket& p) const {
  NftTrace ignored;
  return walk(chain, p, ignored);
}

NftTrace NftModel::trace(const std::string& chain, const NftPacket& p) const {
  NftTrace t;
  t.verdict = walk(chain, p, t);
  return t;
}

std::string NftModel::walk(const std::string& chain, const NftPacket& p, NftTrace& trace) const {
  auto it = chains_.find(chain);
  REQUIRE(it != chains_.end());
  for (const auto& expr : it->second) {
    std::string verdict;
    std::string reply;
    bool all_matched = true;
    for (const auto& e : expr) {
      if (e.contains("match")) {
        if (!matches(e["match"], p)) {
          all_matched = false;
          break;
        }
      } else if (e.contains("vmap")) {
        std::string map = e["vmap"]["data"].get<std::string>().substr(1);
        const auto& elements = vmaps_.at(map);
        auto target = elements.find(p.iifname);
        if (target == elements.end()) break;  // no element: the rule does nothing
        std::string v = walk(target->second, p, trace);
        if (v != "continue" && v != "return") return v;
      } else if (e.contains("goto")) {
        // The target's verdict is this chain's; its end returns past this chain, to the caller.
        std::string v = walk(e["goto"]["target"], p, trace);
        return v == "continue" ? "return" : v;
      } else if (e.contains("limit")) {
        if (p.over_limit) {
          all_matched = false;
          break;
        }
      } else if (e.contains("counter")) {
        trace.counters.push_back(e["counter"]);
      } else if (e.contains("log")) {
        trace.logs.push_back(e["log"]["prefix"]);
      } else if (e.contains("return")) {
        return "return";
      } else if (e.contains("reject")) {
        // Ends evaluation as drop does; what it answers is the trace's.
        verdict = "reject";
        reply = renderExpr(e).substr(std::string_view("reject with ").size());
      } else {
        verdict = renderExpr(e);
        if (verdict.starts_with("redirect")) verdict = "redirect";
      }
    }
    if (all_matched && !verdict.empty()) {
      trace.reply = reply;
      return verdict;
    }
  }
  return "continue";
}

}  // namespace declaw::testing
