// Builders for the libnftables JSON vocabulary (libnftables-json(5)) that nft_plan.cc uses.
// The shapes are the ones `nft -j list ruleset` prints for the equivalent text rules.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "netpolicy/addr.h"

namespace declaw::netpolicy::nftjson {

using json = nlohmann::json;

// Statements: verdicts and actions.
inline json accept() { return {{"accept", nullptr}}; }
inline json drop() { return {{"drop", nullptr}}; }
inline json ret() { return {{"return", nullptr}}; }
inline json jump(std::string_view chain) { return {{"jump", {{"target", chain}}}}; }
// Unlike jump, the chain does not come back here: its verdict (or its end) is the caller's.
inline json gotoChain(std::string_view chain) { return {{"goto", {{"target", chain}}}}; }
// Reject: end evaluation as drop does, and answer the packet's source, with a TCP reset or with
// the ICMP error `code` of the packet's own family (icmpx: "admin-prohibited" is ICMP type 3
// code 13 for IPv4 and ICMPv6 type 1 code 1 for IPv6). The shapes are libnftables-json(5)'s
// REJECT, as nft 1.0.6 lists them.
inline json rejectWithTcpReset() { return {{"reject", {{"type", "tcp reset"}}}}; }
inline json rejectWithIcmpx(std::string_view code) {
  return {{"reject", {{"type", "icmpx"}, {"expr", code}}}};
}
inline json masquerade() { return {{"masquerade", nullptr}}; }
inline json redirectTo(uint16_t port) { return {{"redirect", {{"port", port}}}}; }
inline json namedCounter(std::string_view name) { return {{"counter", name}}; }
// A line in the kernel log ("prefix" then the packet's headers) at `level` ("warn", "info").
inline json kernelLog(std::string_view prefix, std::string_view level) {
  return {{"log", {{"prefix", prefix}, {"level", level}}}};
}
// A token bucket that matches at most `rate` packets per second after a burst of `burst`
// packets; the packets beyond it do not match, so the rest of that rule does not run for them.
inline json limitPerSecond(uint32_t rate, uint32_t burst) {
  return {{"limit", {{"rate", rate}, {"per", "second"}, {"burst", burst}}}};
}
inline json vmap(json key, std::string_view map) {
  return {{"vmap", {{"key", std::move(key)}, {"data", "@" + std::string(map)}}}};
}

// Expressions.
inline json meta(std::string_view key) { return {{"meta", {{"key", key}}}}; }
inline json payload(std::string_view protocol, std::string_view field) {
  return {{"payload", {{"protocol", protocol}, {"field", field}}}};
}
inline json ctState() { return {{"ct", {{"key", "state"}}}}; }
inline json setRef(std::string_view name) { return "@" + std::string(name); }
inline json anonymousSet(json elements) { return {{"set", std::move(elements)}}; }
// An element of an interval set: always the prefix form, hosts included (/32, /128).
inline json prefix(const Cidr& c) {
  return {{"prefix", {{"addr", c.network().toString()}, {"len", c.prefixLength()}}}};
}

// `left op right`; op is "==", "!=" or "in" (flags such as ct state).
inline json match(json left, std::string_view op, json right) {
  return {{"match", {{"op", op}, {"left", std::move(left)}, {"right", std::move(right)}}}};
}

// "ip" or "ip6": the payload protocol for an address of `family`.
inline std::string_view ipProtocol(Family family) { return family == Family::kV4 ? "ip" : "ip6"; }
// "4" or "6": the suffix of set names per family.
inline std::string_view familySuffix(Family family) { return family == Family::kV4 ? "4" : "6"; }

// Objects, addressed in table inet declaw.
json tableObject();
json chainObject(std::string_view name);
json baseChainObject(std::string_view name, std::string_view type, std::string_view hook,
                     int priority);
json setObject(std::string_view name, Family family, const std::vector<std::string>& flags);
// A verdict map keyed by interface name.
json ifnameVmapObject(std::string_view name);
json counterObject(std::string_view name);
json ruleObject(std::string_view chain, std::vector<json> expr);
// {"element": ...} naming `set`; elems is an array (map elements are [key, value] pairs).
json elementObject(std::string_view set, json elems);

// Commands: {"add": {object}}, {"delete": {object}}, {"flush": {object}}.
inline json add(json object) { return {{"add", std::move(object)}}; }
inline json del(json object) { return {{"delete", std::move(object)}}; }
inline json flush(json object) { return {{"flush", std::move(object)}}; }
inline json document(std::vector<json> commands) { return {{"nftables", std::move(commands)}}; }

}  // namespace declaw::netpolicy::nftjson
