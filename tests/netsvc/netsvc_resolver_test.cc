// declawd's resolver against fake upstreams on loopback: it moves on from an upstream that is
// silent, refuses or fails, ignores answers that do not match its query, caches within the TTL,
// shares one upstream query among callers, and stays within its bounds.
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "netpolicy/dns_message.h"
#include "netsvc/resolver.h"
#include "netsvc/sockets.h"

using namespace declaw::netsvc;
using declaw::netpolicy::DnsRcode;
using declaw::netpolicy::ipLiteral;
using namespace std::chrono_literals;

namespace {

constexpr uint16_t kA = 1;
const IpAddress kLoopback = ipLiteral("127.0.0.1");

// A UDP "upstream" on 127.0.0.1 answering every A query for *.test with 198.19.0.10, except
// gone.test (NXDOMAIN), in the way its Mode says.
class FakeUpstream {
 public:
  enum class Mode { kAnswer, kSilent, kServFail, kForgedFirst };

  explicit FakeUpstream(Mode mode, std::chrono::milliseconds delay = 0ms)
      : mode_(mode), delay_(delay) {
    auto fd = openBoundSocket({kLoopback, 0}, SOCK_DGRAM);
    REQUIRE(fd.ok());
    fd_ = std::move(*fd);
    port_ = localAddress(fd_.get())->port;
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
  }
  SocketAddress address() const { return {kLoopback, port_}; }
  int queries() const { return queries_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      uint8_t buf[2048];
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      ssize_t n =
          ::recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      ++queries_;
      auto query = declaw::netpolicy::parseDnsQuery(std::span<const uint8_t>(buf, size_t(n)));
      if (!query || mode_ == Mode::kSilent) continue;
      std::this_thread::sleep_for(delay_);
      auto send = [&](const std::vector<uint8_t>& m) {
        ::sendto(fd_.get(), m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      };
      if (mode_ == Mode::kServFail) {
        send(declaw::netpolicy::buildDnsError(*query, DnsRcode::kServFail));
        continue;
      }
      if (mode_ == Mode::kForgedFirst) {
        auto forged = *query;
        forged.id ^= 0xffff;
        std::vector<IpAddress> evil = {ipLiteral("10.6.6.6")};
        send(declaw::netpolicy::buildDnsAnswer(forged, evil, 60));
      }
      if (query->name == "gone.test") {
        send(declaw::netpolicy::buildDnsError(*query, DnsRcode::kNxDomain));
      } else {
        std::vector<IpAddress> good = {ipLiteral("198.19.0.10")};
        send(declaw::netpolicy::buildDnsAnswer(*query, good, 60));
      }
    }
  }

  Mode mode_;
  std::chrono::milliseconds delay_;
  declaw::UniqueFd fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

// A port on loopback where nothing listens: queries there get ICMP port unreachable.
SocketAddress closedPort() {
  auto fd = openBoundSocket({kLoopback, 0}, SOCK_DGRAM);
  REQUIRE(fd.ok());
  return {kLoopback, localAddress(fd->get())->port};  // closed again when fd goes
}

ResolverOptions options(std::vector<SocketAddress> upstreams) {
  ResolverOptions o;
  o.upstreams = std::move(upstreams);
  o.attempt_timeout = 300ms;
  o.lookup_timeout = 2s;
  return o;
}

// Runs one resolution to completion on a fresh loop turn.
Resolution resolveNow(boost::asio::io_context& io, Resolver& resolver, const std::string& name) {
  std::optional<Resolution> out;
  resolver.resolve(name, kA, [&](const Resolution& r) { out = r; });
  io.restart();
  while (!out && io.run_one_for(5s) > 0) {
  }
  REQUIRE(out);
  return *out;
}

}  // namespace

TEST_CASE("an answer from the upstream comes back with its addresses and TTL") {
  FakeUpstream upstream(FakeUpstream::Mode::kAnswer);
  boost::asio::io_context io;
  Resolver resolver(io, options({upstream.address()}));
  Resolution r = resolveNow(io, resolver, "allowed.test");
  CHECK(r.status == ResolveStatus::kOk);
  CHECK(r.addresses == std::vector{ipLiteral("198.19.0.10")});
  CHECK(r.ttl == 60);
}

TEST_CASE("a silent upstream is left after the attempt timeout for the next one") {
  FakeUpstream silent(FakeUpstream::Mode::kSilent);
  FakeUpstream good(FakeUpstream::Mode::kAnswer);
  boost::asio::io_context io;
  Resolver resolver(io, options({silent.address(), good.address()}));
  auto start = std::chrono::steady_clock::now();
  Resolution r = resolveNow(io, resolver, "allowed.test");
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.status == ResolveStatus::kOk);
  CHECK(silent.queries() == 1);
  CHECK(took >= 300ms);
  CHECK(took < 1500ms);
}

TEST_CASE("an upstream port where nothing listens, or one that fails, is left at once") {
  FakeUpstream failing(FakeUpstream::Mode::kServFail);
  FakeUpstream good(FakeUpstream::Mode::kAnswer);
  boost::asio::io_context io;
  Resolver resolver(io, options({closedPort(), failing.address(), good.address()}));
  auto start = std::chrono::steady_clock::now();
  Resolution r = resolveNow(io, resolver, "allowed.test");
  CHECK(r.status == ResolveStatus::kOk);
  CHECK(failing.queries() == 1);
  CHECK(std::chrono::steady_clock::now() - start < 300ms);
}

TEST_CASE("when every upstream fails the lookup fails, within the lookup timeout") {
  FakeUpstream silent(FakeUpstream::Mode::kSilent);
  FakeUpstream failing(FakeUpstream::Mode::kServFail);
  boost::asio::io_context io;
  ResolverOptions o = options({failing.address(), silent.address()});
  Resolver resolver(io, o);
  Resolution r = resolveNow(io, resolver, "allowed.test");
  CHECK(r.status == ResolveStatus::kFailed);
  CHECK_FALSE(r.error.empty());
  CHECK(resolver.pendingLookups() == 0);
}

TEST_CASE("an answer that does not match the query is ignored, and the real one taken") {
  FakeUpstream forging(FakeUpstream::Mode::kForgedFirst);
  boost::asio::io_context io;
  Resolver resolver(io, options({forging.address()}));
  Resolution r = resolveNow(io, resolver, "allowed.test");
  CHECK(r.status == ResolveStatus::kOk);
  CHECK(r.addresses == std::vector{ipLiteral("198.19.0.10")});
}

TEST_CASE("answers and NXDOMAIN are cached: the upstream is asked once") {
  FakeUpstream upstream(FakeUpstream::Mode::kAnswer);
  boost::asio::io_context io;
  Resolver resolver(io, options({upstream.address()}));
  CHECK(resolveNow(io, resolver, "allowed.test").status == ResolveStatus::kOk);
  CHECK(resolveNow(io, resolver, "allowed.test").addresses.size() == 1);
  CHECK(resolveNow(io, resolver, "gone.test").status == ResolveStatus::kNxDomain);
  CHECK(resolveNow(io, resolver, "gone.test").status == ResolveStatus::kNxDomain);
  CHECK(upstream.queries() == 2);
}

TEST_CASE("callers asking for the same name at once share one upstream query") {
  FakeUpstream upstream(FakeUpstream::Mode::kAnswer, 100ms);
  boost::asio::io_context io;
  Resolver resolver(io, options({upstream.address()}));
  int done = 0;
  for (int i = 0; i < 10; ++i) {
    resolver.resolve("allowed.test", kA, [&](const Resolution& r) {
      CHECK(r.status == ResolveStatus::kOk);
      ++done;
    });
  }
  CHECK(resolver.pendingLookups() == 1);
  while (done < 10 && io.run_one_for(5s) > 0) {
  }
  CHECK(done == 10);
  CHECK(upstream.queries() == 1);
}

TEST_CASE("past max_lookups a resolution fails at once instead of queueing") {
  FakeUpstream silent(FakeUpstream::Mode::kSilent);
  boost::asio::io_context io;
  ResolverOptions o = options({silent.address()});
  o.max_lookups = 2;
  Resolver resolver(io, o);
  std::vector<ResolveStatus> results;
  for (const char* name : {"a.test", "b.test", "c.test"}) {
    resolver.resolve(name, kA, [&](const Resolution& r) { results.push_back(r.status); });
  }
  io.run_one_for(1s);  // the third one's failure, posted
  REQUIRE(results.size() == 1);
  CHECK(results[0] == ResolveStatus::kFailed);
  resolver.shutdown();
  CHECK(results.size() == 3);
}
