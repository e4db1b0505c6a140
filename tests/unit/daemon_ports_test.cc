// Port forwards' pure parts: which listen addresses a TCP forward accepts (the host's loopback
// only), and the table's bounds without a sandbox (the forwarding itself is
// tests/integration/test_ports.py); and how the daemon takes a directory watch's pipe.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "daemon/dir_watch.h"
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
  auto none = table.forward(8000, std::nullopt, 0, 0, true, netns);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == ENOSYS);
  auto bad = table.forward(8000, std::string("0.0.0.0:1"), 0, 0, true, netns);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == EINVAL);
  auto low = table.forward(8000, std::string("127.0.0.1:80"), 1000, 1000, false, netns);
  REQUIRE_FALSE(low.ok());
  CHECK(low.error().code == EACCES);
  CHECK(low.error().message.find("ip_unprivileged_port_start") != std::string::npos);
  CHECK(opened == 0);
  CHECK(table.list().empty());
  CHECK(table.close(8000).error().code == ENOENT);
  table.closeAll();
  CHECK(table.forward(8000, std::nullopt, 0, 0, true, netns).error().code == ESRCH);
}

TEST_CASE("a watch's pipe is read through a read-only, non-blocking description of its own",
          "[daemon][watch]") {
  int ends[2];
  REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
  UniqueFd read_end(ends[0]);
  UniqueFd write_end(ends[1]);
  // What a hostile init could send: the pipe opened read-write, so the daemon would hold a
  // writer (and never see the end) on a description the sandbox shares.
  UniqueFd sent(
      ::open(("/proc/self/fd/" + std::to_string(read_end.get())).c_str(), O_RDWR | O_CLOEXEC));
  REQUIRE(sent);
  auto own = ownReadEnd(sent);
  REQUIRE(own.ok());
  CHECK((::fcntl(own->get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK((::fcntl(own->get(), F_GETFL) & O_NONBLOCK) != 0);
  // Clearing O_NONBLOCK on the sent description does not touch the daemon's.
  REQUIRE(::fcntl(sent.get(), F_SETFL, 0) == 0);
  CHECK((::fcntl(own->get(), F_GETFL) & O_NONBLOCK) != 0);
  sent.reset();
  read_end.reset();
  PipeDirWatch watch(std::move(*own), [] { return false; });
  CHECK_FALSE(watch.next(std::chrono::milliseconds(10)).has_value());  // nothing yet, no block
  write_end.reset();  // the sandbox's writer goes: the watch ends
  auto end = watch.next(std::chrono::milliseconds(1000));
  REQUIRE(end.has_value());
  CHECK(end->kind == api::WatchEvent::Kind::kEnd);
  CHECK(end->reason == "sandbox_ended");
  // Anything but a pipe is refused.
  UniqueFd file(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  CHECK(ownReadEnd(file).error().code == EPROTO);
}
