// The listeners the DNS stub and the egress proxy share (netsvc/listeners.h), on loopback: each
// accepted connection reaches the service, an address is served once, removing a listener closes
// what it accepted, and running out of fds pauses accepting instead of losing the listener.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <vector>

#include "common/log.h"
#include "netsvc/listeners.h"
#include "netsvc/service_thread.h"
#include "netsvc/sockets.h"

using namespace declaw;
using namespace declaw::netsvc;
using namespace std::chrono_literals;

namespace {

constexpr auto kPatience = 10s;  // for what takes milliseconds

class RecordedConnection : public Connection {
 public:
  explicit RecordedConnection(UniqueFd fd) : fd_(std::move(fd)) {
    if (auto address = peerAddress(fd_.get())) peer = *address;
  }
  void close() override {
    closed = true;
    fd_.reset();
  }
  SocketAddress peer;
  bool closed = false;  // read after the service thread is done with it (runSync)

 private:
  UniqueFd fd_;
};

// A service on loopback: a ListenerSet on its own thread that keeps every connection it accepts.
class LoopbackService {
 public:
  LoopbackService() { thread_.start(); }
  ~LoopbackService() {
    thread_.runSync([&] { set_.closeAll(); });
    thread_.stop([] {});
  }

  // Listens on 127.0.0.1 on a port the kernel picks; returns the address.
  Result<SocketAddress> listen() {
    auto fd = openBoundSocket({netpolicy::ipLiteral("127.0.0.1"), 0}, SOCK_STREAM);
    if (!fd) return fd.error();
    auto local = localAddress(fd->get());
    if (!local) return local.error();
    if (auto added = addOn(*local, std::move(*fd)); !added) return added.error();
    return *local;
  }

  Result<void> addOn(const SocketAddress& local, UniqueFd fd) {
    return thread_.runSync([&]() -> Result<void> {
      return set_.add(std::make_shared<Listener>(thread_.io(), local), std::move(fd));
    });
  }

  // Runs one timer to its end on the service thread (as a paused listener's backoff does).
  void runTimer() {
    std::promise<void> fired;
    boost::asio::steady_timer timer(thread_.io());
    thread_.runSync([&] {
      timer.expires_after(1ms);
      timer.async_wait([&](boost::system::error_code) { fired.set_value(); });
    });
    fired.get_future().wait();
  }

  void remove(const SocketAddress& local) {
    thread_.runSync([&] { set_.remove(local); });
  }

  // Waits until `count` connections have been accepted.
  bool waitAccepted(size_t count, std::chrono::milliseconds wait = kPatience) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, wait, [&] { return accepted_.size() >= count; });
  }

  std::vector<std::shared_ptr<RecordedConnection>> accepted() {
    std::lock_guard lock(mutex_);
    return accepted_;
  }

  bool closed(size_t index) {
    return thread_.runSync([&] { return accepted()[index]->closed; });
  }

 private:
  void onConnection(const std::shared_ptr<Listener>& listener, UniqueFd fd) {
    auto connection = std::make_shared<RecordedConnection>(std::move(fd));
    listener->track(connection);
    std::lock_guard lock(mutex_);
    accepted_.push_back(connection);
    changed_.notify_all();
  }

  ServiceThread thread_;
  ListenerSet set_{"test service", [this](const std::shared_ptr<Listener>& listener, UniqueFd fd) {
                     onConnection(listener, std::move(fd));
                   }};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<RecordedConnection>> accepted_;
};

// A blocking TCP connect to `to`; -1 (errno set) when refused.
UniqueFd connectTo(const SocketAddress& to) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(to.port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) return UniqueFd();
  return fd;
}

// Whether the peer closed `fd` (a read returns EOF or a reset) within the patience.
bool peerClosed(int fd) {
  timeval timeout{static_cast<time_t>(kPatience.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char byte;
  ssize_t n = ::read(fd, &byte, 1);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// The lowest fd number free now: the one the next accept would get.
int lowestFreeFd() {
  int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  ::close(fd);
  return fd;
}

}  // namespace

TEST_CASE("each connection to a listener reaches the service with the client's address") {
  LoopbackService service;
  auto local = service.listen();
  REQUIRE(local);
  UniqueFd client = connectTo(*local);
  REQUIRE(client);
  REQUIRE(service.waitAccepted(1));
  UniqueFd second = connectTo(*local);
  REQUIRE(second);
  REQUIRE(service.waitAccepted(2));
  CHECK(service.accepted()[0]->peer == *localAddress(client.get()));
  CHECK(service.accepted()[1]->peer == *localAddress(second.get()));
  CHECK_FALSE(service.closed(0));
}

TEST_CASE("an address already served is refused, with the service named") {
  LoopbackService service;
  auto local = service.listen();
  REQUIRE(local);
  auto again = openSocket(local->address, SOCK_STREAM);
  REQUIRE(again);
  auto added = service.addOn(*local, std::move(*again));
  REQUIRE_FALSE(added);
  CHECK(added.error().message == "test service: already serving " + local->toString());
  // The first listener still serves.
  UniqueFd client = connectTo(*local);
  REQUIRE(client);
  CHECK(service.waitAccepted(1));
}

TEST_CASE("removing a listener closes every connection it accepted, and stops accepting") {
  LoopbackService service;
  auto local = service.listen();
  REQUIRE(local);
  UniqueFd first = connectTo(*local);
  UniqueFd second = connectTo(*local);
  REQUIRE(service.waitAccepted(2));

  service.remove(*local);
  CHECK(service.closed(0));
  CHECK(service.closed(1));
  CHECK(peerClosed(first.get()));
  CHECK(peerClosed(second.get()));
  CHECK_FALSE(connectTo(*local));
  CHECK(errno == ECONNREFUSED);
  service.remove(*local);  // twice is nothing
}

TEST_CASE("out of fds, a listener pauses accepting and takes the waiting connection later") {
  LoopbackService service;
  auto local = service.listen();
  REQUIRE(local);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client);

  // UBSan's check of an object's dynamic type opens a pipe the first time it meets a type, and
  // without fds reports valid memory as invalid. So meet the types of a paused accept (an error,
  // a timer, the logger's handle) with fds to spare, and keep quiet while out of fds.
  service.runTimer();
  auto failed = acceptConnection(-1);
  REQUIRE_FALSE(failed);
  CHECK_FALSE(failed.error().describe().empty());
  const auto level = logger("netsvc")->level();  // the logger's handle, made and dropped
  logger("netsvc")->set_level(spdlog::level::off);
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit none = saved;
  none.rlim_cur = static_cast<rlim_t>(lowestFreeFd());  // no new fd fits under it
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &none) == 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(local->port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // The kernel completes the handshake into the backlog; accept4 fails with EMFILE.
  const bool connected =
      ::connect(client.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
  const bool accepted_without_fds = service.waitAccepted(1, 300ms);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  logger("netsvc")->set_level(level);

  REQUIRE(connected);
  CHECK_FALSE(accepted_without_fds);
  CHECK(service.waitAccepted(1));  // after the pause, with fds again
}
