// The sandbox network's plumbing on the real kernel: veth pairs (netpolicy/kernel/veth.h), the
// sandbox end configured by declaw-init's own code (runtime/init/net_if.h), and the nftables table
// of nft_plan.h applied by nft_apply.h. Everything happens in namespaces the test makes: a "host"
// namespace stands in for the real host (its links, sysctls and ruleset are never touched), a
// "sandbox" namespace for a sandbox's, and an "internet" namespace holds the far hosts, all in
// 198.18.0.0/15. The namespaces die with their fds, taking links and tables with them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "net_test_support.h"
#include "netpolicy/address_pool.h"
#include "netpolicy/kernel/netns.h"
#include "netpolicy/kernel/nft_apply.h"
#include "netpolicy/kernel/sysctl.h"
#include "netpolicy/kernel/veth.h"
#include "netpolicy/nft_plan.h"
#include "netpolicy/policy.h"
#include "runtime/init/net_if.h"

using namespace declaw;
using namespace declaw::netpolicy;
using namespace declaw::net_test;

namespace {

constexpr uint16_t kPort = 8080;
constexpr uint16_t kHostPort = 8081;
constexpr uint16_t kProxyPort = 3128;
// Long enough for a SYN that is answered; a dropped one is never answered.
constexpr auto kDroppedWait = 1000ms;
// A refusal from the sandbox's own address is answered at once; this only bounds a test that
// would otherwise wait out a client's timeout, on a machine however loaded.
constexpr auto kRefusalWait = 5s;
constexpr uint16_t kDiscardPort = 9;
// More than the refuse chain logs at once, so most of them are over its log limit.
constexpr int kFlood = 3 * static_cast<int>(kRefusedLogBurst);
// How long datagrams may take through the veths and the host's chains.
constexpr auto kDeliveryWait = 3s;

void requireRoot() {
  if (::geteuid() != 0) FAIL("net_plumbing_test must run as root (netns, veth, nftables)");
}

Lease leaseOf(uint32_t slot, bool v6 = false) {
  auto pool = v6 ? AddressPool::create(cidrLiteral("198.18.0.0/16"), cidrLiteral("fd00:dc::/64"))
                 : AddressPool::create(cidrLiteral("198.18.0.0/16"));
  REQUIRE(pool.ok());
  return pool->leaseFor(slot);
}

// What the daemon would send declaw-init for `lease`.
runtime::NetworkConfig sandboxConfig(const Lease& lease) {
  runtime::NetworkConfig n;
  n.interface = std::string(kSandboxIfName);
  n.address = lease.v4.sandbox.toString();
  n.prefix_len = static_cast<uint32_t>(lease.v4.subnet.prefixLength());
  n.gateway = lease.v4.host.toString();
  n.nameserver = lease.v4.host.toString();
  if (lease.v6) {
    n.address6 = lease.v6->sandbox.toString();
    n.prefix_len6 = static_cast<uint32_t>(lease.v6->subnet.prefixLength());
    n.gateway6 = lease.v6->host.toString();
  }
  return n;
}

VethPlan planFor(std::string_view key, const Lease& lease) {
  auto plan = planSandboxVeth(key, lease);
  if (!plan) FAIL(plan.error().describe());
  return *plan;
}

std::vector<std::string> linksIn(const UniqueFd& netns, std::string_view prefix) {
  auto links =
      inNetns<std::vector<std::string>>(BorrowedFd(netns), [&] { return listLinks(prefix); });
  if (!links) FAIL(links.error().describe());
  return *links;
}

LinkCounters countersIn(const UniqueFd& netns, const std::string& name) {
  auto c = inNetns<LinkCounters>(BorrowedFd(netns), [&] { return linkCounters(name); });
  if (!c) FAIL(c.error().describe());
  return *c;
}

Result<void> createIn(const UniqueFd& host, const VethPlan& plan, const UniqueFd& peer) {
  return runInNetns(BorrowedFd(host), [&] { return createVeth(plan, BorrowedFd(peer)); });
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Sends `bytes` over `from` and reads them all on `to`.
void exchange(const UniqueFd& from, const UniqueFd& to, size_t bytes) {
  std::string data(bytes, 'x');
  REQUIRE(::write(from.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  size_t got = 0;
  char buf[65536];
  while (got < bytes) {
    ssize_t n = ::read(to.get(), buf, sizeof buf);
    REQUIRE(n > 0);
    got += static_cast<size_t>(n);
  }
}

using ms = std::chrono::milliseconds;

// `count` UDP datagrams from inside `netns` to an IPv4 address:port, as fast as they go.
void sendUdp(const UniqueFd& netns, const std::string& address, uint16_t port, int count) {
  runIn(netns, [&]() -> Result<void> {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &to.sin_addr) != 1) return ErrnoError(EINVAL);
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return ErrnoError() << "socket";
    for (int i = 0; i < count; ++i) {
      if (::sendto(s.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != 1) {
        return ErrnoError() << "sendto " << address;
      }
    }
    return Ok{};
  });
}

// A non-blocking UDP socket bound to 0.0.0.0:port inside `netns`.
UniqueFd bindUdp(const UniqueFd& netns, uint16_t port) {
  auto sock = inNetns<UniqueFd>(BorrowedFd(netns), [&]() -> Result<UniqueFd> {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return ErrnoError() << "socket";
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(port);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
      return ErrnoError() << "bind udp " << port;
    }
    return s;
  });
  if (!sock) FAIL(sock.error().describe());
  return std::move(*sock);
}

// Datagrams waiting on `s`, read until none is left.
int drainUdp(const UniqueFd& s) {
  int n = 0;
  char buf[64];
  while (::recv(s.get(), buf, sizeof buf, 0) > 0) ++n;
  return n;
}

uint64_t droppedPackets(const UniqueFd& host, const std::string& key) {
  auto listed = runNftIn(BorrowedFd(host), "list counter inet declaw sbx_" + key + "_dropped");
  if (!listed) FAIL(listed.error().describe());
  const auto doc = nlohmann::json::parse(*listed);
  for (const auto& item : doc["nftables"]) {
    if (item.contains("counter")) return item["counter"]["packets"].get<uint64_t>();
  }
  FAIL("no counter sbx_" << key << "_dropped in " << *listed);
  return 0;
}

// The rules' expressions of `chain` in a libnftables JSON document (a plan or a listing).
std::vector<nlohmann::json> rulesOf(const nlohmann::json& doc, const std::string& chain) {
  std::vector<nlohmann::json> out;
  for (const auto& item : doc["nftables"]) {
    const auto& rule = item.contains("add") ? item["add"] : item;
    if (rule.contains("rule") && rule["rule"]["chain"] == chain) {
      out.push_back(rule["rule"]["expr"]);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a veth joins a sandbox namespace, and init's code makes its end usable") {
  requireRoot();
  UniqueFd host = newNetns();
  UniqueFd sandbox = newNetns();
  const Lease lease = leaseOf(1);  // 198.18.0.4/30
  const VethPlan plan = planFor("t1", lease);
  REQUIRE(createIn(host, plan, sandbox).ok());
  runIn(sandbox, [&] { return runtime::init::configureNetwork(sandboxConfig(lease)); });

  std::string host_end = shellIn(host, "ip -o addr show dev dcwt1; ip -o link show dev dcwt1");
  INFO(host_end);
  CHECK(contains(host_end, "inet 198.18.0.5/30"));
  CHECK_FALSE(contains(host_end, "inet6"));  // no v6 lease: IPv6 off before the link came up
  CHECK(contains(host_end, "state UP"));
  CHECK(shellIn(host, "cat /proc/sys/net/ipv4/conf/dcwt1/rp_filter") == "1\n");

  std::string inside = shellIn(sandbox, "ip -o addr show dev eth0; ip route");
  INFO(inside);
  CHECK(contains(inside, "inet 198.18.0.6/30"));
  CHECK_FALSE(contains(inside, "inet6"));
  CHECK(contains(inside, "default via 198.18.0.5 dev eth0"));
  CHECK(shellIn(sandbox, "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6") == "1\n");
  CHECK(shellIn(sandbox, "cat /proc/sys/net/ipv6/conf/default/disable_ipv6") == "1\n");
  CHECK(linksIn(host, kHostIfPrefix) == std::vector<std::string>{"dcwt1"});

  SECTION("traffic flows over it, and the host end's counters move") {
    LinkCounters before = countersIn(host, "dcwt1");
    UniqueFd listener = listenTcp(host, "198.18.0.5", kPort);
    UniqueFd client = connectTcp(sandbox, "198.18.0.5", kPort);
    REQUIRE(client.valid());
    std::string peer;
    UniqueFd server = acceptTcp(listener, &peer);
    REQUIRE(server.valid());
    CHECK(peer == "198.18.0.6");
    exchange(client, server, 100000);  // sandbox -> host: the host end's rx
    exchange(server, client, 50000);   // host -> sandbox: its tx
    LinkCounters after = countersIn(host, "dcwt1");
    CHECK(after.rx_bytes >= before.rx_bytes + 100000);
    CHECK(after.tx_bytes >= before.tx_bytes + 50000);
    CHECK(after.rx_packets > before.rx_packets);
    CHECK(after.tx_packets > before.tx_packets);
  }

  SECTION("deleting the host end removes both ends, and deleting again is no error") {
    runIn(host, [] { return deleteLink("dcwt1"); });
    CHECK(linksIn(host, kHostIfPrefix).empty());
    CHECK(linksIn(sandbox, "eth").empty());
    runIn(host, [] { return deleteLink("dcwt1"); });
  }
}

TEST_CASE("createVeth leaves a working pair or nothing") {
  requireRoot();
  UniqueFd host = newNetns();
  UniqueFd sandbox = newNetns();
  const VethPlan plan = planFor("t2", leaseOf(2));
  REQUIRE(createIn(host, plan, sandbox).ok());

  SECTION("a second pair with the same host name is refused, and the first is untouched") {
    UniqueFd other = newNetns();
    auto again = createIn(host, plan, other);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == EEXIST);
    CHECK(linksIn(host, kHostIfPrefix) == std::vector<std::string>{"dcwt2"});
    CHECK(linksIn(sandbox, "eth") == std::vector<std::string>{"eth0"});
    CHECK(linksIn(other, "eth").empty());
  }

  SECTION("a peer name taken in the sandbox fails the whole request") {
    auto clash = createIn(host, planFor("t3", leaseOf(3)), sandbox);
    REQUIRE_FALSE(clash.ok());
    CHECK(clash.error().code == EEXIST);
    CHECK(linksIn(host, kHostIfPrefix) == std::vector<std::string>{"dcwt2"});
  }

  SECTION("a failure after the link exists deletes it again, peer included") {
    UniqueFd other = newNetns();
    VethPlan broken = planFor("t4", leaseOf(4));  // no v6 lease: IPv6 off on the host end
    broken.host_addresses.push_back({ipLiteral("fd00:dc::1"), 126});
    auto failed = createIn(host, broken, other);
    REQUIRE_FALSE(failed.ok());
    INFO(failed.error().describe());
    CHECK(contains(failed.error().message, "fd00:dc::1"));
    CHECK(linksIn(host, kHostIfPrefix) == std::vector<std::string>{"dcwt2"});
    CHECK(linksIn(other, "eth").empty());
  }

  SECTION("no namespace fd is refused before anything is made") {
    auto bad = runInNetns(BorrowedFd(host),
                          [&] { return createVeth(planFor("t5", leaseOf(5)), BorrowedFd(-1)); });
    CHECK(bad.error().code == EBADF);
    CHECK(linksIn(host, kHostIfPrefix) == std::vector<std::string>{"dcwt2"});
  }
}

TEST_CASE("a dual-stack sandbox end gets its IPv6 address and route, usable at once") {
  requireRoot();
  UniqueFd host = newNetns();
  UniqueFd sandbox = newNetns();
  const Lease lease = leaseOf(1, true);  // fd00:dc::4/126
  REQUIRE(createIn(host, planFor("t6", lease), sandbox).ok());
  runIn(sandbox, [&] { return runtime::init::configureNetwork(sandboxConfig(lease)); });
  std::string inside = shellIn(sandbox, "ip -o -6 addr show dev eth0; ip -6 route");
  INFO(inside);
  CHECK(contains(inside, "inet6 fd00:dc::6/126 scope global nodad \\"));  // never tentative
  CHECK(contains(inside, "default via fd00:dc::5 dev eth0"));
  CHECK(shellIn(sandbox, "cat /proc/sys/net/ipv6/conf/eth0/accept_ra") == "0\n");
  CHECK(shellIn(host, "cat /proc/sys/net/ipv6/conf/dcwt6/accept_ra") == "0\n");

  UniqueFd listener = listenTcp(host, "fd00:dc::5", kPort);
  UniqueFd client = connectTcp(sandbox, "fd00:dc::5", kPort);
  REQUIRE(client.valid());
  std::string peer;
  REQUIRE(acceptTcp(listener, &peer).valid());
  CHECK(peer == "fd00:dc::6");
}

TEST_CASE("IPv4 forwarding is switched on, and back off only if declaw switched it") {
  requireRoot();
  UniqueFd host = newNetns();  // a new namespace starts with ip_forward=0
  const auto real_host_before = readSysctl(kIpv4ForwardSysctl);
  REQUIRE(real_host_before.ok());
  // Each step on its own thread in `host`; the assertions stay on the test's thread.
  auto enable = [&] {
    auto c = inNetns<SysctlChange>(BorrowedFd(host), [] { return enableIpv4Forwarding(); });
    if (!c) FAIL(c.error().describe());
    return *c;
  };
  auto set = [&](const char* value) {
    runIn(host, [&] {
      return setSysctl(kIpv4ForwardSysctl, value).ok() ? Result<void>() : ErrnoError(EIO);
    });
  };
  auto restore = [&](const SysctlChange& c) { runIn(host, [&] { return restoreSysctl(c); }); };
  auto value = [&] {
    auto v = inNetns<std::string>(BorrowedFd(host), [] { return readSysctl(kIpv4ForwardSysctl); });
    if (!v) FAIL(v.error().describe());
    return *v;
  };

  SysctlChange first = enable();
  CHECK(first.changed);
  CHECK(first.previous == "0");
  CHECK(value() == "1");
  SysctlChange second = enable();
  CHECK_FALSE(second.changed);
  restore(second);
  CHECK(value() == "1");  // it was on already for the second caller
  restore(first);
  CHECK(value() == "0");

  SysctlChange third = enable();
  set("0");  // someone else decided since: their value stays
  restore(third);
  CHECK(value() == "0");
  set("1");
  restore(third);
  CHECK(value() == "0");  // 1 again, as written: declaw's own value, so restored

  CHECK(*readSysctl(kIpv4ForwardSysctl) == *real_host_before);  // the real host's, untouched
}

TEST_CASE("the sandbox's nftables chains let through what its policy allows, and nothing else") {
  requireRoot();
  UniqueFd host = newNetns();
  UniqueFd sandbox = newNetns();
  UniqueFd internet = newNetns();
  runIn(host, [] { return enableIpv4Forwarding().ok() ? Result<void>() : ErrnoError(EIO); });
  int status = -1;
  shellIn(host, "ip link set lo up", &status);  // so the host reaches its own addresses
  REQUIRE(status == 0);

  // The "internet": 198.19.0.10 and .20 behind the host's uplink 198.19.0.1.
  VethPlan uplink;
  uplink.host_name = "uplink0";
  uplink.peer_name = "eth0";
  uplink.host_addresses = {{ipLiteral("198.19.0.1"), 24}};
  REQUIRE(createIn(host, uplink, internet).ok());
  runIn(internet, [] {
    return runtime::init::configureNetwork(
        {"eth0", "198.19.0.10", 24, "198.19.0.1", "", "", 0, ""});
  });
  shellIn(internet, "ip addr add 198.19.0.20/24 dev eth0", &status);
  REQUIRE(status == 0);

  const Lease lease = leaseOf(1);  // the sandbox is 198.18.0.6, its gateway 198.18.0.5
  REQUIRE(createIn(host, planFor("t7", lease), sandbox).ok());
  runIn(sandbox, [&] { return runtime::init::configureNetwork(sandboxConfig(lease)); });

  // The daemon's table: the pool and the host's own addresses always denied.
  TableConfig table;
  table.pool4 = cidrLiteral("198.18.0.0/16");
  table.proxy_port = kProxyPort;
  table.boundaries = Boundaries::defaults();
  table.boundaries.always_denied.add(table.pool4);
  table.boundaries.always_denied.add(cidrLiteral("198.19.0.1/32"));
  auto policy = parsePolicy({true, {"198.19.0.10"}, {}});
  REQUIRE(policy.ok());
  Decider decider(*policy, table.boundaries);
  auto add = planSandboxAdd(table, {"t7", lease}, decider);
  REQUIRE(add.ok());
  auto created = applyNftIn(BorrowedFd(host), planTableCreate(table));
  INFO((created.ok() ? "" : created.error().describe()));
  REQUIRE(created.ok());
  auto added = applyNftIn(BorrowedFd(host), *add);
  INFO((added.ok() ? "" : added.error().describe()));
  REQUIRE(added.ok());

  UniqueFd far = listenTcp(internet, "0.0.0.0", kPort);
  UniqueFd host_service = listenTcp(host, "0.0.0.0", kHostPort);
  UniqueFd dns = listenTcp(host, "198.18.0.5", kDnsPort);

  // Allowed: forwarded, and masqueraded behind the uplink's address.
  UniqueFd allowed = connectTcp(sandbox, "198.19.0.10", kPort);
  CHECK(allowed.valid());
  std::string peer;
  CHECK(acceptTcp(far, &peer).valid());
  CHECK(peer == "198.19.0.1");
  // Not in allow_out: refused, though the host itself reaches it. The sandbox is told at once,
  // a reset for TCP and ICMP admin-prohibited (EHOSTUNREACH) for UDP, instead of waiting out its
  // timeout; and each refused packet is counted. Something listens on the TCP port, and nothing
  // on the UDP one would say "port unreachable" (ECONNREFUSED): these answers are the firewall's.
  const uint64_t before_refusals = droppedPackets(host, "t7");
  CHECK(connectError(sandbox, "198.19.0.20", kPort, kRefusalWait) == ECONNREFUSED);
  CHECK(udpReplyError(sandbox, "198.19.0.20", kDiscardPort, kRefusalWait) == EHOSTUNREACH);
  CHECK(droppedPackets(host, "t7") == before_refusals + 2);
  CHECK(connectTcp(host, "198.19.0.20", kPort).valid());
  CHECK(acceptTcp(far).valid());
  // The host's own addresses: only the DNS port on the gateway.
  CHECK(connectError(sandbox, "198.18.0.5", kHostPort, kRefusalWait) == ECONNREFUSED);
  CHECK(connectError(sandbox, "198.19.0.1", kHostPort, kRefusalWait) == ECONNREFUSED);
  CHECK(udpReplyError(sandbox, "198.18.0.5", kHostPort, kRefusalWait) == EHOSTUNREACH);
  CHECK(droppedPackets(host, "t7") == before_refusals + 5);
  CHECK(connectTcp(host, "198.19.0.1", kHostPort).valid());
  CHECK(connectTcp(sandbox, "198.18.0.5", kDnsPort).valid());
  CHECK(acceptTcp(dns).valid());

  // A forged source gets no answer: the host would send it to whoever owns that address. Here
  // the host routes 198.18.9.0/24 back over the sandbox's veth, so that reverse-path filtering
  // lets the forged SYN reach the chains, and any answer would come back to the sandbox, which
  // holds the address.
  shellIn(host, "ip route add 198.18.9.0/24 dev dcwt7", &status);
  REQUIRE(status == 0);
  shellIn(sandbox, "ip addr add 198.18.9.9/32 dev eth0", &status);
  REQUIRE(status == 0);
  const uint64_t before_forged = droppedPackets(host, "t7");
  CHECK(connectError(sandbox, "198.19.0.20", kPort, kDroppedWait, "198.18.9.9") == ETIMEDOUT);
  CHECK(droppedPackets(host, "t7") > before_forged);  // the chains saw it, and counted it

  // A flood beyond the log limit is refused and counted to the last packet: the limit decides
  // only what is logged. The allowed datagram shows the sender works.
  UniqueFd discard = bindUdp(internet, kDiscardPort);
  const uint64_t before = droppedPackets(host, "t7");
  sendUdp(sandbox, "198.19.0.20", kDiscardPort, kFlood);
  sendUdp(sandbox, "198.19.0.10", kDiscardPort, 1);
  pollfd arrived{discard.get(), POLLIN, 0};
  CHECK(::poll(&arrived, 1, static_cast<int>(ms(kDeliveryWait).count())) == 1);
  uint64_t after = droppedPackets(host, "t7");
  for (auto deadline = std::chrono::steady_clock::now() + kDeliveryWait;
       after < before + kFlood && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(10ms);
    after = droppedPackets(host, "t7");
  }
  CHECK(after - before == static_cast<uint64_t>(kFlood));
  CHECK(drainUdp(discard) == 1);

  // Every refusal goes through the refuse chain, which the kernel holds as planned: the log
  // line naming the sandbox, rate limited; the count and a reject for the sandbox's own address;
  // the count and the drop for any other.
  {
    auto refuse = runNftIn(BorrowedFd(host), "list chain inet declaw sbx_t7_refuse");
    REQUIRE(refuse.ok());
    INFO(*refuse);
    std::vector<nlohmann::json> held = rulesOf(nlohmann::json::parse(*refuse), "sbx_t7_refuse");
    CHECK(held == rulesOf(*add, "sbx_t7_refuse"));
    REQUIRE(held.size() == 4);
    CHECK(held[0][0]["limit"]["rate"] == kRefusedLogRate);
    CHECK(held[0][0]["limit"]["burst"] == kRefusedLogBurst);
    CHECK(held[0][1]["log"]["prefix"] == "declaw sbx-t7 refused: ");
    const auto from_sandbox = nlohmann::json::parse(
        R"({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                      "right": "198.18.0.6"}})");
    const auto tcp = nlohmann::json::parse(
        R"({"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}})");
    const auto counted = nlohmann::json::parse(R"({"counter": "sbx_t7_dropped"})");
    CHECK(held[1] ==
          nlohmann::json::array({from_sandbox, tcp, counted,
                                 nlohmann::json::parse(R"({"reject": {"type": "tcp reset"}})")}));
    CHECK(held[2] == nlohmann::json::array(
                         {from_sandbox, counted,
                          nlohmann::json::parse(
                              R"({"reject": {"type": "icmpx", "expr": "admin-prohibited"}})")}));
    CHECK(held[3] == nlohmann::json::parse(R"([{"counter": "sbx_t7_dropped"}, {"drop": null}])"));
  }

  // Removed: the base chain drops a dcw* link without a sandbox chain, allowed or not.
  auto removal = planSandboxRemove("t7");
  REQUIRE(removal.ok());
  REQUIRE(applyNftIn(BorrowedFd(host), *removal).ok());
  CHECK_FALSE(connectTcp(sandbox, "198.19.0.10", kPort, kDroppedWait).valid());
  REQUIRE(applyNftIn(BorrowedFd(host), planTableDelete()).ok());
  auto tables = runNftIn(BorrowedFd(host), "list tables");
  REQUIRE(tables.ok());
  CHECK_FALSE(contains(*tables, "declaw"));

  // None of it reached the real host's ruleset or links.
  auto real = NftContext::create();
  REQUIRE(real.ok());
  auto ruleset = real->run("list ruleset");
  REQUIRE(ruleset.ok());
  CHECK_FALSE(contains(*ruleset, "sbx_t7"));
  auto real_links = listLinks("dcwt");
  REQUIRE(real_links.ok());
  CHECK(real_links->empty());
}

TEST_CASE("a dual-stack sandbox is told of refusals over IPv6 too") {
  requireRoot();
  UniqueFd host = newNetns();
  UniqueFd sandbox = newNetns();
  const Lease lease = leaseOf(2, true);  // the sandbox is fd00:dc::a, its gateway fd00:dc::9
  REQUIRE(createIn(host, planFor("t8", lease), sandbox).ok());
  runIn(sandbox, [&] { return runtime::init::configureNetwork(sandboxConfig(lease)); });
  TableConfig table;
  table.pool4 = cidrLiteral("198.18.0.0/16");
  table.pool6 = cidrLiteral("fd00:dc::/64");
  table.boundaries = Boundaries::defaults();
  auto policy = parsePolicy({true, {"2001:db8::1"}, {}});
  REQUIRE(policy.ok());
  auto add = planSandboxAdd(table, {"t8", lease}, Decider(*policy, table.boundaries));
  REQUIRE(add.ok());
  REQUIRE(applyNftIn(BorrowedFd(host), planTableCreate(table)).ok());
  auto added = applyNftIn(BorrowedFd(host), *add);
  INFO((added.ok() ? "" : added.error().describe()));
  REQUIRE(added.ok());
  UniqueFd host_service = listenTcp(host, "::", kHostPort);
  const std::string gateway = lease.v6->host.toString();

  // The host's own address, not its DNS port: a reset for TCP, ICMPv6 admin-prohibited (EACCES
  // for a UDP socket) for the rest, each counted.
  const uint64_t before = droppedPackets(host, "t8");
  CHECK(connectError(sandbox, gateway, kHostPort, kRefusalWait) == ECONNREFUSED);
  CHECK(udpReplyError(sandbox, gateway, kHostPort, kRefusalWait) == EACCES);
  CHECK(droppedPackets(host, "t8") == before + 2);
}
