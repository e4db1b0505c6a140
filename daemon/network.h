// Sandbox networking in declawd: the `inet declaw` table, IPv4 forwarding, the address pool, the
// DNS stub and the egress proxy, and each sandbox's veth, chains and listeners. The mechanics
// live in netpolicy/ and netsvc/; this is the order they run in (docs/network.md, "Order of
// operations in declawd") and the bookkeeping that ties them to sandboxes.
//
// Lifecycle of one sandbox with internet access:
//   reserve()  before launch: a lease from the pool and the sandbox's decider (nothing in the
//              kernel yet; InitConfig.network needs the addresses)
//   plug()     after launch, before the handshake: the veth into init's network namespace
//   guard()    beside the handshake (on a thread of its own), and done before the create
//              answers: the nft chains and sets, the DNS stub and proxy listeners on its
//              gateway. No sandbox code runs before the create has answered, so none runs
//              before its firewall is in place.
//   update()   PATCH: a new decider, the chains refilled in one transaction
//   release()  after init is dead: listeners, chains, link and lease, in that order; idempotent
//
// Thread-safety: every method may be called from any thread. nft transactions are serialised
// (one libnftables context); the DNS stub's answer hook takes the same lock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/services.h"
#include "common/result.h"
#include "netpolicy/address_pool.h"
#include "netpolicy/nft_plan.h"
#include "netpolicy/policy.h"
#include "runtime/protocol.h"

namespace declaw::netsvc {
class DnsStub;
class EgressProxy;
struct SandboxContext;
class SandboxNetStats;
}  // namespace declaw::netsvc

namespace declaw::netpolicy {
class NftContext;
struct SysctlChange;
}  // namespace declaw::netpolicy

namespace declaw::daemon {

struct Config;

// The network part of the daemon's config, parsed and checked.
struct NetworkSettings {
  netpolicy::Cidr pool4;
  std::optional<netpolicy::Cidr> pool6;
  std::vector<std::string> dns_upstream;  // "addr[:port]"; empty: the host's resolv.conf
  netpolicy::Boundaries boundaries;       // before the daemon adds host addresses and pools
  uint16_t proxy_port = 3128;
};

// Reads Config's network keys; an error names the key and the bad entry.
Result<NetworkSettings> networkSettingsFrom(const Config& config);

// One sandbox's share. Owned by its Sandbox; only NetworkHost touches the inside.
class SandboxNetwork {
 public:
  const std::string& interfaceName() const { return ifname_; }
  const netpolicy::Lease& lease() const { return lease_; }

 private:
  friend class NetworkHost;
  std::string id_;
  std::string key_;
  std::string ifname_;
  netpolicy::Lease lease_;
  std::shared_ptr<netsvc::SandboxNetStats> stats_;
  std::mutex mutex_;  // the flags below: what exists, so release undoes exactly that
  bool link_created_ = false;
  bool nft_added_ = false;
  bool listening_ = false;
  bool released_ = false;
  // The last value read from the sandbox's dropped-packets counter (describe with kLive): what a
  // listing shows, so that listing runs no nft command per sandbox.
  std::atomic<uint64_t> dropped_seen_{0};
};

class NetworkHost {
 public:
  // Enables forwarding, replaces the table, starts the DNS stub and the proxy. Fails when any of
  // it fails (and undoes what it did).
  static Result<std::unique_ptr<NetworkHost>> start(const NetworkSettings& settings);
  ~NetworkHost();
  NetworkHost(const NetworkHost&) = delete;
  NetworkHost& operator=(const NetworkHost&) = delete;

  // Stops the services, deletes the table and restores forwarding. Idempotent. With
  // keep_kernel_state (live restore left sandboxes with internet access running), the table and
  // forwarding stay: their chains go on enforcing each sandbox's policy (names no longer resolve,
  // the proxy is gone) until the next daemon adopts them.
  void stop(bool keep_kernel_state = false);

  // IPv4 forwarding as this daemon found it, or as an earlier daemon of the same state dir
  // found it, so that the last clean stop restores the host's own value.
  // The record is a file of the state dir: read at start (what an earlier daemon found), written
  // whenever this daemon changed forwarding (so a crash keeps it), removed by the caller after a
  // stop that restored it.
  void rememberForwarding(const std::string& record_path);

  // Live restore: takes over the link of a sandbox a previous daemon left running: its lease
  // (the /30 `subnet`) is taken again, the link must still be there, and its chains and
  // listeners are made anew under `policy` (the table was replaced at start: until then its
  // veth got nothing through).
  Result<std::shared_ptr<SandboxNetwork>> adopt(const std::string& sandbox_id,
                                                const std::string& subnet,
                                                const netpolicy::Policy& policy);

  // Crash cleanup for a sandbox a previous daemon left: its host link, if still there (the
  // table was replaced whole at start).
  static void removeLeftover(const std::string& sandbox_id);

  // EINVAL naming the entry when an allow_out CIDR lies wholly inside what is always denied
  // (169.254.169.254, the host, the pool): asking for it is a mistake, not a policy.
  Result<void> checkAllows(const std::vector<std::string>& allow_out) const;

  Result<std::shared_ptr<SandboxNetwork>> reserve(const std::string& sandbox_id,
                                                  const netpolicy::Policy& policy);
  // Returns what declaw-init needs to configure eth0.
  Result<runtime::NetworkConfig> plug(SandboxNetwork& sandbox, pid_t init_pid, int init_pidfd);
  // After plug(): the sandbox's chains and listeners.
  Result<void> guard(SandboxNetwork& sandbox);
  Result<void> update(SandboxNetwork& sandbox, const netpolicy::Policy& policy);
  void release(SandboxNetwork& sandbox);

  // Addresses and refusal counts for the sandbox info (the lists come from the Sandbox).
  // kLive reads the firewall's dropped-packets counter from the kernel (one nft command);
  // kCached gives the value the last kLive read saw, and runs no command at all.
  enum class Counters : uint8_t { kLive, kCached };
  void describe(SandboxNetwork& sandbox, api::NetworkInfo& info, Counters counters);
  // Bytes over the sandbox's link: {received by the sandbox, sent by it}.
  std::optional<std::pair<uint64_t, uint64_t>> traffic(const SandboxNetwork& sandbox);
  api::HealthNetwork healthInfo() const;

 private:
  NetworkHost() = default;
  // A sandbox's share with its names, before any lease.
  static Result<std::shared_ptr<SandboxNetwork>> newShare(const std::string& sandbox_id);
  Result<netpolicy::Decider> deciderFor(const netpolicy::Policy& policy) const;
  Result<std::string> applyNft(const nlohmann::json& document);
  std::shared_ptr<const netsvc::SandboxContext> lookup(const netpolicy::IpAddress& local,
                                                       const netpolicy::IpAddress& peer);
  void setContext(const SandboxNetwork& sandbox, netpolicy::Decider decider);

  NetworkSettings settings_;
  netpolicy::TableConfig table_;
  std::vector<std::string> upstream_text_;

  std::mutex nft_mutex_;
  std::unique_ptr<netpolicy::NftContext> nft_;
  std::unique_ptr<netpolicy::SysctlChange> forwarding_;
  bool table_created_ = false;

  std::mutex mutex_;  // pool_, by_gateway_
  std::optional<netpolicy::AddressPool> pool_;
  struct Route {
    netpolicy::IpAddress sandbox;
    std::shared_ptr<const netsvc::SandboxContext> context;
  };
  std::map<netpolicy::IpAddress, Route> by_gateway_;

  std::unique_ptr<netsvc::DnsStub> stub_;
  std::unique_ptr<netsvc::EgressProxy> proxy_;
  bool stopped_ = false;
};

}  // namespace declaw::daemon
