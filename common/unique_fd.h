// Owned file descriptors. Every fd the project opens lives in a UniqueFd (opened O_CLOEXEC), so
// nothing leaks into sandboxes and no logic code calls close() by hand.
#pragma once

#include <unistd.h>

#include <utility>

namespace declaw {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }

  void reset(int fd = -1) {
    int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

// A non-owning view of an fd, for parameters.
class BorrowedFd {
 public:
  // Implicit by design: a UniqueFd passes where a BorrowedFd is asked for.
  BorrowedFd(const UniqueFd& fd) : fd_(fd.get()) {}  // NOLINT(google-explicit-constructor)
  explicit BorrowedFd(int fd) : fd_(fd) {}
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace declaw
