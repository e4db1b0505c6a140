// A small model of the nftables state that the netpolicy plans build, for unit tests: it applies
// the JSON documents (add/delete/flush of the objects the plans use), renders rules as nft-like
// text for assertions that read like the ruleset, and walks chains for a packet so tests can
// compare the firewall's verdict with Decider's.
//
// Only the vocabulary nft_plan.cc emits is understood; anything else fails the test, so a plan
// that grows a new expression must teach the model too.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netpolicy/addr.h"

namespace declaw::testing {

struct NftPacket {
  std::string iifname;
  std::string oifname = "eth0";
  netpolicy::IpAddress saddr;
  netpolicy::IpAddress daddr;
  std::string l4 = "tcp";  // "tcp", "udp" or "icmpv6" (meta l4proto)
  uint16_t dport = 0;
  std::string ct_state = "new";
  // Whether every `limit` it meets has run out of tokens (a sandbox sending faster than that).
  bool over_limit = false;
};

// What walking the chains did to a packet.
struct NftTrace {
  std::string verdict;                // as NftModel::evaluate returns it
  std::vector<std::string> counters;  // named counters it was counted on, in order
  std::vector<std::string> logs;      // prefixes of the log lines it produced
  // For "reject": what the host answers the source with, "tcp reset" or "icmpx <code>".
  std::string reply;
};

// Whether `verdict` ends the packet without passing it: "drop", or "reject", which is a drop
// that answers the source. Where the source may be forged, tests ask for "drop" itself.
inline bool refused(const std::string& verdict) { return verdict == "drop" || verdict == "reject"; }

class NftModel {
 public:
  // Applies every command of {"nftables": [...]}; a command the model cannot apply (an unknown
  // object, a delete of something absent) fails the current test.
  void apply(const nlohmann::json& document);

  bool hasTable() const { return table_; }
  bool hasChain(const std::string& name) const { return chains_.count(name) != 0; }
  bool hasSet(const std::string& name) const { return sets_.count(name) != 0; }
  bool hasCounter(const std::string& name) const { return counters_.count(name) != 0; }
  // Names of all sets, chains, counters and map elements: to check that removal leaves none.
  std::vector<std::string> objectNames() const;
  const std::vector<netpolicy::Cidr>& set(const std::string& name) const;
  // The rules of a chain as nft-like text: "ip daddr @always_denied4 counter name x drop".
  std::vector<std::string> renderChain(const std::string& name) const;

  // The verdict of `chain` (and the chains it jumps to) for `packet`: "accept", "drop",
  // "reject", "redirect", "masquerade", or "continue" when no rule decides.
  std::string evaluate(const std::string& chain, const NftPacket& packet) const;
  // The same, with the counters and log statements the packet went through.
  NftTrace trace(const std::string& chain, const NftPacket& packet) const;

 private:
  // apply's commands, by the kind of object they change.
  void applySet(const std::string& verb, const std::string& name, bool is_map);
  void applyChain(const std::string& verb, const std::string& name);
  void applyRule(const std::string& verb, const nlohmann::json& o);
  void applyElement(const std::string& verb, const std::string& name, const nlohmann::json& o);
  void applyCounter(const std::string& verb, const std::string& name);
  // No rule mentions `name` (a set, map, chain or counter about to be deleted).
  void requireUnreferenced(const std::string& name) const;
  bool matches(const nlohmann::json& match, const NftPacket& packet) const;
  std::string walk(const std::string& chain, const NftPacket& packet, NftTrace& trace) const;

  bool table_ = false;
  std::map<std::string, std::vector<netpolicy::Cidr>> sets_;
  std::map<std::string, std::vector<nlohmann::json>> chains_;        // rule expression lists
  std::map<std::string, std::map<std::string, std::string>> vmaps_;  // map -> ifname -> chain
  std::map<std::string, bool> counters_;
};

std::string renderExpr(const nlohmann::json& expr);

}  // namespace declaw::testing
