// Socket activation (sd_listen_fds(3)): started by systemd through declawd.socket, or by anything
// that passes fds the same way (LISTEN_PID, LISTEN_FDS), declawd serves the API on the socket it
// was given instead of binding --socket itself. The socket belongs to whoever made it: declawd
// never chmods, chowns or unlinks it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::daemon {

// What one passed fd is. `serves_api` is sd_is_socket_unix(fd, SOCK_STREAM, 1, ...) > 0; the
// rest only describes a wrong fd in the error.
struct PassedFd {
  int fd = -1;
  bool serves_api = false;  // an AF_UNIX SOCK_STREAM socket in the listening state
  bool is_socket = false;
  int family = 0;  // AF_*, when is_socket
  int type = 0;    // SOCK_*, when is_socket
  bool listening = false;
};

// Looks at one fd (sd_is_socket_unix(3), getsockopt SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN).
PassedFd inspectPassedFd(int fd);

// The decision, without a syscall. `listen_fds` is what sd_listen_fds() returned (0: not
// activated, < 0: -errno) and `passed` describes fds SD_LISTEN_FDS_START onwards. Exactly one
// fd, a listening AF_UNIX stream socket, is served; no fd at all means "bind --socket"
// (nullopt); anything else is an error that says what was passed and what is expected.
Result<std::optional<int>> chooseApiSocket(int listen_fds, const std::vector<PassedFd>& passed);

// The socket systemd passed, or nullopt when declawd was not socket-activated. sd_listen_fds(1)
// also unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (nothing declawd starts sees them) and
// sets FD_CLOEXEC on every passed fd (none reaches a sandbox). Call it once, early.
Result<std::optional<UniqueFd>> takeActivationSocket();

// For the log: "fd 3 from systemd (/run/declaw/declaw.sock)"; without the path when the socket
// has none (unnamed, abstract).
std::string describeActivationSocket(int fd);

}  // namespace declaw::daemon
