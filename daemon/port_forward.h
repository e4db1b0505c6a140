// A sandbox's port, reachable from the host (GET/POST .../ports/{port}, docs/api.md "Ports"):
// connections to a unix socket on the host (owned by the sandbox's owner, mode 0600) and,
// when asked, to a TCP listener on the host's loopback, each forwarded to 127.0.0.1:PORT
// inside the sandbox.
//
// The daemon makes the sandbox-side socket itself, on a thread that joins the sandbox's
// network namespace for the socket() and connect() only (netpolicy::inNetns): the sandbox's
// code never handles the host side, and nothing of the host's network is reachable from the
// sandbox through it. Each connection is two threads, one copy per direction (blocking, with a
// bounded buffer; the forward's end shuts their sockets down), until both sides are done; a
// listener holds at most kMaxConnections, the daemon kMaxConnectionsInAll, and a connection
// that cannot get its threads is refused. A TCP listener binds a port below the kernel's
// ip_unprivileged_port_start only for root: the daemon must not bind for others what they
// could not bind themselves.
// Destroying the forward closes its listeners and every connection, and removes the socket.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/services.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::daemon {

// "127.0.0.1:8080", "[::1]:0", "localhost:0" (= 127.0.0.1): a loopback address and a port;
// EINVAL for anything else (a TCP forward never listens beyond the host's loopback).
struct ListenAddress {
  int family = 0;  // AF_INET | AF_INET6
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parseListenAddress(const std::string& text);

class PortForward {
 public:
  // Connections at once: per listener of a forward, and of all forwards of the daemon.
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kMaxConnectionsInAll = 512;

  // Listens on the unix socket `socket_name` in the directory `dir_fd` (made mode 0600 and
  // owned by uid:gid before anyone else may connect), forwarding to 127.0.0.1:port in `netns`.
  static Result<std::unique_ptr<PortForward>> start(UniqueFd netns, uint16_t port, int dir_fd,
                                                    const std::string& socket_name,
                                                    const std::string& socket_path, uid_t uid,
                                                    gid_t gid);
  ~PortForward();
  PortForward(const PortForward&) = delete;
  PortForward& operator=(const PortForward&) = delete;

  // Adds the TCP listener (one per forward); returns the address it bound ("127.0.0.1:41234").
  // Asking again answers the one there is when the address matches (or asks for port 0).
  Result<std::string> listenTcp(const ListenAddress& address);

  uint16_t port() const { return port_; }
  const std::string& socketPath() const { return socket_path_; }
  std::optional<std::string> tcpAddress() const;

 private:
  struct Shared;
  PortForward(std::shared_ptr<Shared> shared, uint16_t port, int dir_fd, std::string socket_name,
              std::string socket_path);
  void startAcceptor(UniqueFd listener, size_t slot);

  std::shared_ptr<Shared> shared_;
  uint16_t port_;
  UniqueFd dir_fd_;
  std::string socket_name_;
  std::string socket_path_;
  mutable std::mutex mutex_;
  std::optional<std::string> tcp_address_;
  std::optional<ListenAddress> tcp_asked_;
  std::vector<std::thread> acceptors_;
};

// Where the forwards' unix sockets live: <state_dir>/ports (root's, mode 0711), one directory
// per sandbox (root's, 0711) holding PORT.sock (the owner's, 0600). Root-owned directories:
// the owner can connect, but not rename or replace what the daemon chmods, chowns and unlinks.
struct PortsRoot {
  UniqueFd fd;
  std::string path;
  // Opens (creating it) <state_dir>/ports, emptied of a previous daemon's leftovers.
  static Result<PortsRoot> open(const std::string& state_dir);
};

// A sandbox's forwards. Thread-safe.
class PortTable {
 public:
  static constexpr size_t kMaxForwards = 32;

  PortTable(const PortsRoot* root, std::string sandbox_id)
      : root_(root), sandbox_id_(std::move(sandbox_id)) {}
  ~PortTable() { closeAll(); }
  PortTable(const PortTable&) = delete;
  PortTable& operator=(const PortTable&) = delete;

  // The forward of `port` (made if there is none), with a TCP listener too when `listen` is
  // given. `open_netns` gives the sandbox's network namespace. EDQUOT past kMaxForwards,
  // EINVAL for a listen address off the loopback, EEXIST for a second, different one, EACCES
  // for a privileged port without `privileged` (the caller is root).
  Result<api::PortInfo> forward(uint16_t port, const std::optional<std::string>& listen,
                                uid_t owner, gid_t group, bool privileged,
                                const std::function<Result<UniqueFd>()>& open_netns);
  std::vector<api::PortInfo> list() const;
  // ENOENT when the port is not forwarded.
  Result<void> close(uint16_t port);
  // Every forward ends, and the sandbox's directory goes. Idempotent; forward() fails after.
  void closeAll();

 private:
  Result<int> directory();  // under mutex_
  static api::PortInfo infoOf(const PortForward& forward);

  const PortsRoot* root_;
  std::string sandbox_id_;
  mutable std::mutex mutex_;
  UniqueFd dir_;  // once the first forward is made
  bool closed_ = false;
  std::map<uint16_t, std::unique_ptr<PortForward>> forwards_;
};

}  // namespace declaw::daemon
