// Support for tests that build networks: every namespace is the test's own (createNetns: alive
// as long as its fd, so nothing outlives the test, even a crashed one), addresses come from
// 198.18.0.0/15, and every command, socket and rule is made inside one of those namespaces.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::net_test {

using namespace std::chrono_literals;

// A fresh network namespace (only lo, down); the test fails if it cannot be made.
UniqueFd newNetns();

// Runs `fn` inside `netns` (on a thread that joined it), failing the test with its error.
void runIn(const UniqueFd& netns, const std::function<Result<void>()>& fn);

// `command` run by sh inside `netns` (nsenter --net), stdout and stderr together. `status`, when
// given, receives the exit code.
std::string shellIn(const UniqueFd& netns, const std::string& command, int* status = nullptr);

// A TCP listener on address:port (IPv4 or IPv6 literal), made inside `netns`.
UniqueFd listenTcp(const UniqueFd& netns, const std::string& address, uint16_t port);

// A TCP connection from inside `netns` to address:port; an invalid fd when it is refused or not
// established within `timeout` (a dropped SYN).
UniqueFd connectTcp(const UniqueFd& netns, const std::string& address, uint16_t port,
                    std::chrono::milliseconds timeout = 3s);

// How a TCP connect from inside `netns` to address:port ends: 0 when it is established, the
// error an answer brought (ECONNREFUSED for a reset, EHOSTUNREACH or EACCES for an ICMP error),
// or ETIMEDOUT when nothing answers within `timeout` (a dropped SYN). With `source`, the SYN is
// sent from that local address.
int connectError(const UniqueFd& netns, const std::string& address, uint16_t port,
                 std::chrono::milliseconds timeout, const std::string& source = "");

// What one datagram sent from a connected UDP socket inside `netns` to address:port brings back:
// the ICMP error as the socket reports it (ECONNREFUSED, EHOSTUNREACH, EACCES), 0 for a datagram,
// or ETIMEDOUT when nothing comes within `timeout`.
int udpReplyError(const UniqueFd& netns, const std::string& address, uint16_t port,
                  std::chrono::milliseconds timeout);

// The next connection on `listener` within `timeout`; its peer's address in `peer`.
UniqueFd acceptTcp(const UniqueFd& listener, std::string* peer = nullptr,
                   std::chrono::milliseconds timeout = 3s);

}  // namespace declaw::net_test
