#include "netsvc/egress_proxy.h"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "common/log.h"
#include "netpolicy/dns_message.h"
#include "netsvc/listeners.h"
#include "netsvc/proxy_policy.h"
#include "netsvc/service_thread.h"
#include "netsvc/sockets.h"

namespace declaw::netsvc {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using netpolicy::IpAddress;

namespace {

// After a refusal, what the client still sends is read and dropped (up to this much) before the
// close, so the close is a FIN rather than a reset that could destroy the 403 or the alert in
// flight.
constexpr size_t kMaxDrainBytes = 64 * 1024;

}  // namespace

struct ProxyGauges {
  std::atomic<uint32_t> active{0};
};

class EgressProxy::Impl {
 public:
  Impl(EgressProxyOptions options, SandboxLookup lookup)
      : options_(std::move(options)),
        lookup_(std::move(lookup)),
        resolver_(std::make_unique<Resolver>(thread_.io(), options_.resolver)) {}
  ~Impl() {
    stop();
    listeners_.closeAll();  // those added while the thread never ran
    resolver_.reset();
  }

  void start() { thread_.start(); }
  void stop() {
    thread_.stop([this] {
      listeners_.closeAll();
      resolver_->shutdown();
    });
  }
  Result<void> addListener(const SocketAddress& local);
  void removeListener(const SocketAddress& local);
  uint32_t active() const { return gauges_->active; }

  class Session;
  Resolver& resolver() { return *resolver_; }
  const EgressProxyOptions& options() const { return options_; }

 private:
  void onConnection(const std::shared_ptr<Listener>& listener, UniqueFd fd);

  std::shared_ptr<ProxyGauges> gauges_ = std::make_shared<ProxyGauges>();
  ServiceThread thread_;
  EgressProxyOptions options_;
  SandboxLookup lookup_;
  std::unique_ptr<Resolver> resolver_;
  ListenerSet listeners_{"egress proxy",
                         [this](const std::shared_ptr<Listener>& listener, UniqueFd fd) {
                           onConnection(listener, std::move(fd));
                         }};
};

// One proxied connection, through its phases: first bytes, decision, resolution, connect,
// replay, copy. One timer serves every phase's deadline.
class EgressProxy::Impl::Session : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* proxy, tcp::socket client, std::shared_ptr<const SandboxContext> sandbox,
          std::shared_ptr<ProxyGauges> gauges, SocketAddress original)
      : proxy_(proxy),
        options_(proxy->options()),
        client_(std::move(client)),
        upstream_(client_.get_executor()),
        timer_(client_.get_executor()),
        sandbox_(std::move(sandbox)),
        gauges_(std::move(gauges)),
        original_(original) {}

  ~Session() {
    --sandbox_->stats->proxy_active;
    --gauges_->active;
  }

  void start() {
    first_.resize(sniffLimit(ProxyProtocol::kTls));
    phase_ = Phase::kFirstBytes;
    armDeadline(options_.first_bytes_timeout);
    readFirstBytes();
  }

  void close() override {
    phase_ = Phase::kClosed;
    boost::system::error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
    timer_.cancel();
  }

 private:
  enum class Phase { kFirstBytes, kResolving, kConnecting, kRefusing, kCopying, kClosed };

  struct Direction {
    tcp::socket* from;
    tcp::socket* to;
    std::vector<uint8_t> buffer;
    bool ended = false;
  };

  std::string where() const {
    return (host_.empty() ? original_.address.toString() : host_) + ":" +
           std::to_string(original_.port);
  }

  void armDeadline(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([weak = weak_from_this(), phase = phase_,
                       attempt = attempt_](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->phase_ != phase || self->attempt_ != attempt) return;
      self->onDeadline();
    });
  }

  void onDeadline() {
    switch (phase_) {
      case Phase::kFirstBytes:
        ++sandbox_->stats->proxy_failed;
        logRefusal(*sandbox_, "proxy: closed a connection to " + where() +
                                  ": no host name within " +
                                  std::to_string(options_.first_bytes_timeout.count()) + " ms");
        return close();
      case Phase::kConnecting:
        upstream_.close(ignored_);  // the pending connect completes with operation_aborted
        return connectNext();
      case Phase::kCopying:
        if (Clock::now() - last_activity_ >= options_.idle_timeout) return close();
        timer_.expires_at(last_activity_ + options_.idle_timeout);
        return armIdleWait();
      default:
        return close();
    }
  }

  void armIdleWait() {
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->phase_ != Phase::kCopying) return;
      self->onDeadline();
    });
  }

  void readFirstBytes() {
    client_.async_read_some(
        asio::buffer(first_.data() + first_size_, first_.size() - first_size_),
        [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          if (self->phase_ != Phase::kFirstBytes) return;
          if (ec) {  // EOF or reset before a name: nothing to decide
            ++self->sandbox_->stats->proxy_failed;
            return self->close();
          }
          self->first_size_ += n;
          std::span<const uint8_t> data(self->first_.data(), self->first_size_);
          self->protocol_ = protocolOf(data);
          auto sniff = sniffFirstBytes(self->protocol_, data);
          if (sniff.status == netpolicy::SniffStatus::kNeedMore) {
            if (self->first_size_ < sniffLimit(self->protocol_)) return self->readFirstBytes();
            sniff = {netpolicy::SniffStatus::kInvalid, {}, "first bytes over the size limit"};
          }
          self->decide(sniff);
        });
  }

  void decide(const netpolicy::SniffResult& sniff) {
    timer_.cancel();
    ProxyPlan plan = planConnection(sandbox_->decider, sniff, original_.address);
    host_ = plan.name;
    switch (plan.step) {
      case ProxyStep::kRefuse:
        return refuse(plan.why);
      case ProxyStep::kConnectOriginal:
        candidates_ = {original_.address};
        return connectNext();
      case ProxyStep::kResolveName:
        return resolve(plan.name);
    }
  }

  void resolve(const std::string& name) {
    phase_ = Phase::kResolving;
    results_.assign(2, {});
    remaining_ = 2;
    const uint16_t types[] = {static_cast<uint16_t>(netpolicy::DnsType::kA),
                              static_cast<uint16_t>(netpolicy::DnsType::kAAAA)};
    for (size_t i = 0; i < 2; ++i) {
      proxy_->resolver().resolve(name, types[i],
                                 [self = shared_from_this(), i](const Resolution& r) {
                                   self->results_[i] = r;
                                   if (--self->remaining_ == 0) self->onResolved();
                                 });
    }
  }

  void onResolved() {
    if (phase_ != Phase::kResolving) return;
    std::vector<IpAddress> addresses;
    std::string error;
    for (const Resolution& r : results_) {
      addresses.insert(addresses.end(), r.addresses.begin(), r.addresses.end());
      if (r.status == ResolveStatus::kFailed) error = r.error;
    }
    if (addresses.empty()) {
      ++sandbox_->stats->proxy_failed;
      logRefusal(*sandbox_, "proxy: " + where() + ": name not resolved" +
                                (error.empty() ? "" : " (" + error + ")"));
      return sendThenClose(unreachableMessage(protocol_, host_));
    }
    UpstreamPlan plan = planUpstream(sandbox_->decider, host_, addresses, original_.address);
    if (plan.order.empty()) {
      std::string why = "resolves only to refused addresses:";
      for (const auto& [address, reason] : plan.refused) {
        why += " " + address.toString() + " (" + std::string(netpolicy::describe(reason)) + ")";
      }
      return refuse(why);
    }
    candidates_ = std::move(plan.order);
    connectNext();
  }

  // Starts connecting to the next candidate; one whose socket cannot be made is skipped here,
  // one whose connect fails brings the callback back here.
  void connectNext() {
    for (;;) {
      phase_ = Phase::kConnecting;
      ++attempt_;
      if (next_candidate_ >= candidates_.size()) {
        ++sandbox_->stats->proxy_failed;
        logRefusal(*sandbox_, "proxy: " + where() + ": could not connect (" + last_error_ + ")");
        return sendThenClose(unreachableMessage(protocol_, host_));
      }
      IpAddress address = candidates_[next_candidate_++];
      if (auto opened = openUpstream(address); !opened) {
        last_error_ = opened.error().describe();
        continue;
      }
      armDeadline(options_.connect_timeout);
      upstream_.async_connect(
          {toAsio(address), original_.port},
          [self = shared_from_this(), attempt = attempt_, address](boost::system::error_code ec) {
            if (self->phase_ != Phase::kConnecting || self->attempt_ != attempt) return;
            if (ec) {
              self->last_error_ = address.toString() + ": " + ec.message();
              return self->connectNext();
            }
            self->onConnected(address);
          });
      return;
    }
  }

  // A fresh socket for `address` in upstream_.
  Result<void> openUpstream(const IpAddress& address) {
    boost::system::error_code ec;
    upstream_.close(ec);
    auto fd = openSocket(address, SOCK_STREAM);
    if (!fd) return fd.error();
    upstream_.assign(address.isV4() ? tcp::v4() : tcp::v6(), fd->release(), ec);
    if (ec) return PlainError() << ec.message();
    return {};
  }

  void onConnected(const IpAddress& address) {
    ++sandbox_->stats->proxy_allowed;
    logger("netsvc")->debug("[{}] proxy: {} via {}", sandbox_->id, where(), address.toString());
    phase_ = Phase::kCopying;
    last_activity_ = Clock::now();
    timer_.expires_at(last_activity_ + options_.idle_timeout);
    armIdleWait();
    // The bytes read while deciding go first, then both directions copy on their own.
    asio::async_write(upstream_, asio::buffer(first_.data(), first_size_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (self->phase_ != Phase::kCopying) return;
                        if (ec) return self->close();
                        self->first_ = {};
                        self->last_activity_ = Clock::now();
                        self->directions_[0] = {&self->client_, &self->upstream_,
                                                std::vector<uint8_t>(self->options_.buffer_bytes)};
                        self->directions_[1] = {&self->upstream_, &self->client_,
                                                std::vector<uint8_t>(self->options_.buffer_bytes)};
                        self->copy(0);
                        self->copy(1);
                      });
  }

  void copy(size_t index) {
    Direction& d = directions_[index];
    d.from->async_read_some(asio::buffer(d.buffer), [self = shared_from_this(), index](
                                                        boost::system::error_code ec, size_t n) {
      if (self->phase_ != Phase::kCopying) return;
      Direction& d = self->directions_[index];
      self->last_activity_ = Clock::now();
      if (ec == asio::error::eof) {
        // Half-close: pass the FIN on, keep the other direction going.
        d.ended = true;
        boost::system::error_code ignored;
        d.to->shutdown(tcp::socket::shutdown_send, ignored);
        if (self->directions_[1 - index].ended) self->close();
        return;
      }
      if (ec) return self->close();
      asio::async_write(*d.to, asio::buffer(d.buffer.data(), n),
                        [self, index](boost::system::error_code ec, size_t) {
                          if (self->phase_ != Phase::kCopying) return;
                          if (ec) return self->close();
                          self->last_activity_ = Clock::now();
                          self->copy(index);
                        });
    });
  }

  void refuse(const std::string& why) {
    ++sandbox_->stats->proxy_refused;
    logRefusal(*sandbox_, "proxy: refused " + where() + ": " + why);
    sendThenClose(refusalMessage(protocol_, host_, why));
  }

  // Writes `message`, ends our side, drains what the client still sends, then closes; all
  // within refusal_write_timeout.
  void sendThenClose(std::string message) {
    phase_ = Phase::kRefusing;
    boost::system::error_code ignored;
    upstream_.close(ignored);
    armDeadline(options_.refusal_write_timeout);
    message_ = std::move(message);
    asio::async_write(client_, asio::buffer(message_),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (self->phase_ != Phase::kRefusing) return;
                        if (ec) return self->close();
                        boost::system::error_code ignored;
                        self->client_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->first_.resize(self->options_.buffer_bytes);
                        self->drain();
                      });
  }

  void drain() {
    client_.async_read_some(asio::buffer(first_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (self->phase_ != Phase::kRefusing) return;
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrainBytes) return self->close();
                              self->drain();
                            });
  }

  Impl* proxy_;
  const EgressProxyOptions& options_;
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer timer_;
  std::shared_ptr<const SandboxContext> sandbox_;
  std::shared_ptr<ProxyGauges> gauges_;
  SocketAddress original_;

  Phase phase_ = Phase::kFirstBytes;
  unsigned attempt_ = 0;
  std::vector<uint8_t> first_;
  size_t first_size_ = 0;
  ProxyProtocol protocol_ = ProxyProtocol::kHttp;
  std::string host_;
  std::vector<Resolution> results_;
  size_t remaining_ = 0;
  std::vector<IpAddress> candidates_;
  size_t next_candidate_ = 0;
  std::string last_error_;
  std::string message_;
  size_t drained_ = 0;
  boost::system::error_code ignored_;
  Clock::time_point last_activity_;
  std::array<Direction, 2> directions_{};
};

Result<void> EgressProxy::Impl::addListener(const SocketAddress& local) {
  auto fd = openBoundSocket(local, SOCK_STREAM);
  if (!fd) return PlainError() << "egress proxy: " << fd.error().describe();
  return thread_.runSync([&]() -> Result<void> {
    return listeners_.add(std::make_shared<Listener>(thread_.io(), local), std::move(*fd));
  });
}

void EgressProxy::Impl::removeListener(const SocketAddress& local) {
  thread_.runSync([&] { listeners_.remove(local); });
}

void EgressProxy::Impl::onConnection(const std::shared_ptr<Listener>& listener, UniqueFd fd) {
  auto peer = peerAddress(fd.get());
  if (!peer) return;
  auto sandbox = lookup_(listener->local().address, peer->address);
  if (!sandbox) {
    logger("netsvc")->debug("proxy: connection from {} to {}: no such sandbox", peer->toString(),
                            listener->local().toString());
    return;
  }
  SandboxNetStats& stats = *sandbox->stats;
  ++stats.proxy_connections;
  if (!tryAcquire(gauges_->active, options_.max_connections)) {
    ++stats.proxy_failed;
    logRefusal(*sandbox, "proxy: closed a connection: too many for the proxy");
    return;
  }
  if (!tryAcquire(stats.proxy_active, options_.max_connections_per_sandbox)) {
    --gauges_->active;
    ++stats.proxy_failed;
    logRefusal(*sandbox, "proxy: closed a connection: too many for this sandbox (" +
                             std::to_string(options_.max_connections_per_sandbox) + ")");
    return;
  }
  // From here the session owns both slots and gives them back when destroyed.
  boost::system::error_code ec;
  tcp::socket client(thread_.io());
  client.assign(peer->address.isV4() ? tcp::v4() : tcp::v6(), fd.release(), ec);
  auto original = originalDestination(client.native_handle(), peer->address.family());
  auto session = std::make_shared<Session>(
      this, std::move(client), sandbox, gauges_,
      original ? *original : SocketAddress{listener->local().address, listener->local().port});
  if (ec || !original || *original == listener->local()) {
    // Not redirected by nftables: someone connected to the proxy port itself.
    ++stats.proxy_refused;
    logRefusal(*sandbox, "proxy: refused a connection to the proxy port itself");
    session->close();
    return;
  }
  listener->track(session);
  session->start();
}

EgressProxy::EgressProxy(EgressProxyOptions options, SandboxLookup lookup)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(lookup))) {}
EgressProxy::~EgressProxy() = default;
void EgressProxy::start() { impl_->start(); }
void EgressProxy::stop() { impl_->stop(); }
Result<void> EgressProxy::addListener(const SocketAddress& local) {
  return impl_->addListener(local);
}
void EgressProxy::removeListener(const SocketAddress& local) { impl_->removeListener(local); }
uint32_t EgressProxy::activeConnections() const { return impl_->active(); }

}  // namespace declaw::netsvc
