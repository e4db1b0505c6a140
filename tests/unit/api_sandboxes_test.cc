// The sandbox and command handlers of api::Router: validation of create, list filters, kill,
// set_timeout and run, and the JSON they answer. Over FakeServices.
#include "api/wire.h"
#include "api_test_helpers.h"

namespace declaw::api::testing {
namespace {

using nlohmann::json;

SandboxInfo sandboxWith(const std::string& id, const std::string& state, StringMap metadata) {
  SandboxInfo info;
  info.sandbox_id = id;
  info.template_id = "base";
  info.state = state;
  info.metadata = std::move(metadata);
  return info;
}

std::vector<std::string> listedIds(const Response& response) {
  std::vector<std::string> ids;
  const json body = jsonOf(response);  // a range-for over a temporary's member would dangle
  for (const auto& sandbox : body.at("sandboxes")) {
    ids.push_back(sandbox.at("sandbox_id").get<std::string>());
  }
  return ids;
}

TEST_CASE("create with an empty body uses the defaults and answers 201 SandboxInfo",
          "[api][sandboxes]") {
  Api api;
  api.limits.default_sandbox_timeout_s = 123;
  api.services.sandbox = sandboxWith(kId, "running", {{"k", "v"}});
  api.services.sandbox.started_at = Clock::time_point(std::chrono::seconds(1795000000));
  const Response response = api.call("POST", "/v1/sandboxes", "");
  REQUIRE(response.status == 201);
  CHECK(api.services.last_create.template_name == "base");
  CHECK(api.services.last_create.timeout_s == 123);
  CHECK_FALSE(api.services.last_create.allow_internet_access);
  const json info = jsonOf(response);
  CHECK(info.at("sandbox_id") == kId);
  CHECK(info.at("state") == "running");
  CHECK(info.at("metadata") == json{{"k", "v"}});
  CHECK(info.at("started_at") == "2026-11-18T11:06:40Z");
}

TEST_CASE("create passes template, timeout, envs and metadata through", "[api][sandboxes]") {
  Api api;
  const Response response = api.call("POST", "/v1/sandboxes",
                                     json{{"template", "python"},
                                          {"timeout", 60},
                                          {"envs", {{"A_1", "x"}}},
                                          {"metadata", {{"team", "red"}}},
                                          {"allow_internet_access", false},
                                          {"network", nullptr},
                                          {"unknown_field", 1}});
  REQUIRE(response.status == 201);
  CHECK(api.services.last_create.template_name == "python");
  CHECK(api.services.last_create.timeout_s == 60);
  CHECK(api.services.last_create.envs == StringMap{{"A_1", "x"}});
  CHECK(api.services.last_create.metadata == StringMap{{"team", "red"}});
}

TEST_CASE("create refuses bad values with a 400 that names the field", "[api][sandboxes]") {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"template", "../base"}}, "template"},
      {{{"template", ""}}, "template"},
      {{{"template", std::string(129, 'a')}}, "template"},
      {{{"template", 1}}, "template"},
      {{{"timeout", "300"}}, "timeout"},
      {{{"timeout", 1.5}}, "timeout"},
      {{{"timeout", 0}}, "timeout"},
      {{{"timeout", -5}}, "timeout"},
      {{{"timeout", 86401}}, "timeout"},
      {{{"envs", {{"A", 1}}}}, "envs.A"},
      {{{"envs", json::array()}}, "envs"},
      {{{"envs", {{"A=B", "x"}}}}, "envs"},
      {{{"envs", {{"1X", "x"}}}}, "envs"},
      {{{"envs", {{"A", std::string("a\0b", 3)}}}}, "envs.A"},
      {{{"metadata", "k=v"}}, "metadata"},
      {{{"metadata", {{"k", std::string(4097, 'v')}}}}, "metadata.k"},
      {{{"metadata", {{std::string(1025, 'k'), "v"}}}}, "metadata"},
      {{{"allow_internet_access", "yes"}}, "allow_internet_access"},
  };
  for (const auto& [body, field] : cases) {
    Api api;
    const Response response = api.call("POST", "/v1/sandboxes", body);
    INFO(body.dump() << " -> " << response.body);
    CHECK(response.status == 400);
    CHECK(mentions(response, "'" + field + "'"));
    CHECK_FALSE(api.services.called("createSandbox"));
  }
}

TEST_CASE("create accepts a timeout of exactly the maximum", "[api][sandboxes]") {
  Api api;
  api.limits.max_sandbox_timeout_s = 1000;
  CHECK(api.call("POST", "/v1/sandboxes", json{{"timeout", 1000}}).status == 201);
  CHECK(api.call("POST", "/v1/sandboxes", json{{"timeout", 1001}}).status == 400);
}

TEST_CASE("create refuses more metadata entries than max_metadata_entries", "[api][sandboxes]") {
  Api api;
  api.limits.max_metadata_entries = 2;
  const json three = {{"metadata", {{"a", "1"}, {"b", "2"}, {"c", "3"}}}};
  CHECK(api.call("POST", "/v1/sandboxes", three).status == 400);
}

TEST_CASE("create: network lists imply internet access unless it is said false",
          "[api][sandboxes][network]") {
  struct Case {
    json body;
    bool internet;
    std::vector<std::string> allow;
    std::vector<std::string> deny;
  };
  const std::vector<Case> cases = {
      {json::object(), false, {}, {}},
      {{{"allow_internet_access", true}}, true, {}, {}},
      {{{"network", nullptr}}, false, {}, {}},
      {{{"network", json::object()}}, true, {}, {}},
      {{{"network", {{"allow_out", {"Example.COM", "10.1.0.0/16"}}}}},
       true,
       {"example.com", "10.1.0.0/16"},
       {}},
      {{{"allow_internet_access", false}, {"network", {{"deny_out", {"ALL_TRAFFIC"}}}}},
       false,
       {},
       {"0.0.0.0/0"}},  // the canonical form of ALL_TRAFFIC
  };
  for (const auto& c : cases) {
    Api api;
    const Response response = api.call("POST", "/v1/sandboxes", c.body);
    INFO(c.body.dump() << " -> " << response.body);
    REQUIRE(response.status == 201);
    CHECK(api.services.last_create.allow_internet_access == c.internet);
    CHECK(api.services.last_create.network.allow_out == c.allow);
    CHECK(api.services.last_create.network.deny_out == c.deny);
  }
}

TEST_CASE("network.loopback_inet: alone it means no internet; it must be a boolean; it is fixed",
          "[api][sandboxes][network]") {
  struct Case {
    json body;
    bool internet;
    bool loopback;
  };
  const std::vector<Case> cases = {
      {json::object(), false, false},
      {{{"network", {{"loopback_inet", true}}}}, false, true},
      {{{"network", {{"loopback_inet", false}}}}, false, false},
      {{{"network", {{"loopback_inet", nullptr}}}}, false, false},
      // With internet access loopback works anyway: implied, not refused.
      {{{"allow_internet_access", true}}, true, true},
      {{{"network", {{"loopback_inet", true}, {"allow_out", {"example.com"}}}}}, true, true},
  };
  for (const auto& c : cases) {
    Api api;
    const Response response = api.call("POST", "/v1/sandboxes", c.body);
    INFO(c.body.dump() << " -> " << response.body);
    REQUIRE(response.status == 201);
    CHECK(api.services.last_create.allow_internet_access == c.internet);
    CHECK(api.services.last_create.loopback_inet == c.loopback);
  }
  Api api;
  const Response bad = api.call("POST", "/v1/sandboxes", json{{"network", {{"loopback_inet", 1}}}});
  CHECK(bad.status == 400);
  CHECK(bad.body.find("loopback_inet") != std::string::npos);
  const Response patch = api.call("PATCH", std::string("/v1/sandboxes/") + kId + "/network",
                                  json{{"loopback_inet", true}});
  CHECK(patch.status == 400);
  CHECK(patch.body.find("fixed") != std::string::npos);
}

TEST_CASE("create: a bad network entry is a 400 naming the list, index and entry",
          "[api][sandboxes][network]") {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"allow_out", {"example.com", "10.0.0.0/33"}}}, "network.allow_out[1] '10.0.0.0/33'"},
      {{{"deny_out", {"exa mple.com"}}}, "network.deny_out[0]"},
      {{{"allow_out", {"*.com"}}}, "network.allow_out[0] '*.com'"},
      {{{"allow_out", {1}}}, "network.allow_out[0]"},
      {{{"allow_out", "example.com"}}, "network.allow_out"},
      {{{"allow", {"example.com"}}}, "network"},
      {json::array(), "network"},
  };
  for (const auto& [network, expected] : cases) {
    Api api;
    const Response response = api.call("POST", "/v1/sandboxes", json{{"network", network}});
    INFO(network.dump() << " -> " << response.body);
    CHECK(response.status == 400);
    CHECK(mentions(response, expected));
    CHECK_FALSE(api.services.called("createSandbox"));
  }
}

TEST_CASE("create: a policy beyond the entry limit is a 400", "[api][sandboxes][network]") {
  Api api;
  json many = json::array();
  for (int i = 0; i < 257; ++i) many.push_back("host" + std::to_string(i) + ".example.com");
  const Response response =
      api.call("POST", "/v1/sandboxes", json{{"network", {{"allow_out", many}}}});
  CHECK(response.status == 400);
  CHECK(mentions(response, "allow_out"));
}

TEST_CASE("PATCH network passes only the parts given, validated", "[api][sandboxes][network]") {
  Api api;
  api.services.sandbox = sandboxWith(kId, "running", {});
  api.services.sandbox.allow_internet_access = true;
  api.services.sandbox.network.lists.allow_out = {"example.com"};
  api.services.sandbox.network.address = "198.18.0.2";
  const Response response = api.call("PATCH", std::string("/v1/sandboxes/") + kId + "/network",
                                     json{{"allow_out", {"Example.com", "192.0.2.0/24"}}});
  REQUIRE(response.status == 200);
  const NetworkUpdate& u = api.services.last_network_update;
  CHECK(u.allow_out == std::vector<std::string>{"example.com", "192.0.2.0/24"});
  CHECK_FALSE(u.deny_out);
  CHECK_FALSE(u.allow_internet_access);
  const json view = jsonOf(response);
  CHECK(view.at("allow_internet_access") == true);
  CHECK(view.at("allow_out") == json{"example.com"});  // what Services answered
  CHECK(view.at("address") == "198.18.0.2");
  CHECK(view.at("gateway").is_null());
  CHECK(view.at("refused") == json{{"dns", 0}, {"proxy", 0}, {"firewall_packets", 0}});

  for (const json& bad : {json::object(), json{{"allow_out", {"10.0.0.0/33"}}},
                          json{{"allow_internet_access", "yes"}}, json{{"extra", 1}}}) {
    Api again;
    const Response r = again.call("PATCH", std::string("/v1/sandboxes/") + kId + "/network", bad);
    INFO(bad.dump() << " -> " << r.body);
    CHECK(r.status == 400);
    CHECK_FALSE(again.services.called("updateNetwork"));
  }
}

TEST_CASE("GET network shows the sandbox's policy view", "[api][sandboxes][network]") {
  Api api;
  api.services.sandbox = sandboxWith(kId, "running", {});
  api.services.sandbox.network.lists.deny_out = {"0.0.0.0/0"};
  api.services.sandbox.network.refused.dns = 3;
  const Response response = api.call("GET", std::string("/v1/sandboxes/") + kId + "/network", "");
  REQUIRE(response.status == 200);
  const json view = jsonOf(response);
  CHECK(view.at("allow_internet_access") == false);
  CHECK(view.at("deny_out") == json{"0.0.0.0/0"});
  CHECK(view.at("refused").at("dns") == 3);
}

TEST_CASE("over max_sandboxes (EDQUOT from Services) is a 429", "[api][sandboxes]") {
  Api api;
  api.services.failures["createSandbox"] = ErrnoError(EDQUOT) << "64 sandboxes running";
  CHECK(api.call("POST", "/v1/sandboxes", "{}").status == 429);
}

TEST_CASE("list shows live sandboxes unless asked for all, and filters by state",
          "[api][sandboxes]") {
  Api api;
  api.services.sandboxes = {sandboxWith("sbx-000000000004", "paused", {}),
                            sandboxWith("sbx-000000000003", "running", {}),
                            sandboxWith("sbx-000000000002", "killed", {}),
                            sandboxWith("sbx-000000000001", "running", {})};
  CHECK(listedIds(api.call("GET", "/v1/sandboxes")) ==
        std::vector<std::string>{"sbx-000000000004", "sbx-000000000003", "sbx-000000000001"});
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?all=true")).size() == 4);
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?state=running")) ==
        std::vector<std::string>{"sbx-000000000003", "sbx-000000000001"});
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?state=killed")) ==
        std::vector<std::string>{"sbx-000000000002"});
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?state=running,killed")).size() == 3);
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?state=running&state=killed")).size() == 3);
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?state=paused")) ==
        std::vector<std::string>{"sbx-000000000004"});
  CHECK(api.call("GET", "/v1/sandboxes?state=asleep").status == 400);
}

TEST_CASE("list pages with limit and next_token, null on the last page", "[api][sandboxes]") {
  Api api;
  api.services.sandboxes = {sandboxWith("sbx-000000000003", "running", {}),
                            sandboxWith("sbx-000000000002", "running", {}),
                            sandboxWith("sbx-000000000001", "running", {})};
  const Response first = api.call("GET", "/v1/sandboxes?limit=2");
  CHECK(listedIds(first) == std::vector<std::string>{"sbx-000000000003", "sbx-000000000002"});
  const std::string token = jsonOf(first).at("next_token").get<std::string>();
  const Response last = api.call("GET", "/v1/sandboxes?limit=2&next_token=" + token);
  CHECK(listedIds(last) == std::vector<std::string>{"sbx-000000000001"});
  CHECK(jsonOf(last).at("next_token").is_null());
  CHECK(jsonOf(api.call("GET", "/v1/sandboxes")).at("next_token").is_null());
  CHECK(mentions(api.call("GET", "/v1/sandboxes?next_token=bogus"), "'next_token' is malformed"));
  CHECK(api.call("GET", "/v1/sandboxes?limit=0").status == 400);
}

TEST_CASE("list filters by every pair of a URL-encoded metadata string", "[api][sandboxes]") {
  Api api;
  api.services.sandboxes = {
      sandboxWith("sbx-000000000002", "running", {{"env", "prod"}}),
      sandboxWith("sbx-000000000001", "running", {{"env", "prod"}, {"team", "a b&c"}})};
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?metadata=env%3Dprod")).size() == 2);
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?metadata=env%3Dprod%26team%3Da%2Bb%2526c")) ==
        std::vector<std::string>{"sbx-000000000001"});
  CHECK(listedIds(api.call("GET", "/v1/sandboxes?metadata=env%3Ddev")).empty());
  CHECK(api.call("GET", "/v1/sandboxes?metadata=novalue").status == 400);
  CHECK(api.call("GET", "/v1/sandboxes?metadata=%zz").status == 400);
}

TEST_CASE("kill answers 204 with no body and no content type, and is routed by id",
          "[api][sandboxes]") {
  Api api;
  const Response response = api.call("DELETE", kSandbox);
  CHECK(response.status == 204);
  CHECK(response.body.empty());
  CHECK(response.content_type.empty());
  CHECK(api.services.last_id == kId);
}

TEST_CASE("killing a sandbox of someone else is a 403 naming the sandbox", "[api][sandboxes]") {
  Api api;
  api.services.failures["killSandbox"] = ErrnoError(EPERM) << "not your sandbox";
  const Response response = api.call("DELETE", kSandbox);
  CHECK(response.status == 403);
  CHECK(jsonOf(response).at("error").at("sandbox_id") == kId);
}

TEST_CASE("set_timeout requires an integer timeout in range", "[api][sandboxes]") {
  Api api;
  CHECK(api.call("PATCH", kSandbox + "/timeout", json{{"timeout", 600}}).status == 200);
  CHECK(api.services.last_timeout == 600);
  CHECK(mentions(api.call("PATCH", kSandbox + "/timeout", "{}"), "'timeout'"));
  CHECK(api.call("PATCH", kSandbox + "/timeout", json{{"timeout", "600"}}).status == 400);
  CHECK(api.call("PATCH", kSandbox + "/timeout", json{{"timeout", 0}}).status == 400);
  CHECK(api.call("PATCH", kSandbox + "/timeout", json{{"timeout", 86401}}).status == 400);
}

TEST_CASE("a command runs with the defaults when only cmd is given", "[api][commands]") {
  Api api;
  api.limits.default_command_timeout_s = 45;
  REQUIRE(api.call("POST", kSandbox + "/commands", json{{"cmd", "echo hi"}}).status == 200);
  const RunSpec& spec = api.services.last_run;
  CHECK(spec.cmd == "echo hi");
  CHECK(spec.user.empty());  // the template's default user (an image's User), else user
  CHECK(spec.cwd.empty());
  CHECK(spec.timeout_s == 45);
  CHECK(spec.stdin_data.empty());
}

TEST_CASE("a command passes envs, cwd, user, stdin and timeout", "[api][commands]") {
  Api api;
  const json body = {{"cmd", "cat"},       {"envs", {{"K", "V"}}}, {"cwd", "work/../src"},
                     {"user", "root"},     {"stdin", "input"},     {"timeout", 0},
                     {"background", false}};
  REQUIRE(api.call("POST", kSandbox + "/commands", body).status == 200);
  const RunSpec& spec = api.services.last_run;
  CHECK(spec.envs == StringMap{{"K", "V"}});
  CHECK(spec.cwd == "/home/user/src");
  CHECK(spec.user == "root");
  CHECK(spec.stdin_data == "input");
  CHECK(spec.timeout_s == 0);
}

TEST_CASE("a command is refused without a usable cmd or argv, or with a bad user or timeout",
          "[api][commands]") {
  const std::vector<std::pair<json, std::string>> cases = {
      {json::object(), "'cmd' or 'argv'"},
      // cmd or argv, never both; an argv is a non-empty list of strings, the program first
      {{{"cmd", "true"}, {"argv", {"true"}}}, "not both"},
      {{{"cmd", ""}, {"argv", {"true"}}}, "not both"},
      {{{"argv", json::array()}}, "'argv'"},
      {{{"argv", "true"}}, "'argv'"},
      {{{"argv", {"true", 1}}}, "'argv'"},
      {{{"argv", {""}}}, "'argv[0]'"},
      {{{"argv", {"echo", std::string("a\0b", 3)}}}, "NUL"},
      {{{"cmd", ""}}, "'cmd'"},
      {{{"cmd", 42}}, "'cmd'"},
      {{{"cmd", std::string("echo\0hi", 7)}}, "'cmd'"},
      {{{"cmd", "true"}, {"user", "admin"}}, "'user'"},
      {{{"cmd", "true"}, {"user", 0}}, "'user'"},
      {{{"cmd", "true"}, {"timeout", -1}}, "'timeout'"},
      {{{"cmd", "true"}, {"timeout", 86401}}, "'timeout'"},
      {{{"cmd", "true"}, {"cwd", ""}}, "'cwd'"},
      {{{"cmd", "true"}, {"stdin", json::array()}}, "'stdin'"},
      {{{"cmd", "true"}, {"background", "no"}}, "'background'"},
  };
  for (const auto& [body, field] : cases) {
    Api api;
    const Response response = api.call("POST", kSandbox + "/commands", body);
    INFO(body.dump() << " -> " << response.body);
    CHECK(response.status == 400);
    CHECK(mentions(response, field));
    CHECK_FALSE(api.services.called("runCommand"));
  }
}

TEST_CASE("a command may be an argv, run without a shell", "[api][commands]") {
  Api api;
  const json body = {{"argv", {"python3", "-c", "print('a b')", ""}}, {"user", "root"}};
  REQUIRE(api.call("POST", kSandbox + "/commands", body).status == 200);
  const RunSpec& spec = api.services.last_run;
  CHECK(spec.argv == std::vector<std::string>{"python3", "-c", "print('a b')", ""});
  CHECK(spec.cmd.empty());
  CHECK(spec.user == "root");
  // null is as good as absent
  REQUIRE(
      api.call("POST", kSandbox + "/commands", json{{"cmd", "true"}, {"argv", nullptr}}).status ==
      200);
  CHECK(api.services.last_run.argv.empty());
}

TEST_CASE("an argv over the kernel's limits is a 413", "[api][commands]") {
  Api api;
  CHECK(api.call("POST", kSandbox + "/commands", json{{"argv", {"echo", std::string(200000, 'x')}}})
            .status == 413);
  CHECK(api.call("POST", kSandbox + "/commands",
                 json{{"argv", std::vector<std::string>(kMaxArgvEntries + 1, "x")}})
            .status == 413);
  CHECK(api.call("POST", kSandbox + "/commands",
                 json{{"argv", std::vector<std::string>(20, std::string(60000, 'x'))}})
            .status == 413);
  CHECK_FALSE(api.services.called("runCommand"));
}

TEST_CASE("a cmd longer than one exec argument can hold is a 413", "[api][commands]") {
  Api api;
  const json body = {{"cmd", std::string(200000, 'x')}};
  CHECK(api.call("POST", kSandbox + "/commands", body).status == 413);
}

TEST_CASE("a failing command is a 200 with its exit code, signal and output", "[api][commands]") {
  Api api;
  api.services.run_result = RunResult{.stdout_data = "hi\n",
                                      .stderr_data = "",
                                      .exit_code = 137,
                                      .signal = 9,
                                      .pid = 12,
                                      .timed_out = false,
                                      .stdout_truncated = true,
                                      .stderr_truncated = false};
  const Response response = api.call("POST", kSandbox + "/commands", json{{"cmd", "x"}});
  REQUIRE(response.status == 200);
  const json result = jsonOf(response);
  CHECK(result.at("exit_code") == 137);
  CHECK(result.at("signal") == 9);
  CHECK(result.at("pid") == 12);
  CHECK(result.at("stdout") == "hi\n");
  CHECK(result.at("stdout_truncated") == true);
  CHECK_FALSE(result.contains("stdout_base64"));
}

TEST_CASE("output that is not UTF-8 comes with replacements and the exact bytes in base64",
          "[api][commands]") {
  Api api;
  api.services.run_result.stdout_data = std::string("ok\xff\xfe", 4);
  api.services.run_result.exit_code = 0;
  const json result = jsonOf(api.call("POST", kSandbox + "/commands", json{{"cmd", "x"}}));
  CHECK(result.at("stdout") == "ok\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(result.at("stdout_base64") == "b2v//g==");
  CHECK_FALSE(result.contains("signal"));
}

}  // namespace
}  // namespace declaw::api::testing
