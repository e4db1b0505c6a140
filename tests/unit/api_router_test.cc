// Routing, errors and robustness of api::Router, over FakeServices.
#include <cstring>
#include <new>
#include <stdexcept>
#include <tuple>

#include "api/errors.h"
#include "api/json_fields.h"
#include "api_test_helpers.h"

namespace declaw::api::testing {
namespace {

using nlohmann::json;

TEST_CASE("every route of docs/api.md reaches its Services method", "[api][router]") {
  struct Case {
    std::string method;
    std::string target;
    std::string body;
    std::string service_call;
    int status;
  };
  const std::string files = kSandbox + "/files";
  const std::vector<Case> cases = {
      {"GET", "/v1/health", "", "health", 200},
      {"GET", "/v1/sandboxes", "", "listSandboxes", 200},
      {"POST", "/v1/sandboxes", "{}", "createSandbox", 201},
      {"GET", kSandbox, "", "getSandbox", 200},
      {"DELETE", kSandbox, "", "killSandbox", 204},
      {"PATCH", kSandbox + "/timeout", R"({"timeout": 600})", "setTimeout", 200},
      {"POST", kSandbox + "/commands", R"({"cmd": "echo hi"})", "runCommand", 200},
      {"GET", files + "/raw?path=/a", "", "openForRead", 200},
      {"PUT", files + "/raw?path=/a", "bytes", "openForWrite", 200},
      {"GET", files + "?path=/a", "", "openForRead", 200},
      {"POST", files + "?path=/a", R"({"content": "x"})", "openForWrite", 200},
      {"DELETE", files + "?path=/a", "", "removePath", 204},
      {"PATCH", files + "?path=/a", R"({"new_path": "/b"})", "renamePath", 200},
      {"GET", files + "/list?path=/a", "", "listDir", 200},
      {"GET", files + "/info?path=/a", "", "statPath", 200},
      {"GET", files + "/exists?path=/a", "", "statPath", 200},
      {"POST", files + "/mkdir?path=/a", "", "makeDir", 201},
  };
  for (const Case& c : cases) {
    Api api;
    const Response response = api.call(c.method, c.target, c.body);
    INFO(c.method << " " << c.target << " -> " << response.status << " " << response.body);
    CHECK(response.status == c.status);
    CHECK(api.services.called(c.service_call));
    if (c.target.find(kId) != std::string::npos) CHECK(api.services.last_id == kId);
  }
}

TEST_CASE("the caller is handed to Services as it came", "[api][router]") {
  Api api;
  api.caller = Caller{.uid = 1234, .gid = 99, .pid = 7};
  api.call("GET", kSandbox);
  CHECK(api.services.last_caller.uid == 1234);
  CHECK(api.services.last_caller.gid == 99);
  CHECK(api.services.last_caller.pid == 7);
}

TEST_CASE("an unknown path is a 404 not_found", "[api][router]") {
  for (const std::string& target :
       std::vector<std::string>{"/", "/v1", "/v2/health", "/v1/nothing", kSandbox + "/bogus",
                                kSandbox + "/files/raw/more", "/v1//sandboxes"}) {
    Api api;
    const Response response = api.call("GET", target);
    INFO(target);
    CHECK(response.status == 404);
    CHECK(errorCode(response) == "not_found");
    CHECK(api.services.calls.empty());
  }
}

TEST_CASE("a known path with the wrong method is a 405 that lists the allowed ones",
          "[api][router]") {
  Api api;
  const Response response = api.call("PUT", kSandbox);
  CHECK(response.status == 405);
  CHECK(errorCode(response) == "method_not_allowed");
  REQUIRE(response.headers.size() == 1);
  CHECK(response.headers[0].first == "Allow");
  CHECK(response.headers[0].second == "GET, DELETE");
  CHECK(api.call("GET", kSandbox + "/timeout").status == 405);
  CHECK(api.call("DELETE", "/v1/health").status == 405);
  CHECK(api.call("HEAD", "/v1/sandboxes").status == 405);
  CHECK(api.services.calls.empty());
}

TEST_CASE("a trailing slash names the same resource", "[api][router]") {
  Api api;
  CHECK(api.call("GET", "/v1/sandboxes/").status == 200);
  CHECK(api.call("GET", kSandbox + "/").status == 200);
}

TEST_CASE("a malformed sandbox id is a 404 and never reaches Services", "[api][router]") {
  for (const std::string& id :
       std::vector<std::string>{"sbx-short", "sbx-0123456789AB", "SBX-0123456789ab",
                                "sbx-0123456789abc", "sbx_0123456789ab", "sbx-01234567-9ab", "..",
                                "sbx-0123456789a%00", "sbx-%2e%2e%2f%2e%2e%2fxx"}) {
    Api api;
    const Response response = api.call("GET", "/v1/sandboxes/" + id + "/files/info?path=/");
    INFO(id);
    CHECK(response.status == 404);
    CHECK(errorCode(response) == "not_found");
    CHECK(api.services.calls.empty());
  }
}

TEST_CASE("an error is {\"error\": {code, message, sandbox_id}} with the id when one was named",
          "[api][router]") {
  Api api;
  api.services.failures["getSandbox"] = ErrnoError(ENOENT) << "sandbox " << kId << " not found";
  const json named = jsonOf(api.call("GET", kSandbox));
  CHECK(named.size() == 1);
  CHECK(named.at("error").size() == 3);
  CHECK(named.at("error").at("code") == "not_found");
  CHECK(named.at("error").at("message").get<std::string>().starts_with("sandbox sbx-"));
  CHECK(named.at("error").at("sandbox_id") == kId);

  const json unnamed = jsonOf(api.call("POST", "/v1/sandboxes", "{"));
  CHECK(unnamed.at("error").size() == 2);
  CHECK_FALSE(unnamed.at("error").contains("sandbox_id"));
}

TEST_CASE("Services errors map to statuses by errno", "[api][router]") {
  const std::vector<std::tuple<int, int, std::string>> table = {
      {ENOENT, 404, "not_found"},       {EACCES, 403, "forbidden"},
      {EPERM, 403, "forbidden"},        {ESRCH, 409, "conflict"},
      {EEXIST, 409, "conflict"},        {ETIMEDOUT, 408, "timeout"},
      {EDQUOT, 429, "rate_limited"},    {ENOSPC, 507, "not_enough_space"},
      {EFBIG, 413, "too_large"},        {EINVAL, 400, "invalid_argument"},
      {ENOSYS, 501, "not_implemented"}, {EIO, 500, "internal"},
  };
  for (const auto& [err, status, code] : table) {
    Api api;
    api.services.failures["runCommand"] = ErrnoError(err) << "run";
    const Response response = api.call("POST", kSandbox + "/commands", R"({"cmd": "true"})");
    INFO(std::strerror(err));
    CHECK(response.status == status);
    CHECK(errorCode(response) == code);
  }
}

TEST_CASE("malformed JSON, invalid UTF-8 or a non-object body is a 400", "[api][router]") {
  for (const std::string& body : std::vector<std::string>{
           "{", "{\"cmd\": }", "[]", "\"cmd\"", "null", "42", "{\"cmd\": \"\xff\"}", ""}) {
    Api api;
    const Response response = api.call("POST", kSandbox + "/commands", body);
    INFO(body);
    CHECK(response.status == 400);
    CHECK(errorCode(response) == "invalid_argument");
    CHECK_FALSE(api.services.called("runCommand"));
  }
}

// Found by fuzz_wire_json: nlohmann throws out_of_range, not parse_error, for a number beyond a
// double, and parseJsonObject let it through as if the value, not the JSON, were wrong.
TEST_CASE("a number too large for a double is malformed JSON, a 400 naming it", "[api][router]") {
  for (const std::string body : {R"({"timeout": 1E400})", R"({"cmd": "x", "n": -25E66666666})"}) {
    INFO(body);
    Api api;
    const Response response = api.call("POST", kSandbox + "/commands", body);
    CHECK(response.status == 400);
    CHECK(mentions(response, "malformed JSON"));
    CHECK_FALSE(api.services.called("runCommand"));
    CHECK_THROWS_AS(parseJsonObject(body, 1024, false), ApiError);
  }
}

TEST_CASE("a body over max_json_body_bytes is a 413, even if the session let it through",
          "[api][router]") {
  Api api;
  api.limits.max_json_body_bytes = 32;
  const Response response =
      api.call("POST", "/v1/sandboxes", R"({"metadata": {"k": "0123456789012345678"}})");
  CHECK(response.status == 413);
  CHECK(errorCode(response) == "too_large");
  CHECK(api.services.calls.empty());
  CHECK(api.call("GET", "/v1/sandboxes", std::string(33, ' ')).status == 413);
}

TEST_CASE("deeply nested JSON is parsed without exhausting the stack", "[api][router]") {
  Api api;
  const std::string nested = std::string(100000, '[') + std::string(100000, ']');
  CHECK(api.call("POST", "/v1/sandboxes", "{\"ignored\": " + nested + "}").status == 201);
}

TEST_CASE("a handler that throws becomes a 500 internal, never an exception", "[api][router]") {
  struct ThrowingServices : FakeServices {
    bool out_of_memory = false;
    Result<SandboxInfo> getSandbox(const Caller&, const std::string&) override {
      if (out_of_memory) throw std::bad_alloc();
      throw std::runtime_error("registry exploded");
    }
  };
  ThrowingServices services;
  Limits limits;
  Router router(services, limits);
  Response response = router.handle(Caller{}, Request{"GET", kSandbox, "", ""});
  CHECK(response.status == 500);
  CHECK(errorCode(response) == "internal");
  CHECK(mentions(response, "registry exploded"));
  services.out_of_memory = true;
  CHECK(router.handle(Caller{}, Request{"GET", kSandbox, "", ""}).status == 500);
}

TEST_CASE("health reports the daemon's facts and the router's limits", "[api][router]") {
  Api api;
  api.limits.max_sandboxes = 7;
  const json health = jsonOf(api.call("GET", "/v1/health"));
  CHECK(health.at("status") == "ok");
  CHECK(health.at("version") == "0.1.0");
  CHECK(health.at("sandboxes_running") == 1);
  CHECK(health.at("features").at("user_namespaces") == true);
  CHECK(health.at("limits").at("max_sandboxes") == 7);
  CHECK(health.at("limits").at("max_output_bytes") == 8u << 20);
}

}  // namespace
}  // namespace declaw::api::testing
