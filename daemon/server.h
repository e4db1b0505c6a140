// The Unix-socket listener: accepts on the io_context, identifies the caller with SO_PEERCRED,
// and serves each connection on its own thread (bounded by max_connections). Handlers block on
// sandbox work (a command may run for minutes), so a thread per connection keeps them plain
// sequential code; see docs/architecture.md.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>

#include "api/router.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::daemon {

class Server {
 public:
  Server(boost::asio::io_context& io, api::Router& router);

  // Binds the socket (replacing a stale one), mode 0660, group `group` when it exists.
  Result<void> listen(const std::string& path, const std::string& group);
  // Serves on a socket that is already listening (socket activation): its path, mode and owner
  // are whoever made it's, and stopAccepting() leaves the path alone.
  Result<void> adopt(UniqueFd listening);
  void startAccepting();
  // Closes the listening socket and removes its path (when listen() made it).
  void stopAccepting();
  // Shuts down open connections and waits (bounded) for their threads to finish; false if
  // some are still running.
  bool drain();

 private:
  void acceptOne();
  void serve(int fd);

  boost::asio::io_context& io_;
  api::Router& router_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  std::mutex mutex_;
  std::condition_variable drained_;
  std::set<int> open_;  // connection fds being served
  bool stopping_ = false;
};

}  // namespace declaw::daemon
