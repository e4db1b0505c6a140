#include "daemon/socket_activation.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstddef>
#include <cstring>

namespace declaw::daemon {

namespace {

// At most this many passed fds are described in an error (systemd passes one per Listen*= line).
constexpr int kDescribedFds = 8;

std::string describe(const PassedFd& p) {
  if (!p.is_socket) return "not a socket";
  std::string kind = p.family == AF_UNIX    ? "AF_UNIX"
                     : p.family == AF_INET  ? "AF_INET"
                     : p.family == AF_INET6 ? "AF_INET6"
                                            : "family " + std::to_string(p.family);
  kind += p.type == SOCK_STREAM      ? " SOCK_STREAM"
          : p.type == SOCK_DGRAM     ? " SOCK_DGRAM"
          : p.type == SOCK_SEQPACKET ? " SOCK_SEQPACKET"
                                     : " type " + std::to_string(p.type);
  return kind + (p.listening ? " socket" : " socket, not listening");
}

}  // namespace

PassedFd inspectPassedFd(int fd) {
  PassedFd p;
  p.fd = fd;
  p.serves_api = sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) > 0;
  int value = 0;
  socklen_t len = sizeof value;
  p.is_socket = ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) == 0;
  if (!p.is_socket) return p;
  p.family = value;
  len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) == 0) p.type = value;
  len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) == 0) p.listening = value != 0;
  return p;
}

Result<std::optional<int>> chooseApiSocket(int listen_fds, const std::vector<PassedFd>& passed) {
  if (listen_fds < 0) return ErrnoError(-listen_fds) << "socket activation: sd_listen_fds";
  if (listen_fds == 0) return std::optional<int>();
  const std::string expected =
      "declawd serves its API on exactly one listening AF_UNIX SOCK_STREAM socket "
      "(one ListenStream=/path in declawd.socket)";
  if (listen_fds != 1 || passed.size() != 1) {
    auto error = PlainError() << "socket activation: " << listen_fds << " fds were passed (";
    for (size_t i = 0; i < passed.size(); ++i) {
      error << (i ? ", " : "") << "fd " << passed[i].fd << ": " << describe(passed[i]);
    }
    return error << "); " << expected;
  }
  const PassedFd& only = passed.front();
  if (!only.serves_api) {
    return PlainError() << "socket activation: fd " << only.fd << " is " << describe(only) << "; "
                        << expected;
  }
  return std::optional<int>(only.fd);
}

Result<std::optional<UniqueFd>> takeActivationSocket() {
  const int n = sd_listen_fds(1);
  std::vector<PassedFd> passed;
  for (int i = 0; i < n && i < kDescribedFds; ++i) {
    passed.push_back(inspectPassedFd(SD_LISTEN_FDS_START + i));
  }
  auto chosen = chooseApiSocket(n, passed);
  if (!chosen) return chosen.error();
  if (!*chosen) return std::optional<UniqueFd>();
  return std::optional<UniqueFd>(UniqueFd(**chosen));
}

std::string describeActivationSocket(int fd) {
  std::string description = "fd " + std::to_string(fd) + " from systemd";
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return description;
  // Unnamed (only the family) or abstract (a leading NUL): no path to show.
  if (len <= offsetof(sockaddr_un, sun_path) || addr.sun_path[0] == '\0') return description;
  return description + " (" +
         std::string(addr.sun_path, ::strnlen(addr.sun_path, sizeof addr.sun_path)) + ")";
}

}  // namespace declaw::daemon
