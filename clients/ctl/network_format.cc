#include "clients/ctl/network_format.h"

#include <algorithm>
#include <string_view>

#include "clients/ctl/format.h"

namespace declaw::ctl {
namespace {

// "0.0.0.0/0" is the SDKs' ALL_TRAFFIC on the wire; the daemon shows both spellings as it.
constexpr std::string_view kAllTraffic = "0.0.0.0/0";

const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNone;
  if (!object.is_object()) return kNone;
  auto it = object.find(key);
  return it == object.end() ? kNone : *it;
}

bool nonEmptyList(const nlohmann::json& list) { return list.is_array() && !list.empty(); }

bool holdsAllTraffic(const nlohmann::json& list) {
  return list.is_array() && std::any_of(list.begin(), list.end(), [](const nlohmann::json& e) {
           return e.is_string() && e.get_ref<const std::string&>() == kAllTraffic;
         });
}

// address, then address6 when there is one; "-" for neither.
std::string addresses(const nlohmann::json& network) {
  std::string v4 = displayField(network, "address");
  std::string v6 = displayField(network, "address6");
  if (v6 == "-") return v4;
  return v4 == "-" ? v6 : v4 + " " + v6;
}

}  // namespace

std::string egressSummary(const nlohmann::json& network) {
  const auto& internet = member(network, "allow_internet_access");
  if (!internet.is_boolean() || !internet.get<bool>()) return "none (no internet access)";
  const auto& allow = member(network, "allow_out");
  const auto& deny = member(network, "deny_out");
  // Allow wins over deny, and an allow list denies everything it does not name.
  if (nonEmptyList(allow)) return "only what allow_out names";
  if (holdsAllTraffic(deny)) return "none (deny_out has ALL_TRAFFIC)";
  if (nonEmptyList(deny)) return "every public destination except deny_out";
  return "every public destination";
}

std::string formatRuleList(const nlohmann::json& entries) {
  if (!nonEmptyList(entries)) return "-";
  std::string out;
  for (const auto& entry : entries) {
    out += (out.empty() ? "" : " ") +
           escapeControl(entry.is_string() ? entry.get<std::string>() : entry.dump());
  }
  return out;
}

std::string formatRefusals(const nlohmann::json& refused) {
  if (!refused.is_object() || refused.empty()) return "-";
  std::string out;
  // The daemon's order: the DNS stub, the egress proxy, then the firewall.
  for (const char* key : {"dns", "proxy", "firewall_packets"}) {
    out += (out.empty() ? "" : " ") + std::string(key) + "=" + displayField(refused, key);
  }
  return out;
}

std::string formatNetwork(const nlohmann::json& network) {
  std::vector<std::pair<std::string, std::string>> lines = {
      {"allow_internet_access", displayField(network, "allow_internet_access")},
      {"egress", egressSummary(network)},
      {"allow_out", formatRuleList(member(network, "allow_out"))},
      {"deny_out", formatRuleList(member(network, "deny_out"))},
  };
  for (const char* key : {"address", "gateway", "address6", "interface"}) {
    lines.emplace_back(key, displayField(network, key));
  }
  lines.emplace_back("refused", formatRefusals(member(network, "refused")));
  return formatFields(lines);
}

std::vector<std::pair<std::string, std::string>> networkInfoLines(const nlohmann::json& info) {
  const auto& network = member(info, "network");
  if (!network.is_object()) {
    return {{"allow_out", "-"}, {"deny_out", "-"}, {"address", "-"}, {"refused", "-"}};
  }
  return {{"allow_out", formatRuleList(member(network, "allow_out"))},
          {"deny_out", formatRuleList(member(network, "deny_out"))},
          {"address", addresses(network)},
          {"refused", formatRefusals(member(network, "refused"))}};
}

}  // namespace declaw::ctl
