// declaw-init's plan for the sandbox end of its veth, read without root: what it configures,
// what it refuses, and the resolv.conf it writes.
#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include "runtime/init/etc_files.h"
#include "runtime/init/mount_plan.h"
#include "runtime/init/net_if.h"

using namespace declaw::runtime;
using namespace declaw::runtime::init;

namespace {

NetworkConfig v4Only() {
  NetworkConfig n;
  n.interface = "eth0";
  n.address = "198.18.0.6";
  n.prefix_len = 30;
  n.gateway = "198.18.0.5";
  n.nameserver = "198.18.0.5";
  return n;
}

NetworkConfig dualStack() {
  NetworkConfig n = v4Only();
  n.address6 = "fd00:dc::6";
  n.prefix_len6 = 126;
  n.gateway6 = "fd00:dc::5";
  return n;
}

std::array<uint8_t, 16> bytesOf(int family, const char* text) {
  std::array<uint8_t, 16> out{};
  REQUIRE(inet_pton(family, text, out.data()) == 1);
  return out;
}

InitConfig configWith(std::optional<NetworkConfig> network) {
  InitConfig c;
  c.sandbox_id = "sbx-abc";
  c.hostname = "sbx-abc";
  c.template_name = "base";
  c.seccomp_bpf.resize(8);
  c.network = std::move(network);
  return c;
}

}  // namespace

TEST_CASE("an IPv4-only sandbox gets its address and gateway, and IPv6 off before link up") {
  auto plan = planNetwork(v4Only());
  REQUIRE(plan.ok());
  CHECK(plan->interface == "eth0");
  CHECK(plan->v4.family == AF_INET);
  CHECK(plan->v4.address == bytesOf(AF_INET, "198.18.0.6"));
  CHECK(plan->v4.gateway == bytesOf(AF_INET, "198.18.0.5"));
  CHECK(plan->v4.prefix_len == 30);
  CHECK_FALSE(plan->v6.has_value());
  // The interface existed before init could set "default", so both are written; lo keeps ::1.
  CHECK(plan->sysctls == std::vector<SysctlWrite>{
                             {"net/ipv6/conf/eth0/disable_ipv6", "1", true},
                             {"net/ipv6/conf/default/disable_ipv6", "1", true},
                         });
}

TEST_CASE("a dual-stack sandbox keeps IPv6 but ignores router advertisements") {
  auto plan = planNetwork(dualStack());
  REQUIRE(plan.ok());
  REQUIRE(plan->v6.has_value());
  CHECK(plan->v6->family == AF_INET6);
  CHECK(plan->v6->address == bytesOf(AF_INET6, "fd00:dc::6"));
  CHECK(plan->v6->gateway == bytesOf(AF_INET6, "fd00:dc::5"));
  CHECK(plan->v6->prefix_len == 126);
  CHECK(plan->sysctls == std::vector<SysctlWrite>{{"net/ipv6/conf/eth0/accept_ra", "0", false}});
}

TEST_CASE("network configs init cannot apply safely are refused with EINVAL, naming the field") {
  auto refused = [](auto mutate, const char* mentions) {
    NetworkConfig n = dualStack();
    mutate(n);
    auto plan = planNetwork(n);
    INFO((plan.ok() ? std::string("accepted") : plan.error().describe()));
    return !plan.ok() && plan.error().code == EINVAL &&
           plan.error().message.find(mentions) != std::string::npos;
  };
  CHECK(refused([](NetworkConfig& n) { n.interface = ""; }, "interface"));
  CHECK(refused([](NetworkConfig& n) { n.interface = "lo"; }, "interface"));
  CHECK(refused([](NetworkConfig& n) { n.interface = "../../all"; }, "interface"));
  CHECK(refused([](NetworkConfig& n) { n.interface = "a234567890123456"; }, "interface"));
  CHECK(refused([](NetworkConfig& n) { n.address = "198.18.0.256"; }, "address"));
  CHECK(refused([](NetworkConfig& n) { n.address = "fd00::1"; }, "address"));
  CHECK(refused([](NetworkConfig& n) { n.prefix_len = 32; }, "prefix"));
  CHECK(refused([](NetworkConfig& n) { n.prefix_len = 0; }, "prefix"));
  CHECK(refused([](NetworkConfig& n) { n.gateway = "198.18.0.9"; }, "gateway"));
  CHECK(refused([](NetworkConfig& n) { n.gateway = n.address; }, "gateway"));
  CHECK(refused([](NetworkConfig& n) { n.gateway = ""; }, "gateway"));
  CHECK(refused([](NetworkConfig& n) { n.nameserver = "dns.example"; }, "nameserver"));
  CHECK(refused([](NetworkConfig& n) { n.address6 = "198.18.0.6"; }, "address6"));
  CHECK(refused([](NetworkConfig& n) { n.gateway6 = "fd00:dd::1"; }, "gateway"));
  CHECK(refused([](NetworkConfig& n) { n.prefix_len6 = 128; }, "prefix"));
  CHECK(refused([](NetworkConfig& n) { n.address6.clear(); }, "gateway6"));
  // The whole InitConfig is refused with it, before init changes anything.
  InitConfig bad = configWith(v4Only());
  bad.network->gateway = "10.0.0.1";
  CHECK(validateConfig(bad, 1).error().code == EINVAL);
}

TEST_CASE("a nameserver is optional, and may be IPv6") {
  NetworkConfig n = dualStack();
  n.nameserver.clear();
  CHECK(planNetwork(n).ok());
  n.nameserver = "fd00:dc::5";
  CHECK(planNetwork(n).ok());
}

TEST_CASE("resolv.conf names the sandbox's DNS stub only when it has one") {
  auto resolv = [](const InitConfig& c) {
    for (const auto& f : generatedEtcFiles(c)) {
      if (f.name == "resolv.conf") return f.contents;
    }
    FAIL("no resolv.conf");
    return std::string();
  };
  CHECK(resolv(configWith(std::nullopt)).find("nameserver") == std::string::npos);
  std::string with = resolv(configWith(v4Only()));
  CHECK(with.find("\nnameserver 198.18.0.5\n") != std::string::npos);
  NetworkConfig silent = v4Only();
  silent.nameserver.clear();
  CHECK(resolv(configWith(silent)).find("nameserver") == std::string::npos);
}
