// The local addresses a network service (the DNS stub, the egress proxy) listens on, one per
// sandbox gateway, and the TCP connections it accepted on each: adding and removing them,
// accepting (with a pause rather than a spin when the daemon runs out of fds), and closing a
// listener together with its connections when the sandbox is gone.
//
// Threading: everything here runs on the service's thread (ServiceThread); the service's public
// calls get there with runSync.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "netsvc/upstream_dns.h"

namespace declaw::netsvc {

// A connection a listener accepted: closed with its listener.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual void close() = 0;
};

// One local address served. A service that serves more there than TCP (the stub's UDP socket)
// derives from it and closes that in closeMore().
class Listener {
 public:
  Listener(boost::asio::io_context& io, SocketAddress local);
  virtual ~Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  const SocketAddress& local() const { return local_; }
  // False once closed: handlers still queued for it must do nothing.
  bool isOpen() const { return open_; }
  // Closes `connection` when the listener closes; forgets connections that have ended.
  void track(const std::shared_ptr<Connection>& connection);

 protected:
  virtual void closeMore() {}

 private:
  friend class ListenerSet;
  void close();

  SocketAddress local_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  bool open_ = true;
  bool starved_ = false;  // accept is paused for lack of fds or memory (logged once a pause)
  std::vector<std::weak_ptr<Connection>> connections_;
};

class ListenerSet {
 public:
  // Gets each accepted connection's fd (close-on-exec, non-blocking), on the service's thread.
  using OnConnection = std::function<void(const std::shared_ptr<Listener>&, UniqueFd)>;

  // `service` ("dns stub", "egress proxy") names the service in errors and log lines.
  ListenerSet(std::string service, OnConnection on_connection);
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  // Serves `listener->local()` with `acceptor_fd`, a TCP socket bound there and listening
  // (openBoundSocket): starts accepting. Fails if that address is already served.
  Result<void> add(std::shared_ptr<Listener> listener, UniqueFd acceptor_fd);
  // Closes the listener on `local` and every connection accepted there; nothing if none.
  void remove(const SocketAddress& local);
  // Closes every listener and its connections.
  void closeAll();

 private:
  void accept(const std::shared_ptr<Listener>& listener);

  std::string service_;
  OnConnection on_connection_;
  std::map<std::string, std::shared_ptr<Listener>> listeners_;  // by local().toString()
};

}  // namespace declaw::netsvc
