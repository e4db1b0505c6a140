// The egress proxy in declawd: nftables redirects each sandbox's TCP 80 and 443 (to
// destinations its address rules do not already decide) to this proxy on the sandbox's gateway.
// For each connection it recovers the original destination (SO_ORIGINAL_DST), reads the first
// bytes within a deadline and a size cap, decides by the HTTP Host or TLS SNI name with the
// sandbox's Decider (proxy_policy.h), resolves an allowed name itself, connects to an allowed
// address on the original port, replays the bytes it read and copies both ways until both
// sides have closed or the connection has been idle too long. It never decrypts anything.
//
// Threading: Asio on one thread of its own (ServiceThread), not a thread per connection as the
// API server does. Proxied connections are long-lived and mostly idle (keep-alive, downloads,
// streams) and a busy sandbox opens hundreds; asynchronous sessions cost a few KiB each instead
// of a thread, and timers give every phase its deadline. One thread copies far more than
// sandboxes need (the copy is memory-bound, ~GB/s); to use more, the sessions would need
// strands. start/stop/addListener/removeListener may be called from any other thread.
//
// Copying: a bounded loop per direction through a buffer of buffer_bytes, not splice(2), which
// would need a pipe pair per connection and readiness juggling for little gain at these rates.
// A read waits until the other side has taken the previous chunk, so a slow receiver stalls its
// sender (TCP backpressure) instead of growing memory. EOF from one side becomes shutdown(SHUT_WR)
// towards the other (half-close); the connection ends when both directions have ended, on an
// error, or after idle_timeout without a byte moving either way.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "netsvc/resolver.h"
#include "netsvc/sandbox_context.h"
#include "netsvc/upstream_dns.h"

namespace declaw::netsvc {

struct EgressProxyOptions {
  ResolverOptions resolver;
  // From accept to the name being known: a client that trickles its first bytes is cut off here.
  std::chrono::milliseconds first_bytes_timeout{10000};
  std::chrono::milliseconds connect_timeout{10000};  // per upstream address tried
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds refusal_write_timeout{2000};  // for the 403 or the TLS alert
  uint32_t max_connections = 2048;
  uint32_t max_connections_per_sandbox = 256;
  size_t buffer_bytes = 16 * 1024;  // per direction
};

class EgressProxy {
 public:
  EgressProxy(EgressProxyOptions options, SandboxLookup lookup);
  ~EgressProxy();
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;

  void start();
  // Closes every listener and connection and joins the thread. Idempotent.
  void stop();

  // Listens on `local` (a sandbox's gateway address, the proxy port). The address need not be up
  // yet (IP_FREEBIND).
  Result<void> addListener(const SocketAddress& local);
  // Stops listening on `local` and closes every connection accepted there (the sandbox is gone).
  void removeListener(const SocketAddress& local);

  uint32_t activeConnections() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace declaw::netsvc
