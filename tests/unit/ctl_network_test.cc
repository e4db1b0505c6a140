// declawctl's network rules without a daemon: the flags of `create`, `run` and `network`, the
// request bodies they become, and how the `network` view and `info` show a sandbox's rules, link
// and refusals.
#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <vector>

#include "clients/ctl/cli.h"
#include "clients/ctl/format.h"
#include "clients/ctl/network_format.h"
#include "clients/ctl/requests.h"
#include "ctl_test_support.h"

using nlohmann::json;
namespace ctl = declaw::ctl;
using declaw::ctl::testing::command;
using declaw::ctl::testing::usageError;

namespace {

json createBody(std::initializer_list<const char*> args) {
  auto line = command(args);
  auto body = ctl::buildCreateRequest(line.sandbox);
  REQUIRE(body.ok());
  return *body;
}

json patchBody(std::initializer_list<const char*> args) {
  auto line = command(args);
  CHECK(line.verb == ctl::Verb::kNetwork);
  CHECK(line.id == "sbx-1");
  return ctl::buildNetworkPatch(line.network);
}

// A GET .../network answer of a sandbox with internet access, as docs/api.md shows it.
json linkedNetwork() {
  return json::parse(R"({"allow_internet_access": true,
      "allow_out": ["example.com", "*.pypi.org", "198.19.0.0/16"], "deny_out": ["0.0.0.0/0"],
      "address": "198.18.0.6", "gateway": "198.18.0.5", "address6": null,
      "interface": "dcw1a2b3c4d5e6f",
      "refused": {"dns": 3, "proxy": 1, "firewall_packets": 17}})");
}

}  // namespace

TEST_CASE("create sends internet access only when asked, and --no-internet explicitly") {
  CHECK(createBody({"create"}) == json::object());
  CHECK(createBody({"create", "--internet"}) == json::parse(R"({"allow_internet_access": true})"));
  CHECK(createBody({"create", "--no-internet"}) ==
        json::parse(R"({"allow_internet_access": false})"));
  usageError({"create", "--internet", "--no-internet"});
}

TEST_CASE("--allow-out and --deny-out are repeatable, keep their order and imply internet") {
  CHECK(createBody({"create", "--allow-out", "example.com", "--allow-out", "1.1.1.1", "--deny-out",
                    "ALL_TRAFFIC"}) == json::parse(R"({
      "allow_internet_access": true,
      "network": {"allow_out": ["example.com", "1.1.1.1"], "deny_out": ["ALL_TRAFFIC"]}})"));
  CHECK(createBody({"create", "--deny-out", "169.254.0.0/16"}) == json::parse(R"({
      "allow_internet_access": true, "network": {"deny_out": ["169.254.0.0/16"]}})"));
  CHECK(createBody({"create", "--internet", "--allow-out", "a.example"}) == json::parse(R"({
      "allow_internet_access": true, "network": {"allow_out": ["a.example"]}})"));
}

TEST_CASE("rules with --no-internet are a usage error, since nothing could use them") {
  CHECK(usageError({"create", "--no-internet", "--allow-out", "example.com"})
            .find("drop --no-internet") != std::string::npos);
  usageError({"run", "--deny-out", "1.2.3.4", "--no-internet", "--", "true"});
}

TEST_CASE("run takes the same rules for its sandbox") {
  auto line = command({"run", "--allow-out", "pypi.org", "--", "pip", "download", "x"});
  CHECK(line.verb == ctl::Verb::kRun);
  CHECK(line.sandbox.allow_out == std::vector<std::string>{"pypi.org"});
  CHECK(line.sandbox.internet == true);
  CHECK(line.exec.argv == std::vector<std::string>{"pip", "download", "x"});
}

TEST_CASE("network ID alone only shows: nothing to change") {
  auto line = command({"network", "sbx-1"});
  CHECK(line.verb == ctl::Verb::kNetwork);
  CHECK(line.network.empty());
  CHECK(command({"--json", "network", "sbx-1"}).json);
  CHECK(command({"network", "sbx-1", "--json"}).json);
  usageError({"network"});
}

TEST_CASE("network ID patches only the parts given; a list given replaces that list") {
  CHECK(patchBody({"network", "sbx-1", "--allow-out", "a.example", "--allow-out", "b.example"}) ==
        json::parse(R"({"allow_out": ["a.example", "b.example"]})"));
  CHECK(patchBody({"network", "sbx-1", "--deny-out", "ALL_TRAFFIC"}) ==
        json::parse(R"({"deny_out": ["ALL_TRAFFIC"]})"));
  CHECK(patchBody({"network", "sbx-1", "--clear-allow", "--clear-deny"}) ==
        json::parse(R"({"allow_out": [], "deny_out": []})"));
  CHECK(patchBody({"network", "sbx-1", "--clear-allow", "--deny-out", "10.0.0.0/8"}) ==
        json::parse(R"({"allow_out": [], "deny_out": ["10.0.0.0/8"]})"));
  CHECK(patchBody({"network", "sbx-1", "--no-internet"}) ==
        json::parse(R"({"allow_internet_access": false})"));
  CHECK(patchBody({"network", "sbx-1", "--internet", "--allow-out", "x.example"}) ==
        json::parse(R"({"allow_out": ["x.example"], "allow_internet_access": true})"));
}

TEST_CASE("network flags that contradict each other are usage errors") {
  usageError({"network", "sbx-1", "--clear-allow", "--allow-out", "a.example"});
  usageError({"network", "sbx-1", "--deny-out", "a.example", "--clear-deny"});
  usageError({"network", "sbx-1", "--internet", "--no-internet"});
  usageError({"network", "sbx-1", "--bogus"});
}

TEST_CASE("the egress line says in words what the rules let out") {
  json n = linkedNetwork();
  CHECK(ctl::egressSummary(n) == "only what allow_out names");
  n["allow_out"] = json::array();
  CHECK(ctl::egressSummary(n) == "none (deny_out has ALL_TRAFFIC)");
  n["deny_out"] = {"169.254.0.0/16"};
  CHECK(ctl::egressSummary(n) == "every public destination except deny_out");
  n["deny_out"] = json::array();
  CHECK(ctl::egressSummary(n) == "every public destination");
  n["allow_internet_access"] = false;
  n["allow_out"] = {"example.com"};
  CHECK(ctl::egressSummary(n) == "none (no internet access)");
  CHECK(ctl::egressSummary(json()) == "none (no internet access)");
}

TEST_CASE("network shows the rules, the link and the refusals, aligned") {
  CHECK(ctl::formatNetwork(linkedNetwork()) ==
        "allow_internet_access:  true\n"
        "egress:                 only what allow_out names\n"
        "allow_out:              example.com *.pypi.org 198.19.0.0/16\n"
        "deny_out:               0.0.0.0/0\n"
        "address:                198.18.0.6\n"
        "gateway:                198.18.0.5\n"
        "address6:               -\n"
        "interface:              dcw1a2b3c4d5e6f\n"
        "refused:                dns=3 proxy=1 firewall_packets=17\n");
}

TEST_CASE("a sandbox without a link shows dashes, never empty fields") {
  json n = json::parse(R"({"allow_internet_access": false, "allow_out": [], "deny_out": [],
      "address": null, "gateway": null, "address6": null, "interface": null,
      "refused": {"dns": 0, "proxy": 0, "firewall_packets": 0}})");
  std::string text = ctl::formatNetwork(n);
  CHECK(text.find("egress:                 none (no internet access)\n") != std::string::npos);
  CHECK(text.find("allow_out:              -\n") != std::string::npos);
  CHECK(text.find("interface:              -\n") != std::string::npos);
  CHECK(text.find("refused:                dns=0 proxy=0 firewall_packets=0\n") !=
        std::string::npos);
}

TEST_CASE("an entry with control characters stays on its line") {
  CHECK(ctl::formatRuleList(json::parse(R"(["a.example", "b\nc"])")) == "a.example b\\nc");
}

TEST_CASE("info shows the rules, the address and the refusals of a sandbox") {
  json info = {{"sandbox_id", "sbx-1"}, {"allow_internet_access", true}};
  info["network"] = linkedNetwork();
  info["network"].erase("allow_internet_access");
  info["network"]["address6"] = "fd00::6";
  std::string text = ctl::formatSandboxInfo(info);
  CHECK(text.find("allow_out:              example.com *.pypi.org 198.19.0.0/16\n") !=
        std::string::npos);
  CHECK(text.find("deny_out:               0.0.0.0/0\n") != std::string::npos);
  CHECK(text.find("address:                198.18.0.6 fd00::6\n") != std::string::npos);
  CHECK(text.find("refused:                dns=3 proxy=1 firewall_packets=17\n") !=
        std::string::npos);
}

TEST_CASE("info from a daemon without the network object shows it as unknown") {
  auto lines = ctl::networkInfoLines(json::parse(R"({"sandbox_id": "sbx-1"})"));
  REQUIRE(lines.size() == 4);
  for (const auto& [key, value] : lines) CHECK(value == "-");
}

TEST_CASE("create --loopback-inet asks for loopback TCP and nothing else") {
  CHECK(createBody({"create", "--loopback-inet"}) ==
        json::parse(R"({"network": {"loopback_inet": true}})"));
  CHECK(createBody({"run", "--loopback-inet", "--", "true"})["network"] ==
        json::parse(R"({"loopback_inet": true})"));
  CHECK_FALSE(createBody({"create"}).contains("network"));
}
