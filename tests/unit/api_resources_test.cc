// resources= and lifecycle= on create, pause/resume, metrics, and GET /metrics. Over FakeServices.
#include "api/resource_wire.h"
#include "api_test_helpers.h"

namespace declaw::api::testing {
namespace {

using json = nlohmann::json;

TEST_CASE("resources not asked for take the configured defaults", "[api][resources]") {
  Api api;
  REQUIRE(api.call("POST", "/v1/sandboxes", json::object()).status == 201);
  const Resources& r = api.services.last_create.resources;
  CHECK(r.cpu == api.limits.default_resources.cpu);
  CHECK(r.memory_mb == api.limits.default_resources.memory_mb);
  CHECK(r.pids == api.limits.default_resources.pids);
  CHECK(r.disk_mb == api.limits.default_resources.disk_mb);
  CHECK(api.services.last_create.on_timeout == "kill");
}

TEST_CASE("resources asked for are passed on", "[api][resources]") {
  Api api;
  const json body = {
      {"resources", {{"cpu", 0.5}, {"memory_mb", 128}, {"pids", 64}, {"disk_mb", 10}}},
      {"lifecycle", {{"on_timeout", "pause"}}}};
  REQUIRE(api.call("POST", "/v1/sandboxes", body).status == 201);
  const Resources& r = api.services.last_create.resources;
  CHECK(r.cpu == 0.5);
  CHECK(r.memory_mb == 128);
  CHECK(r.pids == 64);
  CHECK(r.disk_mb == 10);
  CHECK(api.services.last_create.on_timeout == "pause");
}

TEST_CASE("resources beyond the maxima, below the minima, or misspelt are a 400 naming them",
          "[api][resources]") {
  for (const auto& [body, word] : std::vector<std::pair<json, std::string>>{
           {{{"resources", {{"cpu", 1000}}}}, "cpu"},
           {{{"resources", {{"cpu", 0}}}}, "cpu"},
           {{{"resources", {{"cpu", "two"}}}}, "cpu"},
           {{{"resources", {{"memory_mb", 1}}}}, "resources.memory_mb"},
           {{{"resources", {{"memory_mb", 1u << 30}}}}, "resources.memory_mb"},
           {{{"resources", {{"memory_mb", -5}}}}, "resources.memory_mb"},
           {{{"resources", {{"memory_mb", 64.5}}}}, "resources.memory_mb"},
           {{{"resources", {{"pids", 0}}}}, "resources.pids"},
           {{{"resources", {{"disk_mb", 0}}}}, "resources.disk_mb"},
           {{{"resources", {{"memory", 512}}}}, "memory"},
           {{{"resources", 5}}, "resources"},
           {{{"lifecycle", "pause"}}, "lifecycle"},
           {{{"lifecycle", {{"on_timeout", "sleep"}}}}, "on_timeout"},
           {{{"lifecycle", {{"auto_resume", true}}}}, "auto_resume"}}) {
    Api api;
    INFO(body.dump());
    const Response response = api.call("POST", "/v1/sandboxes", body);
    CHECK(response.status == 400);
    CHECK(mentions(response, word));
    CHECK_FALSE(api.services.called("createSandbox"));
  }
}

TEST_CASE("pause and resume answer the sandbox", "[api][resources]") {
  Api api;
  api.services.sandbox.state = "paused";
  const Response paused = api.call("POST", kSandbox + "/pause");
  REQUIRE(paused.status == 200);
  CHECK(jsonOf(paused).at("state") == "paused");
  CHECK(api.services.called("pauseSandbox"));
  CHECK(api.call("POST", kSandbox + "/resume").status == 200);
  CHECK(api.services.called("resumeSandbox"));
  api.services.failures["pauseSandbox"] = Error{ENOSYS, "pause needs cgroups"};
  CHECK(api.call("POST", kSandbox + "/pause").status == 501);
}

TEST_CASE("metrics answer usage and limits", "[api][resources]") {
  Api api;
  api.services.metrics.cpu_cores_used = 0.25;
  api.services.metrics.cpu_limit_cores = 0.5;
  api.services.metrics.memory_used = 1000;
  api.services.metrics.memory_limit = 4000;
  api.services.metrics.disk_limit = 8000;
  const json m = jsonOf(api.call("GET", kSandbox + "/metrics"));
  CHECK(m.at("cpu_used_pct") == 50.0);
  CHECK(m.at("cpu_count") == 0.5);
  CHECK(m.at("mem_used") == 1000);
  CHECK(m.at("mem_total") == 4000);
  CHECK(m.at("disk_total") == 8000);
  CHECK(m.at("net_rx_bytes").is_null());
}

TEST_CASE("the metrics history answers the samples of the range asked", "[api][resources]") {
  Api api;
  api.services.history.resize(2);
  api.services.history[1].memory_used = 42;
  const Response response = api.call(
      "GET", kSandbox + "/metrics/history?start=2026-01-02T03:04:05.5%2B01:00&end=1767330000");
  REQUIRE(response.status == 200);
  const json body = jsonOf(response);
  REQUIRE(body.at("metrics").size() == 2);
  CHECK(body.at("metrics").at(1).at("mem_used") == 42);
  CHECK(api.services.last_id == kId);
  using std::chrono::milliseconds;
  REQUIRE(api.services.history_range.start);
  CHECK(api.services.history_range.start->time_since_epoch() ==
        milliseconds(1767319445500));  // 02:04:05.5Z
  CHECK(api.services.history_range.end->time_since_epoch() == std::chrono::seconds(1767330000));
  CHECK(jsonOf(api.call("GET", kSandbox + "/metrics/history")).at("metrics").size() == 2);
  CHECK_FALSE(api.services.history_range.start);
  CHECK_FALSE(api.services.history_range.end);
}

TEST_CASE("the metrics history refuses times it cannot read, and start after end",
          "[api][resources]") {
  Api api;
  for (const char* bad :
       {"start=yesterday", "start=2026-13-01T00:00:00Z", "start=2026-02-30T00:00:00Z",
        "start=2026-01-01T00:00:00", "start=2026-01-01T25:00:00Z", "end=2026-01-01T00:00:00Z%2B",
        "start=-5", "start=1.5", "start=", "start=9999999999999", "start=20&end=10"}) {
    INFO(bad);
    CHECK(api.call("GET", kSandbox + "/metrics/history?" + bad).status == 400);
  }
  CHECK(
      mentions(api.call("GET", kSandbox + "/metrics/history?start=20&end=10"), "'start' is after"));
  CHECK(api.call("GET", kSandbox + "/metrics/history?start=2026-01-01t00:00:00z").status == 200);
  api.services.failures["sandboxMetricsHistory"] = ErrnoError(ESRCH) << "sandbox is not running";
  CHECK(api.call("GET", kSandbox + "/metrics/history").status == 409);
}

TEST_CASE("GET /metrics is Prometheus text with every series", "[api][resources]") {
  Api api;
  api.services.daemon_metrics.sandboxes_by_state = {{"running", 3}};
  api.services.daemon_metrics.creates = 5;
  api.services.daemon_metrics.commands = 2;
  api.services.daemon_metrics.command_seconds_bounds = {0.1, 1};
  api.services.daemon_metrics.command_seconds_counts = {1, 2};
  api.services.daemon_metrics.command_seconds_sum = 0.6;
  api.services.daemon_metrics.responses_by_status = {{200, 7}, {404, 1}};
  const Response response = api.call("GET", "/metrics");
  REQUIRE(response.status == 200);
  CHECK(response.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = response.body;
  for (const char* line :
       {"declaw_sandboxes{state=\"running\"} 3\n", "declaw_sandboxes{state=\"paused\"} 0\n",
        "declaw_sandbox_creates_total 5\n",
        "declaw_command_duration_seconds_bucket{le=\"0.1\"} 1\n",
        "declaw_command_duration_seconds_bucket{le=\"+Inf\"} 2\n",
        "declaw_command_duration_seconds_sum 0.6\n",
        "declaw_http_responses_total{code=\"404\"} 1\n",
        "# TYPE declaw_command_duration_seconds histogram\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
}

TEST_CASE("GET /metrics has a histogram per create phase and one for process starts",
          "[api][resources]") {
  Api api;
  Histogram launch{{0.001, 0.01}, {1, 3}, 4, 0.05};
  api.services.daemon_metrics.create_phase_seconds = {{"launch", launch}, {"setup", Histogram{}}};
  api.services.daemon_metrics.exec_seconds = Histogram{{0.002}, {5}, 6, 0.02};
  const std::string text = api.call("GET", "/metrics").body;
  for (const char* line :
       {"# TYPE declaw_create_phase_seconds histogram\n",
        "declaw_create_phase_seconds_bucket{phase=\"launch\",le=\"0.001\"} 1\n",
        "declaw_create_phase_seconds_bucket{phase=\"launch\",le=\"0.01\"} 3\n",
        "declaw_create_phase_seconds_bucket{phase=\"launch\",le=\"+Inf\"} 4\n",
        "declaw_create_phase_seconds_sum{phase=\"launch\"} 0.05\n",
        "declaw_create_phase_seconds_count{phase=\"launch\"} 4\n",
        "declaw_create_phase_seconds_count{phase=\"setup\"} 0\n",
        "# TYPE declaw_exec_seconds histogram\n", "declaw_exec_seconds_bucket{le=\"0.002\"} 5\n",
        "declaw_exec_seconds_bucket{le=\"+Inf\"} 6\n", "declaw_exec_seconds_count 6\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
  // One HELP/TYPE pair for all phases.
  CHECK(text.find("# TYPE declaw_create_phase_seconds") ==
        text.rfind("# TYPE declaw_create_phase_seconds"));
}

TEST_CASE("every answer is counted by status", "[api][resources]") {
  Api api;
  api.call("GET", "/v1/health");
  api.call("GET", "/nope");
  api.call("POST", "/v1/sandboxes", "{bad json");
  CHECK(api.services.statuses == std::vector<int>{200, 404, 400});
}

}  // namespace
}  // namespace declaw::api::testing
