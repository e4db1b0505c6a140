// The few socket calls the stub and the proxy make themselves rather than through Asio: Asio
// opens sockets without O_CLOEXEC (no daemon fd may reach a sandbox: DESIGN.md) and knows
// nothing of netfilter. Each returns an owned fd, non-blocking and close-on-exec, that the
// caller hands to an Asio socket with assign().
#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>

#include "common/result.h"
#include "common/unique_fd.h"
#include "netsvc/upstream_dns.h"

namespace declaw::netsvc {

inline constexpr int kListenBacklog = 512;

// A TCP listener or a UDP socket bound to `local`. IP_FREEBIND lets it bind before the address
// is up on its interface (an IPv6 gateway is unusable for a second or two while duplicate
// address detection runs); IPv6 sockets are IPv6-only, so an IPv4 peer never appears as
// ::ffff:a.b.c.d.
Result<UniqueFd> openBoundSocket(const SocketAddress& local, int type);

// An unbound TCP or UDP socket of the address's family.
Result<UniqueFd> openSocket(const netpolicy::IpAddress& like, int type);

// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK. EAGAIN when nothing is waiting.
Result<UniqueFd> acceptConnection(int listener);

// The destination the client connected to before nftables redirected it (SO_ORIGINAL_DST, or
// IP6T_SO_ORIGINAL_DST for IPv6: the conntrack entry's original tuple). ENOENT when the
// connection was not redirected (it came to the listener directly).
Result<SocketAddress> originalDestination(int fd, netpolicy::Family family);

Result<SocketAddress> localAddress(int fd);
Result<SocketAddress> peerAddress(int fd);

// Conversions for Asio endpoints.
boost::asio::ip::address toAsio(const netpolicy::IpAddress& address);
netpolicy::IpAddress fromAsio(const boost::asio::ip::address& address);

}  // namespace declaw::netsvc
