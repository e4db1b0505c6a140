#include "netsvc/listeners.h"

#include <cerrno>

#include "common/log.h"
#include "netsvc/sockets.h"

namespace declaw::netsvc {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// After accept fails for lack of fds or memory, wait before accepting again rather than spin.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

// accept(2) errors that pass: the connection waits in the backlog until there is room again.
bool outOfResources(int code) {
  return code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM;
}

}  // namespace

Listener::Listener(asio::io_context& io, SocketAddress local)
    : local_(local), acceptor_(io), backoff_(io) {}

void Listener::track(const std::shared_ptr<Connection>& connection) {
  std::erase_if(connections_, [](const auto& weak) { return weak.expired(); });
  connections_.push_back(connection);
}

void Listener::close() {
  open_ = false;
  closeMore();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
  for (auto& weak : connections_) {
    if (auto connection = weak.lock()) connection->close();
  }
  connections_.clear();
}

ListenerSet::ListenerSet(std::string service, OnConnection on_connection)
    : service_(std::move(service)), on_connection_(std::move(on_connection)) {}

Result<void> ListenerSet::add(std::shared_ptr<Listener> listener, UniqueFd acceptor_fd) {
  std::string key = listener->local().toString();
  if (listeners_.count(key)) return PlainError() << service_ << ": already serving " << key;
  boost::system::error_code ec;
  listener->acceptor_.assign(listener->local().address.isV4() ? tcp::v4() : tcp::v6(),
                             acceptor_fd.get(), ec);
  if (ec) return PlainError() << service_ << " " << key << ": " << ec.message();
  acceptor_fd.release();  // the acceptor's now (a failed assign leaves it ours, to close)
  listeners_.emplace(key, listener);
  accept(listener);
  return Ok{};
}

void ListenerSet::remove(const SocketAddress& local) {
  auto it = listeners_.find(local.toString());
  if (it == listeners_.end()) return;
  it->second->close();
  listeners_.erase(it);
}

void ListenerSet::closeAll() {
  for (auto& [key, listener] : listeners_) listener->close();
  listeners_.clear();
}

void ListenerSet::accept(const std::shared_ptr<Listener>& listener) {
  listener->acceptor_.async_wait(tcp::acceptor::wait_read, [this, listener](
                                                               boost::system::error_code ec) {
    if (!listener->open_ || ec == asio::error::operation_aborted) return;
    auto fd = acceptConnection(listener->acceptor_.native_handle());
    if (fd) {
      if (listener->starved_) {
        listener->starved_ = false;
        logger("netsvc")->info("{} {}: accepting again", service_, listener->local().toString());
      }
      on_connection_(listener, std::move(*fd));
    } else if (outOfResources(fd.error().code)) {
      if (!listener->starved_) {  // once a pause, not every kAcceptBackoff
        listener->starved_ = true;
        logger("netsvc")->warn("{} {}: {}; connections wait in the backlog", service_,
                               listener->local().toString(), fd.error().describe());
      }
      listener->backoff_.expires_after(kAcceptBackoff);
      listener->backoff_.async_wait([this, listener](boost::system::error_code e) {
        if (!e && listener->open_) accept(listener);
      });
      return;
    }
    accept(listener);
  });
}

}  // namespace declaw::netsvc
