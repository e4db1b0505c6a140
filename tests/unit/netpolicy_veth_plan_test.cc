// The veth plan for a sandbox, read without root: names within IFNAMSIZ, the host end's
// addresses from the lease, and its sysctl stance.
#include <catch2/catch.hpp>

#include "netpolicy/kernel/veth.h"

using namespace declaw::netpolicy;

namespace {

Lease leaseOf(uint32_t slot, bool v6) {
  auto pool = v6 ? AddressPool::create(cidrLiteral("198.18.0.0/16"), cidrLiteral("fd00:dc::/64"))
                 : AddressPool::create(cidrLiteral("198.18.0.0/16"));
  REQUIRE(pool.ok());
  return pool->leaseFor(slot);
}

bool hasSysctl(const VethPlan& plan, const std::string& path, const std::string& value) {
  for (const auto& s : plan.host_sysctls) {
    if (s.path == path && s.value == value) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a sandbox's host end is dcw<key> with the lease's first address, its peer eth0") {
  auto plan = planSandboxVeth("ab12cd34ef56", leaseOf(1, false));
  REQUIRE(plan.ok());
  CHECK(plan->host_name == "dcwab12cd34ef56");
  CHECK(plan->host_name.size() == 15);  // IFNAMSIZ - 1
  CHECK(plan->peer_name == "eth0");
  REQUIRE(plan->host_addresses.size() == 1);
  CHECK(plan->host_addresses[0] == InterfaceAddress{ipLiteral("198.18.0.5"), 30});
}

TEST_CASE("without an IPv6 lease the host end has IPv6 off; with one it ignores RAs") {
  auto v4 = planSandboxVeth("k1", leaseOf(0, false));
  REQUIRE(v4.ok());
  CHECK(hasSysctl(*v4, "net/ipv4/conf/dcwk1/rp_filter", "1"));
  CHECK(hasSysctl(*v4, "net/ipv4/conf/dcwk1/accept_redirects", "0"));
  CHECK(hasSysctl(*v4, "net/ipv6/conf/dcwk1/disable_ipv6", "1"));

  auto v6 = planSandboxVeth("k1", leaseOf(2, true));
  REQUIRE(v6.ok());
  REQUIRE(v6->host_addresses.size() == 2);
  CHECK(v6->host_addresses[1] == InterfaceAddress{ipLiteral("fd00:dc::9"), 126});
  CHECK(hasSysctl(*v6, "net/ipv6/conf/dcwk1/accept_ra", "0"));
  CHECK_FALSE(hasSysctl(*v6, "net/ipv6/conf/dcwk1/disable_ipv6", "1"));
}

TEST_CASE("keys and peer names the kernel would refuse or misread are refused") {
  CHECK_FALSE(planSandboxVeth("", leaseOf(0, false)).ok());
  CHECK_FALSE(planSandboxVeth("ab12cd34ef567", leaseOf(0, false)).ok());  // 16 with dcw
  CHECK_FALSE(planSandboxVeth("../x", leaseOf(0, false)).ok());
  CHECK_FALSE(planSandboxVeth("k1", leaseOf(0, false), "").ok());
  CHECK_FALSE(planSandboxVeth("k1", leaseOf(0, false), "eth0/../x").ok());
  CHECK_FALSE(planSandboxVeth("k1", leaseOf(0, false), "a234567890123456").ok());
  CHECK(isValidIfName("eth0"));
  CHECK(isValidIfName("a23456789012345"));
  CHECK_FALSE(isValidIfName("."));
  CHECK_FALSE(isValidIfName("a:1"));
}
