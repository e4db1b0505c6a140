// State records (live restore): the JSON form round-trips everything a restarted daemon needs
// to adopt a sandbox, and anything malformed is refused rather than half-read.
#include <catch2/catch.hpp>

#include "daemon/state_records.h"

using namespace declaw::daemon;
using declaw::api::Clock;

namespace {

StateRecord fullRecord() {
  SandboxRecord s;
  s.protocol = 1;
  s.owner = 1000;
  s.spec.template_name = "python";
  s.spec.timeout_s = 600;
  s.spec.envs = {{"A", "1"}};
  s.spec.metadata = {{"owner", "agent-7"}, {"utf8", "caf\xc3\xa9"}};
  s.spec.loopback_inet = true;
  s.spec.network.allow_out = {"example.com"};
  s.spec.network.deny_out = {"10.0.0.0/8"};
  s.spec.resources = {1.5, 512, 256, 1024};
  s.spec.on_timeout = "pause";
  s.started_at = Clock::time_point(std::chrono::milliseconds(1'765'000'000'123));
  s.paused = true;
  s.end_at = Clock::time_point(std::chrono::milliseconds(1'765'000'600'456));
  s.left = std::chrono::milliseconds(299'500);
  s.template_name = "python";
  s.layers = {"sha256:aa", "sha256:bb"};
  s.usr_overlay = true;
  s.namespaces = {4026531837, 4026531836, 4026531841, 4026531840};
  s.net_subnet = "10.200.0.4/30";
  return StateRecord{"sbx-0123456789ab", 1u << 28, 4242, 987654321, s};
}

}  // namespace

TEST_CASE("a sandbox's state record round-trips through its JSON form") {
  const StateRecord r = fullRecord();
  auto back = recordFromJson(recordToJson(r));
  REQUIRE(back);
  CHECK(back->sandbox_id == r.sandbox_id);
  CHECK(back->id_base == r.id_base);
  CHECK(back->init_pid == r.init_pid);
  CHECK(back->init_start_ticks == r.init_start_ticks);
  REQUIRE(back->sandbox);
  const SandboxRecord& s = *back->sandbox;
  const SandboxRecord& want = *r.sandbox;
  CHECK(s.protocol == want.protocol);
  CHECK(s.owner == want.owner);
  CHECK(s.spec.template_name == want.spec.template_name);
  CHECK(s.spec.timeout_s == want.spec.timeout_s);
  CHECK(s.spec.envs == want.spec.envs);
  CHECK(s.spec.metadata == want.spec.metadata);
  CHECK(s.spec.allow_internet_access == want.spec.allow_internet_access);
  CHECK(s.spec.loopback_inet == want.spec.loopback_inet);
  CHECK(s.spec.network.allow_out == want.spec.network.allow_out);
  CHECK(s.spec.network.deny_out == want.spec.network.deny_out);
  CHECK(s.spec.resources.cpu == want.spec.resources.cpu);
  CHECK(s.spec.resources.memory_mb == want.spec.resources.memory_mb);
  CHECK(s.spec.resources.pids == want.spec.resources.pids);
  CHECK(s.spec.resources.disk_mb == want.spec.resources.disk_mb);
  CHECK(s.spec.on_timeout == want.spec.on_timeout);
  CHECK(s.started_at == want.started_at);
  CHECK(s.paused == want.paused);
  CHECK(s.end_at == want.end_at);
  CHECK(s.left == want.left);
  CHECK(s.template_name == want.template_name);
  CHECK(s.layers == want.layers);
  CHECK(s.usr_overlay == want.usr_overlay);
  CHECK(s.namespaces == want.namespaces);
  CHECK(s.net_subnet == want.net_subnet);
}

TEST_CASE("a record without a sandbox part (a create in progress) stays without one") {
  const StateRecord r{"sbx-000000000001", 65536, 0, 0, std::nullopt};
  auto back = recordFromJson(recordToJson(r));
  REQUIRE(back);
  CHECK(back->sandbox_id == r.sandbox_id);
  CHECK(back->id_base == 65536);
  CHECK_FALSE(back->sandbox);
}

TEST_CASE("an init launched ahead says so in its record, and only it") {
  StateRecord r{"sbx-000000000002", 131072, 42, 7, std::nullopt};
  auto plain = recordFromJson(recordToJson(r));
  REQUIRE(plain);
  CHECK_FALSE(plain->ahead);
  CHECK(recordToJson(r).find("ahead") == std::string::npos);
  r.ahead = true;
  auto ahead = recordFromJson(recordToJson(r));
  REQUIRE(ahead);
  CHECK(ahead->ahead);
  CHECK(ahead->init_pid == 42);
  CHECK(ahead->init_start_ticks == 7);
}

TEST_CASE("a malformed state record is refused, not half-read") {
  CHECK_FALSE(recordFromJson(""));
  CHECK_FALSE(recordFromJson("[]"));
  CHECK_FALSE(recordFromJson("{\"sandbox_id\": \"sbx-1\"}"));
  CHECK_FALSE(recordFromJson(
      R"({"sandbox_id": "sbx-1", "id_base": "1", "init_pid": 1, "init_start_ticks": 1})"));
  // A sandbox part missing a field, or with one of the wrong type.
  std::string json = recordToJson(fullRecord());
  for (const char* field :
       {"\"protocol\"", "\"namespaces\"", "\"layers\"", "\"end_at_ms\"", "\"net_subnet\""}) {
    std::string broken = json;
    const auto at = broken.find(field);
    REQUIRE(at != std::string::npos);
    broken.replace(at, std::string(field).size(), "\"renamed\"");
    CHECK_FALSE(recordFromJson(broken));
  }
  std::string wrong_type = json;
  const auto at = wrong_type.find("\"paused\":true");
  REQUIRE(at != std::string::npos);
  wrong_type.replace(at, std::string("\"paused\":true").size(), "\"paused\":\"yes\"");
  CHECK_FALSE(recordFromJson(wrong_type));
}
