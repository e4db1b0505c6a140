#include "api/network_wire.h"

#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/json_fields.h"
#include "netpolicy/policy.h"

namespace declaw::api {

namespace {

// Validates the lists as the daemon will parse them, and returns their canonical entries.
NetworkLists checked(const netpolicy::NetworkSpec& spec, const std::string& prefix) {
  auto policy = netpolicy::parsePolicy(spec);
  if (!policy) throw badRequest(prefix + policy.error().message);
  return {policy->allow.entries, policy->deny.entries};
}

nlohmann::json orNull(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

NetworkLists parseNetworkLists(const nlohmann::json& body) {
  const nlohmann::json* network = findField(body, "network");
  if (!network || network->is_null()) return {};
  auto spec = netpolicy::networkSpecFromJson(*network, true);
  if (!spec) throw badRequest("network." + spec.error().message);
  return checked(*spec, "network.");
}

NetworkUpdate parseNetworkUpdate(const nlohmann::json& body) {
  NetworkUpdate update;
  nlohmann::json lists = nlohmann::json::object();
  for (const auto& [key, value] : body.items()) {
    if (key == "allow_internet_access") continue;
    lists[key] = value;  // networkSpecFromJson refuses keys other than the two lists
  }
  update.allow_internet_access = boolField(body, "allow_internet_access");
  auto spec = netpolicy::networkSpecFromJson(lists, true);
  if (!spec) throw badRequest(spec.error().message);
  NetworkLists parsed = checked(*spec, "");
  auto given = [&](const char* key) {
    auto it = body.find(key);
    return it != body.end() && !it->is_null();
  };
  if (given("allow_out")) update.allow_out = std::move(parsed.allow_out);
  if (given("deny_out")) update.deny_out = std::move(parsed.deny_out);
  if (!update.allow_out && !update.deny_out && !update.allow_internet_access) {
    throw badRequest("give 'allow_out', 'deny_out' or 'allow_internet_access'");
  }
  return update;
}

nlohmann::json toJson(const NetworkInfo& info) {
  return {{"allow_out", info.lists.allow_out},
          {"deny_out", info.lists.deny_out},
          {"address", orNull(info.address)},
          {"gateway", orNull(info.gateway)},
          {"address6", orNull(info.address6)},
          {"interface", orNull(info.interface)},
          {"refused",
           {{"dns", info.refused.dns},
            {"proxy", info.refused.proxy},
            {"firewall_packets", info.refused.firewall_packets}}}};
}

nlohmann::json networkView(const SandboxInfo& info) {
  nlohmann::json out = toJson(info.network);
  out["allow_internet_access"] = info.allow_internet_access;
  return out;
}

}  // namespace declaw::api
