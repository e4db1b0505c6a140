#include "daemon/server.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/io.h"
#include "common/log.h"
#include "daemon/http_session.h"

namespace declaw::daemon {

namespace {
constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr int kListenBacklog = 128;

void refuse(int fd, const std::string& message) {
  std::string body =
      nlohmann::json{{"error", {{"code", "rate_limited"}, {"message", message}}}}.dump();
  std::string response =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}
}  // namespace

Server::Server(boost::asio::io_context& io, api::Router& router)
    : io_(io), router_(router), acceptor_(io) {}

Result<void> Server::listen(const std::string& path, const std::string& group) {
  namespace local = boost::asio::local;
  path_ = path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return PlainError() << path << " exists and is not a socket";
    ::unlink(path.c_str());
  }
  boost::system::error_code ec;
  acceptor_.open(local::stream_protocol(), ec);
  // Asio opens sockets without O_CLOEXEC; no daemon fd may reach a sandbox (DESIGN.md). The
  // window until this fcntl is before any sandbox exists.
  if (!ec) ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) acceptor_.bind(local::stream_protocol::endpoint(path), ec);
  if (!ec) acceptor_.listen(kListenBacklog, ec);
  if (ec) return ErrnoError(ec.value()) << "listen on " << path;
  gid_t gid = 0;
  if (struct group* g = ::getgrnam(group.c_str())) {
    gid = g->gr_gid;
  } else {
    logger("daemon")->warn("group '{}' does not exist: socket {} is root-only", group, path);
  }
  if (::chown(path.c_str(), 0, gid) < 0) return ErrnoError() << "chown " << path;
  if (::chmod(path.c_str(), 0660) < 0) return ErrnoError() << "chmod " << path;
  return {};
}

Result<void> Server::adopt(UniqueFd listening) {
  path_.clear();
  boost::system::error_code ec;
  const int fd = listening.get();
  acceptor_.assign(boost::asio::local::stream_protocol(), fd, ec);
  if (ec) return ErrnoError(ec.value()) << "serving on fd " << fd;
  (void)listening.release();  // the acceptor owns it now
  return {};
}

void Server::startAccepting() { acceptOne(); }

void Server::acceptOne() {
  // Wait with asio, accept with accept4(SOCK_CLOEXEC): asio's own accept cannot set O_CLOEXEC
  // atomically, and a sandbox launched in between would inherit the connection.
  acceptor_.async_wait(boost::asio::socket_base::wait_read, [this](boost::system::error_code ec) {
    if (ec) {
      if (ec != boost::asio::error::operation_aborted) {
        logger("daemon")->warn("accept: {}", ec.message());
        acceptOne();
      }
      return;
    }
    int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      serve(fd);
    } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      logger("daemon")->warn("accept: {}", std::strerror(errno));
    }
    acceptOne();
  });
}

void Server::serve(int fd) {
  UniqueFd conn(fd);
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (open_.size() >= router_.limits().max_connections) {
      refuse(fd, "too many connections");
      return;
    }
    open_.insert(fd);
  }
  api::Caller caller{cred.uid, cred.gid, cred.pid};
  try {
    std::thread([this, conn = std::move(conn), caller]() mutable {
      serveConnection(conn.get(), caller, router_);
      std::lock_guard lock(mutex_);
      open_.erase(conn.get());  // before the close, so drain() never shuts down a reused fd
      conn.reset();
      drained_.notify_all();
    }).detach();
  } catch (const std::system_error& e) {  // out of threads (a fork bomb nearby): refuse, live on
    logger("daemon")->warn("cannot start a connection thread: {}", e.what());
    refuse(fd, "the daemon cannot take more connections now");
    std::lock_guard lock(mutex_);
    open_.erase(fd);
  }
}

void Server::stopAccepting() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (!path_.empty()) ::unlink(path_.c_str());
}

bool Server::drain() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  // Unblocks reads and writes of every session; their threads then finish.
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  return drained_.wait_for(lock, kDrainTimeout, [&] { return open_.empty(); });
}

}  // namespace declaw::daemon
