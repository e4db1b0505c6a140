// One io_context run by one thread: the DNS stub and the egress proxy each own one, so their
// handlers never run concurrently and need no locks or strands, and neither can stall the
// other or the daemon's API thread. Calls from other threads go through post() or runSync().
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <optional>
#include <thread>
#include <utility>

namespace declaw::netsvc {

class ServiceThread {
 public:
  ServiceThread() = default;
  ServiceThread(const ServiceThread&) = delete;
  ServiceThread& operator=(const ServiceThread&) = delete;
  ~ServiceThread() {
    io_.stop();
    join();
  }

  boost::asio::io_context& io() { return io_; }

  void start() {
    if (thread_.joinable()) return;
    guard_.emplace(io_.get_executor());
    std::promise<void> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, &started] {
      id_ = std::this_thread::get_id();
      started.set_value();
      io_.run();
    });
    ready.wait();
  }

  // Runs `fn` on the thread and returns its result; inline when called on the thread itself or
  // when the thread is not running.
  template <typename Fn>
  auto runSync(Fn fn) -> decltype(fn()) {
    if (!thread_.joinable() || std::this_thread::get_id() == id_) return fn();
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

  // Runs `last` on the thread, then stops the loop and joins. Handlers still queued are
  // destroyed with the io_context, not run.
  template <typename Fn>
  void stop(Fn last) {
    if (!thread_.joinable()) return;
    boost::asio::post(io_, [this, last = std::move(last)]() mutable {
      last();
      io_.stop();
    });
    join();
  }

  bool onThread() const { return std::this_thread::get_id() == id_; }

 private:
  void join() {
    if (thread_.joinable()) thread_.join();
    guard_.reset();
  }

  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::atomic<std::thread::id> id_{};
};

}  // namespace declaw::netsvc
