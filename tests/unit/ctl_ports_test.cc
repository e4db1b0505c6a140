// What `declawctl port-forward` prints for a PortForward, and how it reads LISTEN.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "clients/ctl/port_forward_format.h"

namespace ctl = declaw::ctl;

TEST_CASE("a forward with a TCP listener prints it first, then its unix socket, as kubectl does") {
  auto forward = nlohmann::json::parse(
      R"({"port": 8000, "unix_socket": "/run/declaw/ports/sbx-1/8000.sock",
          "host": "127.0.0.1:41234"})");
  CHECK(ctl::forwardingLines(forward) ==
        "Forwarding from 127.0.0.1:41234 -> 8000\n"
        "Forwarding from /run/declaw/ports/sbx-1/8000.sock -> 8000\n");
}

TEST_CASE("a forward without a TCP listener prints only its unix socket") {
  auto forward = nlohmann::json::parse(
      R"({"port": 22, "unix_socket": "/run/declaw/ports/sbx-1/22.sock", "host": null})");
  CHECK(ctl::forwardingLines(forward) == "Forwarding from /run/declaw/ports/sbx-1/22.sock -> 22\n");
}

TEST_CASE("an IPv6 listener is printed in brackets, as the daemon gives it") {
  auto forward =
      nlohmann::json::parse(R"({"port": 80, "unix_socket": "/s", "host": "[::1]:8080"})");
  CHECK(ctl::forwardingLines(forward) ==
        "Forwarding from [::1]:8080 -> 80\nForwarding from /s -> 80\n");
}

TEST_CASE("LISTEN: a bare port is 127.0.0.1's, addresses pass as given") {
  CHECK(*ctl::parseListenAddress("18000") == "127.0.0.1:18000");
  CHECK(*ctl::parseListenAddress("0") == "127.0.0.1:0");
  CHECK(*ctl::parseListenAddress("127.0.0.1:18000") == "127.0.0.1:18000");
  CHECK(*ctl::parseListenAddress("[::1]:18000") == "[::1]:18000");
  // Whether it is on the host's loopback is the daemon's to say (a 400 in its words).
  CHECK(*ctl::parseListenAddress("10.0.0.1:80") == "10.0.0.1:80");
}

TEST_CASE("LISTEN: no port, a port past 65535 or a bare IPv6 address is refused with a reason") {
  for (const char* bad : {"", "x", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "65536",
                          "::1:80", "[]:80", "[::1]:x", "123456"}) {
    INFO(bad);
    auto r = ctl::parseListenAddress(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("LISTEN") != std::string::npos);
  }
}
