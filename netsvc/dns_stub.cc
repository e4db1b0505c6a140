#include "netsvc/dns_stub.h"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "common/log.h"
#include "netpolicy/dns_message.h"
#include "netsvc/listeners.h"
#include "netsvc/sockets.h"
#include "netsvc/stub_policy.h"

namespace declaw::netsvc {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using netpolicy::DnsRcode;

namespace {

// A query is one question and an EDNS OPT record; padding (RFC 8467) keeps it under 512.
constexpr size_t kMaxTcpQueryBytes = 1024;
constexpr size_t kMaxTcpAnswerBytes = 65535;
// Received datagrams larger than this are cut, and then refused by the parser.
constexpr size_t kUdpReceiveBuffer = 2048;

// A reply of no bytes means: drop the query (UDP) or close the connection (TCP).
using Reply = std::function<void(std::vector<uint8_t>)>;

std::string typeName(uint16_t qtype) {
  switch (qtype) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
    default:
      return "TYPE" + std::to_string(qtype);  // RFC 3597's spelling
  }
}

}  // namespace

// Counters that outlive the stub's members: sessions still queued in the io_context when it is
// destroyed give their slots back here.
struct StubGauges {
  std::atomic<uint32_t> in_flight{0};
  std::atomic<uint32_t> tcp_active{0};
};

class DnsStub::Impl {
 public:
  Impl(DnsStubOptions options, SandboxLookup lookup, AnswerHook hook)
      : options_(std::move(options)),
        lookup_(std::move(lookup)),
        hook_(std::move(hook)),
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
  uint32_t inFlight() const { return gauges_->in_flight; }

 private:
  struct TcpSession;
  // A gateway address served over UDP too.
  struct DnsListener : Listener {
    DnsListener(asio::io_context& io, const SocketAddress& local)
        : Listener(io, local), udp_socket(io) {}
    void closeMore() override {
      boost::system::error_code ignored;
      udp_socket.close(ignored);
    }
    udp::socket udp_socket;
    std::array<uint8_t, kUdpReceiveBuffer> buffer{};
    udp::endpoint from;
  };

  void receiveUdp(const std::shared_ptr<DnsListener>& listener);
  void onTcpConnection(const std::shared_ptr<Listener>& listener, UniqueFd fd);
  void handleQuery(const std::shared_ptr<const SandboxContext>& sandbox,
                   std::span<const uint8_t> message, size_t max_answer, Reply reply);

  std::shared_ptr<StubGauges> gauges_ = std::make_shared<StubGauges>();
  ServiceThread thread_;
  DnsStubOptions options_;
  SandboxLookup lookup_;
  AnswerHook hook_;
  std::unique_ptr<Resolver> resolver_;
  ListenerSet listeners_{"dns stub",
                         [this](const std::shared_ptr<Listener>& listener, UniqueFd fd) {
                           onTcpConnection(listener, std::move(fd));
                         }};
};

// One TCP connection: length-prefixed queries answered one at a time, in order.
struct DnsStub::Impl::TcpSession : Connection, std::enable_shared_from_this<TcpSession> {
  TcpSession(asio::io_context& io, std::shared_ptr<const SandboxContext> s,
             std::shared_ptr<StubGauges> g)
      : socket(io), timer(io), sandbox(std::move(s)), gauges(std::move(g)) {}
  ~TcpSession() {
    --sandbox->stats->dns_tcp_active;
    --gauges->tcp_active;
  }

  void close() override {
    boost::system::error_code ignored;
    socket.close(ignored);
    timer.cancel();
  }

  // Closes the connection unless something happens within the idle timeout.
  void arm(std::chrono::milliseconds timeout) {
    timer.expires_after(timeout);
    timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close();
    });
  }

  void readQuery(Impl* stub) {
    arm(stub->options_.tcp_idle_timeout);
    asio::async_read(socket, asio::buffer(length),
                     [self = shared_from_this(), stub](boost::system::error_code ec, size_t) {
                       if (ec) return self->close();
                       size_t size = (size_t{self->length[0]} << 8) | self->length[1];
                       if (size < netpolicy::kDnsHeaderSize || size > kMaxTcpQueryBytes)
                         return self->close();
                       self->query.resize(size);
                       asio::async_read(
                           self->socket, asio::buffer(self->query),
                           [self, stub](boost::system::error_code ec, size_t) {
                             if (ec) return self->close();
                             self->timer.cancel();  // the resolver bounds the wait for the answer
                             stub->handleQuery(self->sandbox, self->query, kMaxTcpAnswerBytes,
                                               [self, stub](std::vector<uint8_t> answer) {
                                                 self->writeAnswer(stub, std::move(answer));
                                               });
                           });
                     });
  }

  void writeAnswer(Impl* stub, std::vector<uint8_t> answer) {
    if (answer.empty() || !socket.is_open()) return close();
    auto size = static_cast<uint16_t>(answer.size());
    answer.insert(answer.begin(), {static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)});
    out = std::move(answer);
    arm(stub->options_.tcp_idle_timeout);
    asio::async_write(socket, asio::buffer(out),
                      [self = shared_from_this(), stub](boost::system::error_code ec, size_t) {
                        if (ec) return self->close();
                        self->readQuery(stub);
                      });
  }

  tcp::socket socket;
  asio::steady_timer timer;
  std::shared_ptr<const SandboxContext> sandbox;
  std::shared_ptr<StubGauges> gauges;
  std::array<uint8_t, 2> length{};
  std::vector<uint8_t> query;
  std::vector<uint8_t> out;
};

Result<void> DnsStub::Impl::addListener(const SocketAddress& local) {
  // Bound here, on the caller's thread, so the caller sees the error; served on the stub's.
  auto udp_fd = openBoundSocket(local, SOCK_DGRAM);
  if (!udp_fd) return PlainError() << "dns stub udp: " << udp_fd.error().describe();
  auto tcp_fd = openBoundSocket(local, SOCK_STREAM);
  if (!tcp_fd) return PlainError() << "dns stub tcp: " << tcp_fd.error().describe();
  return thread_.runSync([&]() -> Result<void> {
    auto listener = std::make_shared<DnsListener>(thread_.io(), local);
    boost::system::error_code ec;
    listener->udp_socket.assign(local.address.isV4() ? udp::v4() : udp::v6(), udp_fd->get(), ec);
    if (!ec) {
      udp_fd->release();  // the socket's now (a failed assign leaves it ours, to close)
      listener->udp_socket.non_blocking(true, ec);
    }
    if (ec) return PlainError() << "dns stub " << local.toString() << ": " << ec.message();
    if (auto added = listeners_.add(listener, std::move(*tcp_fd)); !added) return added;
    receiveUdp(listener);
    return Ok{};
  });
}

void DnsStub::Impl::removeListener(const SocketAddress& local) {
  thread_.runSync([&] { listeners_.remove(local); });
}

void DnsStub::Impl::receiveUdp(const std::shared_ptr<DnsListener>& listener) {
  listener->udp_socket.async_receive_from(
      asio::buffer(listener->buffer), listener->from,
      [this, listener](boost::system::error_code ec, size_t n) {
        if (!listener->isOpen() || ec == asio::error::operation_aborted) return;
        if (!ec) {
          netpolicy::IpAddress peer = fromAsio(listener->from.address());
          auto sandbox = lookup_(listener->local().address, peer);
          if (!sandbox) {
            logger("netsvc")->debug("dns: query from {} to {}: no such sandbox", peer.toString(),
                                    listener->local().toString());
          } else {
            udp::endpoint to = listener->from;
            handleQuery(sandbox, std::span<const uint8_t>(listener->buffer.data(), n),
                        netpolicy::kMaxDnsUdpPayload, [listener, to](std::vector<uint8_t> answer) {
                          if (answer.empty() || !listener->isOpen()) return;
                          boost::system::error_code ignored;  // a full buffer drops the answer
                          listener->udp_socket.send_to(asio::buffer(answer), to, 0, ignored);
                        });
          }
        }
        receiveUdp(listener);
      });
}

void DnsStub::Impl::onTcpConnection(const std::shared_ptr<Listener>& listener, UniqueFd fd) {
  auto peer = peerAddress(fd.get());
  if (!peer) return;
  auto sandbox = lookup_(listener->local().address, peer->address);
  if (!sandbox) return;
  if (!tryAcquire(gauges_->tcp_active, options_.max_tcp_connections)) {
    ++sandbox->stats->dns_failed;
    logRefusal(*sandbox, "dns: tcp connection closed: too many for the stub");
    return;
  }
  if (!tryAcquire(sandbox->stats->dns_tcp_active, options_.max_tcp_connections_per_sandbox)) {
    --gauges_->tcp_active;
    ++sandbox->stats->dns_failed;
    logRefusal(*sandbox, "dns: tcp connection closed: too many for this sandbox");
    return;
  }
  auto session = std::make_shared<TcpSession>(thread_.io(), sandbox, gauges_);
  boost::system::error_code ec;
  session->socket.assign(peer->address.isV4() ? tcp::v4() : tcp::v6(), fd.release(), ec);
  if (ec) return;
  listener->track(session);
  session->readQuery(this);
}

void DnsStub::Impl::handleQuery(const std::shared_ptr<const SandboxContext>& sandbox,
                                std::span<const uint8_t> message, size_t max_answer, Reply reply) {
  SandboxNetStats& stats = *sandbox->stats;
  ++stats.dns_queries;
  auto query = netpolicy::parseDnsQuery(message);
  if (!query) {
    ++stats.dns_refused;
    logRefusal(*sandbox, "dns: refused a malformed query: " + query.error().message);
    auto id = netpolicy::peekDnsId(message);
    reply(id ? netpolicy::buildDnsHeaderOnly(*id, DnsRcode::kFormErr) : std::vector<uint8_t>());
    return;
  }
  StubPlan plan = planStubQuery(sandbox->decider, *query);
  if (plan.step == StubStep::kReply) {
    if (plan.refusal) {
      ++stats.dns_refused;
      logRefusal(*sandbox,
                 "dns: refused " + typeName(query->qtype) + " " + query->name + ": " + plan.why);
    }
    reply(netpolicy::buildDnsError(*query, plan.rcode));
    return;
  }
  if (!tryAcquire(gauges_->in_flight, options_.max_in_flight)) {
    ++stats.dns_failed;
    logRefusal(*sandbox, "dns: SERVFAIL for " + query->name + ": too many queries in flight");
    reply(netpolicy::buildDnsError(*query, DnsRcode::kServFail));
    return;
  }
  if (!tryAcquire(stats.dns_in_flight, options_.max_in_flight_per_sandbox)) {
    --gauges_->in_flight;
    ++stats.dns_failed;
    logRefusal(*sandbox,
               "dns: SERVFAIL for " + query->name + ": too many queries in flight for the sandbox");
    reply(netpolicy::buildDnsError(*query, DnsRcode::kServFail));
    return;
  }

  struct Pending {
    std::shared_ptr<const SandboxContext> sandbox;
    netpolicy::DnsQuery query;
    Reply reply;
    size_t max_answer;
    size_t remaining;
    std::vector<Resolution> results;
  };
  auto pending = std::make_shared<Pending>(Pending{sandbox, std::move(*query), std::move(reply),
                                                   max_answer, plan.qtypes.size(),
                                                   std::vector<Resolution>(plan.qtypes.size())});
  for (size_t i = 0; i < plan.qtypes.size(); ++i) {
    resolver_->resolve(
        pending->query.name, plan.qtypes[i], [this, pending, i](const Resolution& r) {
          pending->results[i] = r;
          if (--pending->remaining > 0) return;
          SandboxNetStats& stats = *pending->sandbox->stats;
          --stats.dns_in_flight;
          --gauges_->in_flight;
          const auto& q = pending->query;
          std::vector<netpolicy::IpAddress> addresses;
          uint32_t ttl = options_.max_answer_ttl;
          for (const Resolution& result : pending->results) {
            if (result.status == ResolveStatus::kFailed) {
              ++stats.dns_failed;
              logger("netsvc")->debug("[{}] dns: SERVFAIL for {}: {}", pending->sandbox->id, q.name,
                                      result.error);
              return pending->reply(netpolicy::buildDnsError(q, DnsRcode::kServFail));
            }
            if (result.status == ResolveStatus::kNxDomain) {
              return pending->reply(netpolicy::buildDnsError(q, DnsRcode::kNxDomain));
            }
            addresses.insert(addresses.end(), result.addresses.begin(), result.addresses.end());
            if (!result.addresses.empty()) ttl = std::min(ttl, result.ttl);
          }
          FilteredAnswer filtered = filterAnswer(pending->sandbox->decider, q.name, addresses);
          if (!filtered.refused.empty()) {
            stats.dns_addresses_refused += filtered.refused.size();
            std::string left_out;
            for (const auto& [address, reason] : filtered.refused) {
              if (!left_out.empty()) left_out += ", ";
              left_out +=
                  address.toString() + " (" + std::string(netpolicy::describe(reason)) + ")";
            }
            logRefusal(*pending->sandbox, "dns: " + q.name + ": left out " + left_out);
          }
          if (filtered.allowed.empty()) ttl = 0;
          if (!filtered.allowed.empty()) {
            ++stats.dns_answered;
            if (hook_) hook_(*pending->sandbox, AnsweredName{q.name, filtered.allowed, ttl});
          }
          pending->reply(netpolicy::buildDnsAnswer(q, filtered.allowed, ttl, pending->max_answer));
        });
  }
}

DnsStub::DnsStub(DnsStubOptions options, SandboxLookup lookup, AnswerHook hook)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(lookup), std::move(hook))) {}
DnsStub::~DnsStub() = default;
void DnsStub::start() { impl_->start(); }
void DnsStub::stop() { impl_->stop(); }
Result<void> DnsStub::addListener(const SocketAddress& local) { return impl_->addListener(local); }
void DnsStub::removeListener(const SocketAddress& local) { impl_->removeListener(local); }
uint32_t DnsStub::inFlight() const { return impl_->inFlight(); }

}  // namespace declaw::netsvc
