// Socket activation's decision (daemon/socket_activation.h): which passed fd declawd serves on,
// and the error for anything else; and how a real fd is inspected (no root: sockets in a temp
// dir). Starting the daemon under systemd-socket-activate is tests/integration/test_service.py.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "daemon/socket_activation.h"

using namespace declaw;
using namespace declaw::daemon;

namespace {

PassedFd unixListener(int fd) {
  return PassedFd{.fd = fd,
                  .serves_api = true,
                  .is_socket = true,
                  .family = AF_UNIX,
                  .type = SOCK_STREAM,
                  .listening = true};
}

// A socket of `type` bound in a fresh temp dir, listening when `listen` (stream sockets only).
struct BoundSocket {
  std::string dir;
  std::string path;
  UniqueFd fd;

  BoundSocket(int family_type, bool listen) {
    char tmpl[] = "/tmp/declaw-activation-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/api.sock";
    fd = UniqueFd(::socket(AF_UNIX, family_type | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    if (listen) REQUIRE(::listen(fd.get(), 1) == 0);
  }
  ~BoundSocket() {
    fd.reset();
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;
};

}  // namespace

TEST_CASE("without LISTEN_FDS declawd binds --socket itself", "[daemon][activation]") {
  auto chosen = chooseApiSocket(0, {});
  REQUIRE(chosen.ok());
  CHECK_FALSE(chosen->has_value());
}

TEST_CASE("one listening AF_UNIX stream socket is served", "[daemon][activation]") {
  auto chosen = chooseApiSocket(1, {unixListener(3)});
  REQUIRE(chosen.ok());
  REQUIRE(chosen->has_value());
  CHECK(**chosen == 3);
}

TEST_CASE("two passed sockets are an error that names both", "[daemon][activation]") {
  auto chosen = chooseApiSocket(2, {unixListener(3), unixListener(4)});
  REQUIRE_FALSE(chosen.ok());
  const std::string message = chosen.error().describe();
  CHECK_THAT(message, Catch::Contains("2 fds were passed"));
  CHECK_THAT(message, Catch::Contains("fd 3: AF_UNIX SOCK_STREAM socket"));
  CHECK_THAT(message, Catch::Contains("fd 4: AF_UNIX SOCK_STREAM socket"));
  CHECK_THAT(message, Catch::Contains("exactly one"));
}

TEST_CASE("a datagram, TCP, non-listening or non-socket fd is refused, saying what it is",
          "[daemon][activation]") {
  PassedFd dgram = unixListener(3);
  dgram.serves_api = false;
  dgram.type = SOCK_DGRAM;
  dgram.listening = false;
  PassedFd tcp = unixListener(3);
  tcp.serves_api = false;
  tcp.family = AF_INET;
  PassedFd idle = unixListener(3);
  idle.serves_api = false;
  idle.listening = false;
  PassedFd file{.fd = 3};
  const std::pair<PassedFd, const char*> cases[] = {
      {dgram, "fd 3 is AF_UNIX SOCK_DGRAM socket, not listening"},
      {tcp, "fd 3 is AF_INET SOCK_STREAM socket"},
      {idle, "fd 3 is AF_UNIX SOCK_STREAM socket, not listening"},
      {file, "fd 3 is not a socket"},
  };
  for (const auto& [passed, says] : cases) {
    auto chosen = chooseApiSocket(1, {passed});
    REQUIRE_FALSE(chosen.ok());
    CHECK_THAT(chosen.error().describe(), Catch::Contains(says));
    CHECK_THAT(chosen.error().describe(), Catch::Contains("ListenStream="));
  }
}

TEST_CASE("an sd_listen_fds failure is an error with its errno", "[daemon][activation]") {
  auto chosen = chooseApiSocket(-EBADF, {});
  REQUIRE_FALSE(chosen.ok());
  CHECK(chosen.error().code == EBADF);
}

TEST_CASE("inspecting real fds tells a listening stream socket from the rest",
          "[daemon][activation]") {
  BoundSocket listener(SOCK_STREAM, true);
  PassedFd p = inspectPassedFd(listener.fd.get());
  CHECK(p.serves_api);
  CHECK(p.family == AF_UNIX);
  CHECK(p.type == SOCK_STREAM);
  CHECK(p.listening);
  CHECK(describeActivationSocket(listener.fd.get()) ==
        "fd " + std::to_string(listener.fd.get()) + " from systemd (" + listener.path + ")");

  BoundSocket idle(SOCK_STREAM, false);
  CHECK_FALSE(inspectPassedFd(idle.fd.get()).serves_api);
  CHECK_FALSE(inspectPassedFd(idle.fd.get()).listening);

  BoundSocket dgram(SOCK_DGRAM, false);
  CHECK_FALSE(inspectPassedFd(dgram.fd.get()).serves_api);
  CHECK(inspectPassedFd(dgram.fd.get()).type == SOCK_DGRAM);

  UniqueFd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  PassedFd f = inspectPassedFd(file.get());
  CHECK_FALSE(f.serves_api);
  CHECK_FALSE(f.is_socket);
}
