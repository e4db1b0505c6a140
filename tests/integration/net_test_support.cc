#include "net_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "netpolicy/kernel/netns.h"

namespace declaw::net_test {

namespace {

constexpr int kBacklog = 16;

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = 0;
};

SocketAddress parse(const std::string& address, uint16_t port) {
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof *v4;
    a.family = AF_INET;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof *v6;
    a.family = AF_INET6;
  } else {
    FAIL("not an address: " << address);
  }
  return a;
}

UniqueFd socketIn(const UniqueFd& netns, int family, int type = SOCK_STREAM) {
  auto sock = netpolicy::inNetns<UniqueFd>(BorrowedFd(netns), [&]() -> Result<UniqueFd> {
    UniqueFd s(::socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return ErrnoError() << "socket";
    return s;
  });
  if (!sock) FAIL("socket in netns: " << sock.error().describe());
  return std::move(*sock);
}

struct Connection {
  UniqueFd fd;  // valid when established
  int error = 0;
};

Connection connectFrom(const UniqueFd& netns, const std::string& address, uint16_t port,
                       std::chrono::milliseconds timeout, const std::string& source) {
  SocketAddress a = parse(address, port);
  UniqueFd s = socketIn(netns, a.family);
  if (!source.empty()) {
    SocketAddress local = parse(source, 0);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&local.storage), local.len) != 0) {
      FAIL("bind " << source << ": " << std::strerror(errno));
    }
  }
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a.storage), a.len) != 0 &&
      errno != EINPROGRESS) {
    return {UniqueFd(), errno};
  }
  pollfd p{s.get(), POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return {UniqueFd(), ETIMEDOUT};
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return {UniqueFd(), err};
  // Blocking from here on: the tests write and read small amounts.
  ::fcntl(s.get(), F_SETFL, ::fcntl(s.get(), F_GETFL) & ~O_NONBLOCK);
  return {std::move(s), 0};
}

}  // namespace

UniqueFd newNetns() {
  auto ns = netpolicy::createNetns();
  if (!ns) FAIL("createNetns: " << ns.error().describe());
  return std::move(*ns);
}

void runIn(const UniqueFd& netns, const std::function<Result<void>()>& fn) {
  auto r = netpolicy::runInNetns(BorrowedFd(netns), fn);
  if (!r) FAIL(r.error().describe());
}

std::string shellIn(const UniqueFd& netns, const std::string& command, int* status) {
  // nsenter opens our fd through /proc; the command's own PATH finds ip in /usr/sbin.
  const std::string full = "nsenter --net=/proc/" + std::to_string(::getpid()) + "/fd/" +
                           std::to_string(netns.get()) +
                           " env PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c '" + command + "' 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  int wait_status = ::pclose(pipe);
  if (status != nullptr) *status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  return out;
}

UniqueFd listenTcp(const UniqueFd& netns, const std::string& address, uint16_t port) {
  SocketAddress a = parse(address, port);
  UniqueFd s = socketIn(netns, a.family);
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a.storage), a.len) != 0) {
    FAIL("bind " << address << ":" << port << ": " << std::strerror(errno));
  }
  REQUIRE(::listen(s.get(), kBacklog) == 0);
  return s;
}

UniqueFd connectTcp(const UniqueFd& netns, const std::string& address, uint16_t port,
                    std::chrono::milliseconds timeout) {
  return std::move(connectFrom(netns, address, port, timeout, "").fd);
}

int connectError(const UniqueFd& netns, const std::string& address, uint16_t port,
                 std::chrono::milliseconds timeout, const std::string& source) {
  return connectFrom(netns, address, port, timeout, source).error;
}

int udpReplyError(const UniqueFd& netns, const std::string& address, uint16_t port,
                  std::chrono::milliseconds timeout) {
  SocketAddress a = parse(address, port);
  UniqueFd s = socketIn(netns, a.family, SOCK_DGRAM);
  // Connected: only then does Linux report an ICMP error to the socket without IP_RECVERR
  // (udp(7)), as a client's connected socket gets it.
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a.storage), a.len) != 0) return errno;
  if (::send(s.get(), "x", 1, 0) != 1) return errno;
  pollfd p{s.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return ETIMEDOUT;
  char buf[64];
  return ::recv(s.get(), buf, sizeof buf, 0) >= 0 ? 0 : errno;
}

UniqueFd acceptTcp(const UniqueFd& listener, std::string* peer, std::chrono::milliseconds timeout) {
  pollfd p{listener.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return UniqueFd();
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  UniqueFd s(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC));
  if (s && peer != nullptr) {
    char text[INET6_ADDRSTRLEN] = {};
    if (from.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, text, sizeof text);
    } else {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, text, sizeof text);
    }
    *peer = text;
  }
  return s;
}

}  // namespace declaw::net_test
