// The DNS stub in declawd: each sandbox's resolv.conf points at its gateway address, where the
// stub answers over UDP and TCP (RFC 7766: two-byte length prefix) with what stub_policy.h
// decides. Only names the sandbox's policy allows are ever sent upstream, so DNS cannot carry
// data out of a sandbox beyond the names it may reach anyway.
//
// Threading: the stub owns one thread (ServiceThread) that runs every handler, the resolver and
// the AnswerHook. start/stop/addListener/removeListener may be called from any other thread.
//
// Bounds (DnsStubOptions): queries waiting on the upstream, overall and per sandbox (beyond:
// SERVFAIL at once); TCP connections overall and per sandbox (beyond: closed at accept); a TCP
// connection's idle time and its query size; the resolver's own (resolver.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "netsvc/resolver.h"
#include "netsvc/sandbox_context.h"
#include "netsvc/service_thread.h"
#include "netsvc/upstream_dns.h"

namespace declaw::netsvc {

struct DnsStubOptions {
  ResolverOptions resolver;
  uint32_t max_in_flight = 512;
  uint32_t max_in_flight_per_sandbox = 64;
  uint32_t max_tcp_connections = 256;
  uint32_t max_tcp_connections_per_sandbox = 16;
  std::chrono::milliseconds tcp_idle_timeout{10000};
  uint32_t max_answer_ttl = 300;  // seconds; what the upstream says, capped
};

// An answer the stub is about to give: `addresses` passed decideConnection for `name`.
struct AnsweredName {
  std::string name;
  std::vector<netpolicy::IpAddress> addresses;
  uint32_t ttl = 0;  // as sent to the sandbox; may be 0
};

// Runs on the stub's thread before the answer is sent, so whatever it records (the daemon: an
// element in the sandbox's nft "resolved" set) is in place before the sandbox can use the
// answer. It delays every query behind it: keep it to one short nft transaction. It must not
// call removeListener or stop.
using AnswerHook = std::function<void(const SandboxContext& sandbox, const AnsweredName& answer)>;

class DnsStub {
 public:
  DnsStub(DnsStubOptions options, SandboxLookup lookup, AnswerHook hook = {});
  ~DnsStub();
  DnsStub(const DnsStub&) = delete;
  DnsStub& operator=(const DnsStub&) = delete;

  // Starts the thread. Listeners may be added before or after.
  void start();
  // Closes every listener and connection, fails pending lookups, joins the thread. Idempotent.
  void stop();

  // Serves UDP and TCP on `local` (a sandbox's gateway address, port 53). The address need not
  // be up yet (IP_FREEBIND). Fails when either bind fails (EADDRINUSE: another DNS server has
  // the port on that address or on the wildcard).
  Result<void> addListener(const SocketAddress& local);
  // Stops serving `local` and closes its TCP connections; queries waiting on the upstream are
  // not answered. Waits for the stub's thread to do it.
  void removeListener(const SocketAddress& local);

  // Queries waiting on the upstream, all sandboxes.
  uint32_t inFlight() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace declaw::netsvc
