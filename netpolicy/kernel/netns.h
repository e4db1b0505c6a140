// Network namespaces as fds, and running code inside one.
//
// setns(2) with CLONE_NEWNET moves only the calling thread, and a socket (netlink included) stays
// in the namespace it was created in. So "do X in namespace N" is: a fresh thread joins N, does
// X (creating every socket it uses), and ends; the daemon's threads never change namespace. The
// daemon itself works in the host namespace and needs none of this; tests use it to build whole
// topologies in namespaces of their own, never touching the host's links, sysctls or ruleset.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <utility>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::netpolicy {

// A new network namespace holding only lo (down), owned by the caller's user namespace. It lives
// as long as the fd (and whatever sockets or links were made in it): closing the last reference
// destroys it with its links, addresses and nftables tables, even when the process is killed.
Result<UniqueFd> createNetns();

// The network namespace of `pid`, for IFLA_NET_NS_FD (veth.h). When `pidfd` is given (the
// launcher's), the process is checked to be alive after the open: the pid cannot have been reused
// in between, so the namespace is that process's.
Result<UniqueFd> openNetnsOf(pid_t pid, int pidfd = -1);

// Runs `fn` on a new thread that has joined `netns`, and waits for it. The thread starts from
// the caller's other namespaces; only its network namespace differs.
Result<void> runInNetns(BorrowedFd netns, const std::function<Result<void>()>& fn);

// The same for a function returning Result<T>.
template <typename T>
Result<T> inNetns(BorrowedFd netns, const std::function<Result<T>()>& fn) {
  std::optional<Result<T>> out;
  auto ran = runInNetns(netns, [&]() -> Result<void> {
    out.emplace(fn());
    return {};
  });
  if (!ran) return ran.error();
  return std::move(*out);
}

}  // namespace declaw::netpolicy
