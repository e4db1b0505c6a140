// A Router over FakeServices, and small readers for its responses.
#pragma once

#include <catch2/catch.hpp>
#include <concepts>
#include <nlohmann/json.hpp>
#include <string>

#include "api/router.h"
#include "api_fake_services.h"

namespace declaw::api::testing {

inline constexpr const char* kId = "sbx-0123456789ab";
inline const std::string kSandbox = std::string("/v1/sandboxes/") + kId;

struct Api {
  FakeServices services;
  Limits limits;
  Router router{services, limits};
  Caller caller{.uid = 1000, .gid = 1000, .pid = 4242};

  Response call(const std::string& method, const std::string& target,
                const std::string& body = "") {
    return router.handle(caller, Request{method, target, "application/json", body});
  }
  // A JSON body (only an nlohmann::json, so string literals pick the overload above).
  template <typename Json>
  requires std::same_as<Json, nlohmann::json> Response call(const std::string& method,
                                                            const std::string& target,
                                                            const Json& body) {
    return call(method, target, body.dump());
  }
};

inline nlohmann::json jsonOf(const Response& response) {
  return nlohmann::json::parse(response.body);
}

inline std::string errorCode(const Response& response) {
  return jsonOf(response).at("error").at("code").get<std::string>();
}

inline std::string errorMessage(const Response& response) {
  return jsonOf(response).at("error").at("message").get<std::string>();
}

inline bool mentions(const Response& response, const std::string& text) {
  return errorMessage(response).find(text) != std::string::npos;
}

}  // namespace declaw::api::testing
