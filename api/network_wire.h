// The network parts of the API's JSON: `network` on create, PATCH .../network, and the policy,
// addresses and refusal counts a sandbox info and GET .../network show. Validation is
// netpolicy's (parsePolicy), so the API refuses exactly what the daemon could not enforce, with
// a 400 that names the entry: "network.allow_out[2] '10.0.0.0/33': prefix length must be 0..32".
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "api/services.h"

namespace declaw::api {

// `network` of a create body (absent or null: no lists). Throws ApiError.
NetworkLists parseNetworkLists(const nlohmann::json& body);
// `network.loopback_inet` of a create body (absent: false). Throws ApiError.
bool parseLoopbackInet(const nlohmann::json& body);
// Whether a create body names egress lists, which means the sandbox is to have a network.
bool namesEgressPolicy(const nlohmann::json& body);
// A PATCH .../network body. Throws ApiError.
NetworkUpdate parseNetworkUpdate(const nlohmann::json& body);

// The `network` object of a sandbox info.
nlohmann::json toJson(const NetworkInfo& info);
// The `network` object of a sandbox info, with loopback_inet.
nlohmann::json networkJson(const SandboxInfo& info);
// GET and PATCH .../network: that object and allow_internet_access.
nlohmann::json networkView(const SandboxInfo& info);

}  // namespace declaw::api
