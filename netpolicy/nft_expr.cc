#include "netpolicy/nft_expr.h"

#include "netpolicy/nft_plan.h"

namespace declaw::netpolicy::nftjson {
namespace {

constexpr std::string_view kFamily = "inet";

// The fields every object in table inet declaw starts with.
json inTable(std::string_view name) {
  return {{"family", kFamily}, {"table", kNftTable}, {"name", name}};
}

}  // namespace

json tableObject() { return {{"table", {{"family", kFamily}, {"name", kNftTable}}}}; }

json chainObject(std::string_view name) { return {{"chain", inTable(name)}}; }

json baseChainObject(std::string_view name, std::string_view type, std::string_view hook,
                     int priority) {
  json c = inTable(name);
  c["type"] = type;
  c["hook"] = hook;
  c["prio"] = priority;
  // accept: these chains see all of the host's traffic and must only act on the sandboxes'.
  c["policy"] = "accept";
  return {{"chain", std::move(c)}};
}

json setObject(std::string_view name, Family family, const std::vector<std::string>& flags) {
  json s = inTable(name);
  s["type"] = family == Family::kV4 ? "ipv4_addr" : "ipv6_addr";
  s["flags"] = flags;
  return {{"set", std::move(s)}};
}

json ifnameVmapObject(std::string_view name) {
  json m = inTable(name);
  m["type"] = "ifname";
  m["map"] = "verdict";
  return {{"map", std::move(m)}};
}

json counterObject(std::string_view name) { return {{"counter", inTable(name)}}; }

json ruleObject(std::string_view chain, std::vector<json> expr) {
  return {
      {"rule",
       {{"family", kFamily}, {"table", kNftTable}, {"chain", chain}, {"expr", std::move(expr)}}}};
}

json elementObject(std::string_view set, json elems) {
  json e = inTable(set);
  e["elem"] = std::move(elems);
  return {{"element", std::move(e)}};
}

}  // namespace declaw::netpolicy::nftjson
