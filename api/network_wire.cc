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

constexpr const char* kLoopbackInet = "loopback_inet";

nlohmann::json orNull(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

NetworkLists parseNetworkLists(const nlohmann::json& body) {
  const nlohmann::json* network = findField(body, "network");
  if (!network || network->is_null()) return {};
  nlohmann::json lists = *network;
  if (lists.is_object()) lists.erase(kLoopbackInet);  // not a list: parseLoopbackInet's
  auto spec = netpolicy::networkSpecFromJson(lists, true);
  if (!spec) throw badRequest("network." + spec.error().message);
  return checked(*spec, "network.");
}

bool parseLoopbackInet(const nlohmann::json& body) {
  const nlohmann::json* network = findField(body, "network");
  if (!network || !network->is_object()) return false;
  auto it = network->find(kLoopbackInet);
  if (it == network->end() || it->is_null()) return false;
  if (!it->is_boolean()) throw badRequest("network.loopback_inet must be a boolean");
  return it->get<bool>();
}

bool namesEgressPolicy(const nlohmann::json& body) {
  const nlohmann::json* network = findField(body, "network");
  if (!network || network->is_null()) return false;
  // {"network": {}} has always meant "with a network"; only loopback_inet alone does not.
  return !(network->is_object() && network->size() == 1 && network->contains(kLoopbackInet));
}

NetworkUpdate parseNetworkUpdate(const nlohmann::json& body) {
  if (body.is_object() && body.contains(kLoopbackInet)) {
    throw badRequest(
        "loopback_inet is fixed when a sandbox is created (it decides the sandbox's seccomp "
        "filter): create a new sandbox with network.loopback_inet");
  }
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

nlohmann::json networkJson(const SandboxInfo& info) {
  nlohmann::json out = toJson(info.network);
  out[kLoopbackInet] = info.loopback_inet;
  return out;
}

nlohmann::json networkView(const SandboxInfo& info) {
  nlohmann::json out = networkJson(info);
  out["allow_internet_access"] = info.allow_internet_access;
  return out;
}

}  // namespace declaw::api
