#include "netsvc/sockets.h"

#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>

#include <cstring>

namespace declaw::netsvc {
namespace {

// <linux/netfilter_ipv6/ip6_tables.h> defines it; that header does not build in C++.
constexpr int kIp6tSoOriginalDst = 80;
#ifndef IPV6_FREEBIND
constexpr int IPV6_FREEBIND = 78;
#endif

socklen_t toSockaddr(const SocketAddress& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  auto bytes = a.address.bytes();
  if (a.address.isV4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a.port);
    std::memcpy(&sin->sin_addr, bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(a.port);
  std::memcpy(&sin6->sin6_addr, bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

Result<SocketAddress> fromSockaddr(const sockaddr_storage& s) {
  if (s.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&s);
    const auto* b = reinterpret_cast<const uint8_t*>(&sin->sin_addr);
    return SocketAddress{IpAddress::v4(std::span<const uint8_t, 4>(b, 4)), ntohs(sin->sin_port)};
  }
  if (s.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&s);
    const auto* b = reinterpret_cast<const uint8_t*>(&sin6->sin6_addr);
    return SocketAddress{IpAddress::v6(std::span<const uint8_t, 16>(b, 16)),
                         ntohs(sin6->sin6_port)};
  }
  return PlainError() << "address family " << s.ss_family << " is not IP";
}

}  // namespace

Result<UniqueFd> openSocket(const netpolicy::IpAddress& like, int type) {
  UniqueFd fd(::socket(like.isV4() ? AF_INET : AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoError() << "socket";
  return fd;
}

Result<UniqueFd> openBoundSocket(const SocketAddress& local, int type) {
  auto fd = openSocket(local.address, type);
  if (!fd) return fd.error();
  int one = 1;
  if (type == SOCK_STREAM &&
      ::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return ErrnoError() << "SO_REUSEADDR";
  }
  if (local.address.isV4()) {
    if (::setsockopt(fd->get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof one) != 0) {
      return ErrnoError() << "IP_FREEBIND";
    }
  } else {
    if (::setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      return ErrnoError() << "IPV6_V6ONLY";
    }
    if (::setsockopt(fd->get(), IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one) != 0) {
      return ErrnoError() << "IPV6_FREEBIND";
    }
  }
  sockaddr_storage ss;
  socklen_t len = toSockaddr(local, ss);
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return ErrnoError() << "bind " << local.toString();
  }
  if (type == SOCK_STREAM && ::listen(fd->get(), kListenBacklog) != 0) {
    return ErrnoError() << "listen " << local.toString();
  }
  return fd;
}

Result<UniqueFd> acceptConnection(int listener) {
  UniqueFd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return ErrnoError() << "accept";
  return fd;
}

Result<SocketAddress> originalDestination(int fd, netpolicy::Family family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = family == netpolicy::Family::kV4
               ? ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
               : ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &ss, &len);
  if (rc != 0) return ErrnoError() << "SO_ORIGINAL_DST";
  return fromSockaddr(ss);
}

Result<SocketAddress> localAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ErrnoError() << "getsockname";
  }
  return fromSockaddr(ss);
}

Result<SocketAddress> peerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ErrnoError() << "getpeername";
  }
  return fromSockaddr(ss);
}

boost::asio::ip::address toAsio(const netpolicy::IpAddress& address) {
  auto b = address.bytes();
  if (address.isV4()) {
    boost::asio::ip::address_v4::bytes_type out;
    std::memcpy(out.data(), b.data(), 4);
    return boost::asio::ip::address_v4(out);
  }
  boost::asio::ip::address_v6::bytes_type out;
  std::memcpy(out.data(), b.data(), 16);
  return boost::asio::ip::address_v6(out);
}

netpolicy::IpAddress fromAsio(const boost::asio::ip::address& address) {
  if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    return IpAddress::v4(std::span<const uint8_t, 4>(b.data(), 4));
  }
  auto b = address.to_v6().to_bytes();
  return IpAddress::v6(std::span<const uint8_t, 16>(b.data(), 16)).unmapped();
}

}  // namespace declaw::netsvc
