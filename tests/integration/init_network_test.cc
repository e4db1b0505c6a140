// declaw-init given a network: the test plays the daemon's part, creating the veth for the init
// it launched (peer moved into init's namespace) before sending the config, with the host end in
// a scratch namespace of its own rather than the host's. Addresses from 198.18.0.0/15.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "init_test_support.h"
#include "net_test_support.h"
#include "netpolicy/address_pool.h"
#include "netpolicy/kernel/netns.h"
#include "netpolicy/kernel/veth.h"
#include "runtime/seccomp_policy.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::init_test;
using namespace declaw::net_test;

namespace {

constexpr uint16_t kPort = 8080;

netpolicy::Lease leaseOf(uint32_t slot, bool v6) {
  auto pool = v6 ? netpolicy::AddressPool::create(netpolicy::cidrLiteral("198.18.0.0/16"),
                                                  netpolicy::cidrLiteral("fd00:dc::/64"))
                 : netpolicy::AddressPool::create(netpolicy::cidrLiteral("198.18.0.0/16"));
  REQUIRE(pool.ok());
  return pool->leaseFor(slot);
}

// The config the daemon sends for `lease`: with the network, and a filter that allows AF_INET.
InitConfig configWithNetwork(const netpolicy::Lease& lease) {
  InitConfig c = defaultConfig();
  auto bpf = buildSeccompProgram(SeccompOptions{.allow_inet = true});
  if (!bpf) FAIL(bpf.error().describe());
  c.seccomp_bpf = *bpf;
  NetworkConfig n;
  n.interface = "eth0";
  n.address = lease.v4.sandbox.toString();
  n.prefix_len = 30;
  n.gateway = lease.v4.host.toString();
  n.nameserver = lease.v4.host.toString();
  if (lease.v6) {
    n.address6 = lease.v6->sandbox.toString();
    n.prefix_len6 = 126;
    n.gateway6 = lease.v6->host.toString();
  }
  c.network = n;
  return c;
}

// The daemon's step between launch and config: the veth, its peer into init's namespace.
BeforeConfig createVethFrom(const UniqueFd& host, const std::string& key,
                            const netpolicy::Lease& lease) {
  return [&host, key, lease](const LaunchedInit& init) {
    auto plan = netpolicy::planSandboxVeth(key, lease);
    REQUIRE(plan.ok());
    auto ns = netpolicy::openNetnsOf(init.pid, init.pidfd.get());
    if (!ns) FAIL(ns.error().describe());
    runIn(host, [&] { return netpolicy::createVeth(*plan, BorrowedFd(*ns)); });
  };
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a sandbox given a network has its address, default route and name server") {
  requireRoot();
  UniqueFd host = newNetns();
  const netpolicy::Lease lease = leaseOf(1, false);  // sandbox 198.18.0.6, gateway .5
  TestSandbox sbx(configWithNetwork(lease), createVethFrom(host, "it1", lease));
  REQUIRE(sbx.ready());

  auto r =
      sbx.run("ip -o addr show dev eth0; ip route; cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6");
  INFO(r.out << r.err);
  CHECK(r.exitCode() == 0);
  CHECK(contains(r.out, "inet 198.18.0.6/30"));
  CHECK_FALSE(contains(r.out, "inet6"));
  CHECK(contains(r.out, "default via 198.18.0.5 dev eth0"));
  CHECK(contains(r.out, "\n1\n"));
  auto resolv = sbx.run("grep '^nameserver' /etc/resolv.conf");
  CHECK(resolv.out == "nameserver 198.18.0.5\n");

  // The route works: the host end's listener hears from the sandbox, as the user.
  UniqueFd listener = listenTcp(host, "198.18.0.5", kPort);
  auto sent = sbx.run("echo hello >/dev/tcp/198.18.0.5/8080");
  INFO(sent.err);
  CHECK(sent.exitCode() == 0);
  std::string peer;
  UniqueFd conn = acceptTcp(listener, &peer);
  REQUIRE(conn.valid());
  CHECK(peer == "198.18.0.6");
  char buf[16] = {};
  CHECK(::read(conn.get(), buf, sizeof buf) == 6);
  CHECK(std::string(buf) == "hello\n");

  // Sandbox root has no CAP_NET_ADMIN over its network: the address and route stay.
  auto root = sbx.run("ip addr add 198.18.0.9/30 dev eth0; ip route del default", 0, true);
  CHECK(contains(root.err, "Operation not permitted"));
  CHECK(contains(sbx.run("ip route").out, "default via 198.18.0.5"));
}

TEST_CASE("a dual-stack sandbox has its IPv6 address and default route") {
  requireRoot();
  UniqueFd host = newNetns();
  const netpolicy::Lease lease = leaseOf(2, true);  // fd00:dc::a/126, gateway fd00:dc::9
  TestSandbox sbx(configWithNetwork(lease), createVethFrom(host, "it2", lease));
  REQUIRE(sbx.ready());
  auto r = sbx.run("ip -o -6 addr show dev eth0; ip -6 route");
  INFO(r.out << r.err);
  CHECK(contains(r.out, "inet6 fd00:dc::a/126"));
  CHECK(contains(r.out, "default via fd00:dc::9 dev eth0"));
}

TEST_CASE("a sandbox without a network keeps only lo and a resolv.conf without name server") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto r = sbx.run("ip -o link | cut -d: -f2; grep -c nameserver /etc/resolv.conf");
  CHECK(r.out == " lo\n0\n");
}

TEST_CASE("init fails its setup, naming the interface, when the daemon made no veth") {
  requireRoot();
  TestSandbox sbx(configWithNetwork(leaseOf(3, false)));
  auto failure = sbx.setupFailure();
  REQUIRE(failure.has_value());
  CHECK(failure->error == ENODEV);
  CHECK(contains(failure->message, "eth0"));
}
