// Port forwards' pure parts: which listen addresses a TCP forward accepts (the host's loopback
// only), and the table's bounds without a sandbox (the forwarding itself is
// tests/integration/test_ports.py).
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "daemon/port_forward.h"

using namespace declaw;
using namespace declaw::daemon;

TEST_CASE("a listen address is on the host's loopback, with a port", "[daemon][ports]") {
  auto v4 = parseListenAddress("127.0.0.1:0");
  REQUIRE(v4.ok());
  CHECK(v4->family == AF_INET);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 0);
  auto other = parseListenAddress("127.1.2.3:8080");
  REQUIRE(other.ok());
  CHECK(other->port == 8080);
  auto v6 = parseListenAddress("[::1]:65535");
  REQUIRE(v6.ok());
  CHECK(v6->family == AF_INET6);
  CHECK(v6->port == 65535);
  auto named = parseListenAddress("localhost:9");
  REQUIRE(named.ok());
  CHECK(named->host == "127.0.0.1");
  for (const char* bad : {"0.0.0.0:0", "10.0.0.1:80", "[::]:0", "[::ffff:127.0.0.1]:1",
                          "example.com:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:-1", "127.0.0.1:1x", "[::1]80", "::1:80", ":80", ""}) {
    INFO(bad);
    auto parsed = parseListenAddress(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == EINVAL);
  }
}

TEST_CASE("a port table without a ports root refuses clearly, and is closed after closeAll",
          "[daemon][ports]") {
  PortTable table(nullptr, "sbx-000000000000");
  int opened = 0;
  auto netns = [&]() -> Result<UniqueFd> {
    ++opened;
    return ErrnoError(ENOENT) << "no netns";
  };
  auto none = table.forward(8000, std::nullopt, 0, 0, netns);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == ENOSYS);
  auto bad = table.forward(8000, std::string("0.0.0.0:1"), 0, 0, netns);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == EINVAL);
  CHECK(opened == 0);
  CHECK(table.list().empty());
  CHECK(table.close(8000).error().code == ENOENT);
  table.closeAll();
  CHECK(table.forward(8000, std::nullopt, 0, 0, netns).error().code == ESRCH);
}
