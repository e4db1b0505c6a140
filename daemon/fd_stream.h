// A blocking stream over a connected socket fd with a deadline, for Beast's synchronous
// http::read/write (SyncReadStream/SyncWriteStream). Asio's own sync socket operations retry
// forever on EAGAIN, so they cannot time out; this one poll()s with the time left and fails
// with timed_out when the deadline passes.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>

namespace declaw::daemon {

class FdStream {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FdStream(int fd) : fd_(fd) {}

  void setDeadline(Clock::time_point deadline) { deadline_ = deadline; }
  int fd() const { return fd_; }

  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    auto buf = *boost::asio::buffer_sequence_begin(buffers);
    for (;;) {
      if (!wait(POLLIN, ec)) return 0;
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (errno == EAGAIN || errno == EINTR) continue;
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
  }

  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Gathers the whole buffer sequence (a serialized header is many small buffers) into one
  // sendmsg, rather than a system call per buffer.
  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < kMaxIov; ++it) {
      boost::asio::const_buffer buf = *it;
      if (buf.size() == 0) continue;
      iov[count++] = iovec{const_cast<void*>(buf.data()), buf.size()};
    }
    if (count == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    for (;;) {
      if (!wait(POLLOUT, ec)) return 0;
      ssize_t n = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EAGAIN || errno == EINTR) continue;
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
  }

  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  bool wait(short events, boost::system::error_code& ec) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) {
        ec = boost::asio::error::timed_out;
        return false;
      }
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
        return false;
      }
    }
  }

  static constexpr size_t kMaxIov = 64;
  int fd_;
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace declaw::daemon
