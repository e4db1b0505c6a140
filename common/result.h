// Result<T>: a value or an Error carrying errno and context, in the style of AOSP libbase.
//
//   UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd) return ErrnoError() << "open " << path;
//
// The caller that handles an error logs it, once. No exceptions in common/, runtime/, netpolicy/.
#pragma once

#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace declaw {

struct Error {
  int code = 0;  // an errno value, or 0 when the failure has no errno
  std::string message;

  // "open /x: No such file or directory"
  std::string describe() const {
    if (code == 0) return message;
    return message + ": " + std::strerror(code);
  }
};

// Builds an Error with a streamed message; converts to any Result<T>.
class ErrorBuilder {
 public:
  explicit ErrorBuilder(int code) : code_(code) {}
  template <typename V>
  ErrorBuilder& operator<<(const V& value) & {
    stream_ << value;
    return *this;
  }
  template <typename V>
  ErrorBuilder&& operator<<(const V& value) && {
    stream_ << value;
    return std::move(*this);
  }
  Error error() const { return Error{code_, stream_.str()}; }
  operator Error() const { return error(); }  // NOLINT(google-explicit-constructor): by design

 private:
  int code_;
  std::ostringstream stream_;
};

// Captures errno at the point of failure.
inline ErrorBuilder ErrnoError() { return ErrorBuilder(errno); }
inline ErrorBuilder ErrnoError(int code) { return ErrorBuilder(code); }
// A failure without an errno (bad input, protocol violation).
inline ErrorBuilder PlainError() { return ErrorBuilder(0); }

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or an error, so that `return value;` and `return ErrnoError() << ...;`
  // both read plainly.
  // NOLINTBEGIN(google-explicit-constructor)
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}
  Result(const ErrorBuilder& error) : v_(error.error()) {}
  // NOLINTEND(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  // NOLINTBEGIN(google-explicit-constructor): as Result<T>'s
  Result(Ok) {}
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  Result(const ErrorBuilder& error) : error_(error.error()), ok_(false) {}
  // NOLINTEND(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace declaw
