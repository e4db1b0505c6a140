// declawd's own resolver: asks the upstream (--dns-upstream, or the host's /etc/resolv.conf)
// for A or AAAA records of a name, over UDP with a TCP retry when the answer is truncated, with
// a bounded cache and bounded work. Used by the DNS stub (to answer sandboxes) and by the egress
// proxy (to find where an allowed name lives, ignoring whatever the sandbox resolved).
//
// Single-threaded: a Resolver lives on one io_context (its service's thread), and resolve()
// and shutdown() are called there. Each lookup uses a fresh connected UDP socket, so the
// kernel picks a random source port and drops datagrams from anyone but the upstream, and a
// random query id; the response must also echo the question (upstream_dns.h).
//
// Bounds: lookups waiting on the upstream at once (max_lookups; beyond, resolve fails at once),
// callers waiting on one lookup, time per upstream attempt and per lookup, cache entries and
// how long an answer is cached. Callers asking for a name already being looked up share it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "netpolicy/addr.h"
#include "netsvc/dns_cache.h"
#include "netsvc/upstream_dns.h"

namespace declaw::netsvc {

struct ResolverOptions {
  std::vector<SocketAddress> upstreams;  // tried in order; must not be empty
  std::chrono::milliseconds attempt_timeout{2000};
  std::chrono::milliseconds lookup_timeout{5000};
  size_t cache_entries = 4096;
  // Matches DnsStubOptions::max_in_flight: one sandbox holds at most the stub's per-sandbox
  // share of it, but a few busy sandboxes together can fill it (then: SERVFAIL for everyone
  // until lookups finish, at most lookup_timeout later). Each lookup holds one fd.
  size_t max_lookups = 512;
  size_t max_waiters_per_lookup = 256;
  uint32_t max_cache_ttl = 300;  // seconds an answer is kept at most
  uint32_t negative_ttl = 30;    // seconds NXDOMAIN and empty answers are kept
};

// The nameservers of a resolv.conf file (default /etc/resolv.conf); an error when it has none.
Result<std::vector<SocketAddress>> upstreamsFromResolvConf(
    const std::string& path = "/etc/resolv.conf");

enum class ResolveStatus { kOk, kNxDomain, kFailed };

struct Resolution {
  ResolveStatus status = ResolveStatus::kFailed;
  std::vector<netpolicy::IpAddress> addresses;  // kOk: may be empty (no records of the type)
  uint32_t ttl = 0;                             // kOk: seconds left, capped at max_cache_ttl
  std::string error;                            // kFailed: why, for the log
};

class Resolver {
 public:
  using Callback = std::function<void(const Resolution&)>;

  Resolver(boost::asio::io_context& io, ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Looks up `name` (normalised) for `qtype` (A or AAAA). `done` runs exactly once, on the
  // io_context, never inside resolve() itself.
  void resolve(const std::string& name, uint16_t qtype, Callback done);

  // Fails every pending lookup (their callbacks run now, with kFailed) and every later one.
  void shutdown();

  size_t pendingLookups() const { return lookups_.size(); }
  size_t cacheSize() const { return cache_.size(); }

 private:
  struct Lookup;
  void startAttempt(const std::shared_ptr<Lookup>& lookup);
  void startTcp(const std::shared_ptr<Lookup>& lookup);
  void receiveUdp(const std::shared_ptr<Lookup>& lookup, unsigned attempt);
  void armTimer(const std::shared_ptr<Lookup>& lookup, unsigned attempt);
  // Takes a parsed response: finishes the lookup, retries over TCP, or moves to the next upstream.
  void onResponse(const std::shared_ptr<Lookup>& lookup, std::span<const uint8_t> message,
                  bool over_tcp);
  void nextUpstream(const std::shared_ptr<Lookup>& lookup, const std::string& why);
  void finish(const std::shared_ptr<Lookup>& lookup, const Resolution& resolution);
  void post(Callback done, Resolution resolution);

  boost::asio::io_context& io_;
  ResolverOptions options_;
  DnsCache cache_;
  std::unordered_map<std::string, std::shared_ptr<Lookup>> lookups_;
  bool shut_down_ = false;
};

}  // namespace declaw::netsvc
