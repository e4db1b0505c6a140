#include "netsvc/resolver.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "common/io.h"
#include "netsvc/sockets.h"

namespace declaw::netsvc {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

namespace {

// A UDP response larger than what we advertise is still read whole, then refused by the parser
// if it does not fit the rules; 4 KiB leaves room for upstreams that ignore the EDNS size.
constexpr size_t kUdpReceiveBuffer = 4096;
constexpr size_t kMaxResolvConfBytes = 64 * 1024;

uint16_t randomId() {
  uint16_t id = 0;
  if (::getrandom(&id, sizeof id, 0) != sizeof id) {
    id = static_cast<uint16_t>(Clock::now().time_since_epoch().count());
  }
  return id;
}

}  // namespace

struct Resolver::Lookup {
  Lookup(asio::io_context& io, std::string n, uint16_t t)
      : name(std::move(n)), qtype(t), udp_socket(io), tcp_socket(io), timer(io) {}

  std::string name;
  uint16_t qtype;
  std::string key;
  std::vector<Callback> waiters;
  Clock::time_point deadline;
  size_t upstream = 0;
  unsigned attempt = 0;  // handlers of an earlier attempt see a different number and stop
  bool finished = false;
  uint16_t id = 0;
  std::vector<uint8_t> query;
  udp::socket udp_socket;
  tcp::socket tcp_socket;
  asio::steady_timer timer;
  std::array<uint8_t, kUdpReceiveBuffer> udp_buffer{};
  std::array<uint8_t, 2> tcp_length{};
  std::vector<uint8_t> tcp_buffer;
  std::string last_error;

  void closeSockets() {
    boost::system::error_code ignored;
    udp_socket.close(ignored);
    tcp_socket.close(ignored);
    timer.cancel();
  }
};

Result<std::vector<SocketAddress>> upstreamsFromResolvConf(const std::string& path) {
  auto text = readFile(path, kMaxResolvConfBytes);
  if (!text) return text.error();
  auto upstreams = parseResolvConf(*text);
  if (upstreams.empty()) return PlainError() << path << " names no usable nameserver";
  return upstreams;
}

Resolver::Resolver(asio::io_context& io, ResolverOptions options)
    : io_(io), options_(std::move(options)), cache_(options_.cache_entries) {}

Resolver::~Resolver() {
  for (auto& [key, lookup] : lookups_) {
    lookup->finished = true;
    lookup->closeSockets();
  }
}

void Resolver::post(Callback done, Resolution resolution) {
  asio::post(io_, [done = std::move(done), r = std::move(resolution)] { done(r); });
}

void Resolver::resolve(const std::string& name, uint16_t qtype, Callback done) {
  if (shut_down_) return post(std::move(done), {ResolveStatus::kFailed, {}, 0, "shutting down"});
  auto now = Clock::now();
  if (auto cached = cache_.find(name, qtype, now)) {
    Resolution r;
    r.status = cached->rcode == netpolicy::DnsRcode::kNxDomain ? ResolveStatus::kNxDomain
                                                               : ResolveStatus::kOk;
    r.addresses = std::move(cached->addresses);
    r.ttl = cached->ttl;
    return post(std::move(done), std::move(r));
  }
  std::string key = std::to_string(qtype) + "/" + name;
  if (auto it = lookups_.find(key); it != lookups_.end()) {
    if (it->second->waiters.size() >= options_.max_waiters_per_lookup) {
      return post(std::move(done), {ResolveStatus::kFailed, {}, 0, "too many waiting callers"});
    }
    it->second->waiters.push_back(std::move(done));
    return;
  }
  if (lookups_.size() >= options_.max_lookups) {
    return post(std::move(done), {ResolveStatus::kFailed, {}, 0, "too many lookups in flight"});
  }
  if (options_.upstreams.empty()) {
    return post(std::move(done), {ResolveStatus::kFailed, {}, 0, "no upstream resolver"});
  }
  auto lookup = std::make_shared<Lookup>(io_, name, qtype);
  lookup->key = key;
  lookup->deadline = now + options_.lookup_timeout;
  lookup->waiters.push_back(std::move(done));
  lookups_.emplace(key, lookup);
  startAttempt(lookup);
}

void Resolver::startAttempt(const std::shared_ptr<Lookup>& lookup) {
  // An upstream whose socket cannot be made or written is skipped here; one that does not
  // answer, or answers badly, is skipped by the callbacks (nextUpstream).
  for (;;) {
    lookup->closeSockets();
    unsigned attempt = ++lookup->attempt;
    if (lookup->upstream >= options_.upstreams.size() || Clock::now() >= lookup->deadline) {
      std::string why = lookup->last_error.empty() ? "no upstream answered" : lookup->last_error;
      return finish(lookup, {ResolveStatus::kFailed, {}, 0, why});
    }
    const SocketAddress& upstream = options_.upstreams[lookup->upstream];
    lookup->id = randomId();
    auto query = buildUpstreamQuery(lookup->id, lookup->name, lookup->qtype);
    if (!query) return finish(lookup, {ResolveStatus::kFailed, {}, 0, query.error().message});
    lookup->query = std::move(*query);

    auto fd = openSocket(upstream.address, SOCK_DGRAM);
    if (!fd) {
      lookup->last_error = fd.error().describe();
      ++lookup->upstream;
      continue;
    }
    boost::system::error_code ec;
    auto protocol = upstream.address.isV4() ? udp::v4() : udp::v6();
    lookup->udp_socket.assign(protocol, fd->release(), ec);
    if (!ec) lookup->udp_socket.connect({toAsio(upstream.address), upstream.port}, ec);
    if (!ec) lookup->udp_socket.non_blocking(true, ec);
    if (!ec) lookup->udp_socket.send(asio::buffer(lookup->query), 0, ec);
    if (ec) {
      lookup->last_error = upstream.toString() + ": " + ec.message();
      ++lookup->upstream;
      continue;
    }
    armTimer(lookup, attempt);
    receiveUdp(lookup, attempt);
    return;
  }
}

void Resolver::armTimer(const std::shared_ptr<Lookup>& lookup, unsigned attempt) {
  auto until = std::min(Clock::now() + options_.attempt_timeout, lookup->deadline);
  lookup->timer.expires_at(until);
  lookup->timer.async_wait([this, lookup, attempt](boost::system::error_code ec) {
    if (ec || lookup->finished || lookup->attempt != attempt) return;
    nextUpstream(lookup, options_.upstreams[lookup->upstream].toString() + ": timed out");
  });
}

void Resolver::receiveUdp(const std::shared_ptr<Lookup>& lookup, unsigned attempt) {
  lookup->udp_socket.async_receive(
      asio::buffer(lookup->udp_buffer),
      [this, lookup, attempt](boost::system::error_code ec, size_t n) {
        if (lookup->finished || lookup->attempt != attempt) return;
        if (ec == asio::error::operation_aborted) return;
        if (ec) {  // ECONNREFUSED: nothing listens there
          return nextUpstream(
              lookup, options_.upstreams[lookup->upstream].toString() + ": " + ec.message());
        }
        onResponse(lookup, std::span<const uint8_t>(lookup->udp_buffer.data(), n), false);
      });
}

void Resolver::onResponse(const std::shared_ptr<Lookup>& lookup, std::span<const uint8_t> message,
                          bool over_tcp) {
  unsigned attempt = lookup->attempt;
  auto answer = parseUpstreamResponse(message, lookup->id, lookup->name, lookup->qtype);
  if (!answer) {
    // Not the answer to our question: a stray or forged datagram. Keep waiting for the real one
    // (the attempt's timer still runs). Over TCP the stream is spent: try the next upstream.
    lookup->last_error = "bad response: " + answer.error().message;
    if (over_tcp) return nextUpstream(lookup, lookup->last_error);
    return receiveUdp(lookup, attempt);
  }
  if (answer->truncated && !over_tcp) return startTcp(lookup);
  switch (answer->rcode) {
    case netpolicy::DnsRcode::kNoError: {
      uint32_t ttl = std::min(answer->ttl, options_.max_cache_ttl);
      if (answer->addresses.empty()) ttl = std::min(options_.negative_ttl, options_.max_cache_ttl);
      return finish(lookup, {ResolveStatus::kOk, std::move(answer->addresses), ttl, {}});
    }
    case netpolicy::DnsRcode::kNxDomain:
      return finish(lookup, {ResolveStatus::kNxDomain, {}, options_.negative_ttl, {}});
    default:
      return nextUpstream(lookup, options_.upstreams[lookup->upstream].toString() +
                                      " answered rcode " +
                                      std::to_string(static_cast<int>(answer->rcode)));
  }
}

void Resolver::startTcp(const std::shared_ptr<Lookup>& lookup) {
  lookup->closeSockets();
  unsigned attempt = ++lookup->attempt;
  const SocketAddress& upstream = options_.upstreams[lookup->upstream];
  auto fd = openSocket(upstream.address, SOCK_STREAM);
  if (!fd) return nextUpstream(lookup, fd.error().describe());
  boost::system::error_code ec;
  lookup->tcp_socket.assign(upstream.address.isV4() ? tcp::v4() : tcp::v6(), fd->release(), ec);
  if (ec) return nextUpstream(lookup, ec.message());
  armTimer(lookup, attempt);
  auto fail = [this, lookup, attempt](boost::system::error_code e) {
    if (lookup->finished || lookup->attempt != attempt || e == asio::error::operation_aborted) {
      return false;
    }
    if (e) {
      nextUpstream(lookup,
                   options_.upstreams[lookup->upstream].toString() + " (tcp): " + e.message());
      return false;
    }
    return true;
  };
  lookup->tcp_socket.async_connect(
      {toAsio(upstream.address), upstream.port}, [this, lookup, fail](boost::system::error_code e) {
        if (!fail(e)) return;
        auto size = static_cast<uint16_t>(lookup->query.size());
        lookup->query.insert(lookup->query.begin(),
                             {static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)});
        asio::async_write(
            lookup->tcp_socket, asio::buffer(lookup->query),
            [this, lookup, fail](boost::system::error_code e, size_t) {
              if (!fail(e)) return;
              asio::async_read(
                  lookup->tcp_socket, asio::buffer(lookup->tcp_length),
                  [this, lookup, fail](boost::system::error_code e, size_t) {
                    if (!fail(e)) return;
                    size_t length = (size_t{lookup->tcp_length[0]} << 8) | lookup->tcp_length[1];
                    lookup->tcp_buffer.resize(length);
                    asio::async_read(lookup->tcp_socket, asio::buffer(lookup->tcp_buffer),
                                     [this, lookup, fail](boost::system::error_code e, size_t) {
                                       if (!fail(e)) return;
                                       onResponse(lookup, lookup->tcp_buffer, true);
                                     });
                  });
            });
      });
}

void Resolver::nextUpstream(const std::shared_ptr<Lookup>& lookup, const std::string& why) {
  lookup->last_error = why;
  ++lookup->upstream;
  startAttempt(lookup);
}

void Resolver::finish(const std::shared_ptr<Lookup>& lookup, const Resolution& resolution) {
  if (lookup->finished) return;
  lookup->finished = true;
  lookup->closeSockets();
  lookups_.erase(lookup->key);
  if (resolution.status != ResolveStatus::kFailed) {
    CachedAnswer cached;
    cached.rcode = resolution.status == ResolveStatus::kNxDomain ? netpolicy::DnsRcode::kNxDomain
                                                                 : netpolicy::DnsRcode::kNoError;
    cached.addresses = resolution.addresses;
    cached.ttl = resolution.ttl;
    cache_.store(lookup->name, lookup->qtype, std::move(cached), Clock::now());
  }
  for (auto& waiter : lookup->waiters) post(std::move(waiter), resolution);
  lookup->waiters.clear();
}

void Resolver::shutdown() {
  shut_down_ = true;
  std::vector<std::shared_ptr<Lookup>> pending;
  for (auto& [key, lookup] : lookups_) pending.push_back(lookup);
  for (auto& lookup : pending) {
    lookup->finished = true;
    lookup->closeSockets();
    for (auto& waiter : lookup->waiters) waiter({ResolveStatus::kFailed, {}, 0, "shutting down"});
    lookup->waiters.clear();
  }
  lookups_.clear();
  cache_.clear();
}

}  // namespace declaw::netsvc
