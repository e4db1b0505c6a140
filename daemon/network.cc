#include "daemon/network.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/io.h"
#include "common/log.h"
#include "daemon/config.h"
#include "netpolicy/kernel/netns.h"
#include "netpolicy/kernel/nft_apply.h"
#include "netpolicy/kernel/sysctl.h"
#include "netpolicy/kernel/veth.h"
#include "netsvc/dns_stub.h"
#include "netsvc/egress_proxy.h"
#include "netsvc/resolver.h"
#include "netsvc/sandbox_context.h"

namespace declaw::daemon {

namespace {

using netpolicy::Cidr;
using netpolicy::IpAddress;
using nlohmann::json;

// How long an address the DNS stub answered stays open on every port, at least: a TTL of 0
// would otherwise close it before the sandbox could connect.
constexpr uint32_t kMinResolvedSeconds = 30;

std::string keyOf(const std::string& sandbox_id) { return sandbox_id.substr(4); }  // "sbx-"

Result<std::vector<Cidr>> cidrList(const std::vector<std::string>& entries, const char* key) {
  std::vector<Cidr> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto c = Cidr::parse(entries[i]);
    if (!c) {
      return PlainError() << "config '" << key << "[" << i << "]' '" << entries[i]
                          << "': " << c.error().message;
    }
    out.push_back(*c);
  }
  return out;
}

// Every address of the daemon's own network namespace: what no sandbox may reach, except its
// gateway's DNS stub and proxy (which the sandbox's input chain lets through).
std::vector<Cidr> hostAddresses() {
  std::vector<Cidr> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) < 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      out.push_back(Cidr::host(IpAddress::v4(ntohl(in->sin_addr.s_addr))));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      std::span<const uint8_t, 16> bytes(in6->sin6_addr.s6_addr, 16);
      out.push_back(Cidr::host(IpAddress::v6(bytes)));
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

Result<NetworkSettings> networkSettingsFrom(const Config& c) {
  NetworkSettings s;
  auto pool4 = Cidr::parse(c.net_pool);
  if (!pool4 || pool4->family() != netpolicy::Family::kV4) {
    return PlainError() << "config 'net_pool' '" << c.net_pool << "': not an IPv4 CIDR";
  }
  s.pool4 = *pool4;
  if (!c.net_pool6.empty()) {
    auto pool6 = Cidr::parse(c.net_pool6);
    if (!pool6 || pool6->family() != netpolicy::Family::kV6) {
      return PlainError() << "config 'net_pool6' '" << c.net_pool6 << "': not an IPv6 CIDR";
    }
    s.pool6 = *pool6;
  }
  // AddressPool checks the sizes; ask it now so a bad pool stops the daemon at start.
  if (auto p = netpolicy::AddressPool::create(s.pool4, s.pool6); !p) {
    return PlainError() << "config 'net_pool': " << p.error().message;
  }
  for (size_t i = 0; i < c.dns_upstream.size(); ++i) {
    if (auto a = netsvc::SocketAddress::parse(c.dns_upstream[i]); !a) {
      return PlainError() << "config 'dns_upstream[" << i << "]' '" << c.dns_upstream[i]
                          << "': " << a.error().message;
    }
  }
  s.dns_upstream = c.dns_upstream;
  s.boundaries = netpolicy::Boundaries::defaults();
  if (c.always_denied) {
    auto list = cidrList(*c.always_denied, "always_denied");
    if (!list) return list.error();
    s.boundaries.always_denied = {};
    for (const Cidr& cidr : *list) s.boundaries.always_denied.add(cidr);
  }
  if (c.private_ranges) {
    auto list = cidrList(*c.private_ranges, "private_ranges");
    if (!list) return list.error();
    s.boundaries.private_ranges = {};
    for (const Cidr& cidr : *list) s.boundaries.private_ranges.add(cidr);
  }
  if (c.proxy_port == 0 || c.proxy_port == netpolicy::kDnsPort) {
    return PlainError() << "config 'proxy_port': must be a port other than 0 and 53";
  }
  s.proxy_port = c.proxy_port;
  return s;
}

Result<std::unique_ptr<NetworkHost>> NetworkHost::start(const NetworkSettings& settings) {
  auto log = logger("network");
  std::unique_ptr<NetworkHost> host(new NetworkHost());
  host->settings_ = settings;

  std::vector<netsvc::SocketAddress> upstreams;
  if (settings.dns_upstream.empty()) {
    auto fromHost = netsvc::upstreamsFromResolvConf();
    if (!fromHost) return PlainError() << "DNS upstream: " << fromHost.error().describe();
    upstreams = *fromHost;
  } else {
    for (const auto& text : settings.dns_upstream)
      upstreams.push_back(*netsvc::SocketAddress::parse(text));
  }
  for (const auto& u : upstreams) host->upstream_text_.push_back(u.toString());

  // No policy opens the host itself or another sandbox.
  host->table_.pool4 = settings.pool4;
  host->table_.pool6 = settings.pool6;
  host->table_.proxy_port = settings.proxy_port;
  host->table_.boundaries = settings.boundaries;
  for (const Cidr& a : hostAddresses()) host->table_.boundaries.always_denied.add(a);
  host->table_.boundaries.always_denied.add(settings.pool4);
  if (settings.pool6) host->table_.boundaries.always_denied.add(*settings.pool6);
  host->pool_ = *netpolicy::AddressPool::create(settings.pool4, settings.pool6);

  auto nft = netpolicy::NftContext::create();
  if (!nft) return PlainError() << "nftables: " << nft.error().describe();
  host->nft_ = std::make_unique<netpolicy::NftContext>(std::move(*nft));

  auto forwarding = netpolicy::enableIpv4Forwarding();
  if (!forwarding) return PlainError() << "IPv4 forwarding: " << forwarding.error().describe();
  host->forwarding_ = std::make_unique<netpolicy::SysctlChange>(*forwarding);
  // From here on, a failure stops what was started (the destructor runs stop()).
  if (auto r = host->applyNft(netpolicy::planTableCreate(host->table_)); !r) {
    return PlainError() << "nftables table inet " << netpolicy::kNftTable << ": "
                        << r.error().describe();
  }
  host->table_created_ = true;

  NetworkHost* self = host.get();
  netsvc::SandboxLookup lookup = [self](const IpAddress& local, const IpAddress& peer) {
    return self->lookup(local, peer);
  };
  netsvc::DnsStubOptions stub_options;
  stub_options.resolver.upstreams = upstreams;
  host->stub_ = std::make_unique<netsvc::DnsStub>(
      stub_options, lookup,
      [self](const netsvc::SandboxContext& sandbox, const netsvc::AnsweredName& answer) {
        // Before the answer leaves: the addresses open on every port for the answer's life.
        auto plan = netpolicy::planResolvedAdd(keyOf(sandbox.id), answer.addresses,
                                               std::max(answer.ttl, kMinResolvedSeconds));
        if (plan) {
          if (auto r = self->applyNft(*plan); !r) {
            logger("network")->warn("[{}] resolved set: {}", sandbox.id, r.error().describe());
          }
        }
      });
  netsvc::EgressProxyOptions proxy_options;
  proxy_options.resolver.upstreams = upstreams;
  host->proxy_ = std::make_unique<netsvc::EgressProxy>(proxy_options, lookup);
  host->stub_->start();
  host->proxy_->start();
  std::string upstream_list;
  for (const auto& u : host->upstream_text_)
    upstream_list += (upstream_list.empty() ? "" : ", ") + u;
  log->info("network: pool {}{}{}, DNS upstream {}, proxy port {}", settings.pool4.toString(),
            settings.pool6 ? " and " : "", settings.pool6 ? settings.pool6->toString() : "",
            upstream_list, settings.proxy_port);
  return host;
}

NetworkHost::~NetworkHost() { stop(); }

void NetworkHost::rememberForwarding(const std::string& record_path) {
  auto log = logger("network");
  if (auto text = readFile(record_path, 4096)) {
    json j = json::parse(*text, nullptr, false);
    if (j.is_object() && j.value("changed", false) &&
        j.value("path", "") == netpolicy::kIpv4ForwardSysctl) {
      netpolicy::SysctlChange earlier{j.value("path", ""), j.value("previous", ""),
                                      j.value("written", ""), true};
      log->info("network: IPv4 forwarding was {} before an earlier declawd set it",
                earlier.previous);
      forwarding_ = std::make_unique<netpolicy::SysctlChange>(std::move(earlier));
    }
  }
  if (!forwarding_ || !forwarding_->changed) return;
  json j = {{"path", forwarding_->path},
            {"previous", forwarding_->previous},
            {"written", forwarding_->written},
            {"changed", true}};
  if (auto r = writeFile(record_path, j.dump()); !r) {
    log->warn("network: {}: {}", record_path, r.error().describe());
  }
}

void NetworkHost::stop(bool keep_kernel_state) {
  if (stopped_) return;
  stopped_ = true;
  auto log = logger("network");
  if (proxy_) proxy_->stop();
  if (stub_) stub_->stop();
  if (keep_kernel_state) {
    log->info("network: table inet {} and forwarding kept for the sandboxes left running",
              netpolicy::kNftTable);
    return;
  }
  if (table_created_) {
    if (auto r = applyNft(netpolicy::planTableDelete()); !r) {
      log->warn("deleting table inet {}: {}", netpolicy::kNftTable, r.error().describe());
    }
  }
  if (forwarding_) {
    if (auto r = netpolicy::restoreSysctl(*forwarding_); !r) {
      log->warn("restoring IPv4 forwarding: {}", r.error().describe());
    }
  }
}

void NetworkHost::removeLeftover(const std::string& sandbox_id) {
  auto name = netpolicy::hostIfName(keyOf(sandbox_id));
  if (!name) return;
  if (auto r = netpolicy::deleteLink(*name); !r) {
    logger("network")->warn("[{}] leftover link {}: {}", sandbox_id, *name, r.error().describe());
  }
}

Result<std::string> NetworkHost::applyNft(const json& document) {
  std::lock_guard lock(nft_mutex_);
  return nft_->apply(document);
}

Result<netpolicy::Decider> NetworkHost::deciderFor(const netpolicy::Policy& policy) const {
  return netpolicy::Decider(policy, table_.boundaries);
}

std::shared_ptr<const netsvc::SandboxContext> NetworkHost::lookup(const IpAddress& local,
                                                                  const IpAddress& peer) {
  std::lock_guard lock(mutex_);
  auto it = by_gateway_.find(local);
  if (it == by_gateway_.end() || it->second.sandbox != peer) return nullptr;
  return it->second.context;
}

void NetworkHost::setContext(const SandboxNetwork& sandbox, netpolicy::Decider decider) {
  auto context = std::make_shared<const netsvc::SandboxContext>(
      netsvc::SandboxContext{sandbox.id_, std::move(decider), sandbox.stats_});
  std::lock_guard lock(mutex_);
  by_gateway_[sandbox.lease_.v4.host] = {sandbox.lease_.v4.sandbox, context};
  if (sandbox.lease_.v6)
    by_gateway_[sandbox.lease_.v6->host] = {sandbox.lease_.v6->sandbox, context};
}

Result<void> NetworkHost::checkAllows(const std::vector<std::string>& allow_out) const {
  for (size_t i = 0; i < allow_out.size(); ++i) {
    auto cidr = Cidr::parse(allow_out[i]);
    if (!cidr) continue;  // a name, a wildcard or ALL_TRAFFIC
    for (const Cidr& denied : table_.boundaries.always_denied.entries()) {
      if (denied.contains(*cidr)) {
        return ErrnoError(EINVAL) << "allow_out[" << i << "] '" << allow_out[i]
                                  << "': always denied (inside " << denied.toString()
                                  << "); no policy opens it";
      }
    }
  }
  return {};
}

Result<std::shared_ptr<SandboxNetwork>> NetworkHost::newShare(const std::string& sandbox_id) {
  auto sandbox = std::make_shared<SandboxNetwork>();
  sandbox->id_ = sandbox_id;
  sandbox->key_ = keyOf(sandbox_id);
  auto name = netpolicy::hostIfName(sandbox->key_);
  if (!name) return name.error();
  sandbox->ifname_ = *name;
  sandbox->stats_ = std::make_shared<netsvc::SandboxNetStats>();
  return sandbox;
}

Result<std::shared_ptr<SandboxNetwork>> NetworkHost::reserve(const std::string& sandbox_id,
                                                             const netpolicy::Policy& policy) {
  auto made = newShare(sandbox_id);
  if (!made) return made.error();
  std::shared_ptr<SandboxNetwork> sandbox = std::move(*made);
  {
    std::lock_guard lock(mutex_);
    auto lease = pool_->allocate();
    if (!lease)
      return ErrnoError(EDQUOT) << "no free address in the pool " << settings_.pool4.toString();
    sandbox->lease_ = *lease;
  }
  setContext(*sandbox, netpolicy::Decider(policy, table_.boundaries));
  return sandbox;
}

Result<std::shared_ptr<SandboxNetwork>> NetworkHost::adopt(const std::string& sandbox_id,
                                                           const std::string& subnet,
                                                           const netpolicy::Policy& policy) {
  auto cidr = Cidr::parse(subnet);
  if (!cidr) return ErrnoError(EINVAL) << "its subnet '" << subnet << "' is not a CIDR";
  auto made = newShare(sandbox_id);
  if (!made) return made.error();
  std::shared_ptr<SandboxNetwork> sandbox = std::move(*made);
  {
    std::lock_guard lock(mutex_);
    auto lease = pool_->reserve(*cidr);
    if (!lease) return ErrnoError(EADDRINUSE) << lease.error().describe();
    sandbox->lease_ = *lease;
  }
  setContext(*sandbox, netpolicy::Decider(policy, table_.boundaries));
  Result<void> plugged = [&]() -> Result<void> {
    std::lock_guard lock(sandbox->mutex_);
    sandbox->link_created_ = true;  // the previous daemon's: release deletes it
    if (!netpolicy::linkCounters(sandbox->ifname_)) {
      return ErrnoError(ENOLINK) << "its link " << sandbox->ifname_ << " is gone";
    }
    netpolicy::SandboxNet net{sandbox->key_, sandbox->lease_};
    auto chains =
        netpolicy::planSandboxAdd(table_, net, netpolicy::Decider(policy, table_.boundaries));
    if (!chains) return chains.error();
    sandbox->nft_added_ = true;
    if (auto r = applyNft(*chains); !r) return r.error();
    sandbox->listening_ = true;
    std::vector<IpAddress> gateways{sandbox->lease_.v4.host};
    if (sandbox->lease_.v6) gateways.push_back(sandbox->lease_.v6->host);
    for (const IpAddress& gateway : gateways) {
      if (auto r = stub_->addListener({gateway, netpolicy::kDnsPort}); !r) return r.error();
      if (auto r = proxy_->addListener({gateway, settings_.proxy_port}); !r) return r.error();
    }
    return {};
  }();
  if (!plugged) {
    release(*sandbox);  // the lease, what was made of chains and listeners, and the link
    return plugged.error();
  }
  return sandbox;
}

Result<runtime::NetworkConfig> NetworkHost::plug(SandboxNetwork& sandbox, pid_t init_pid,
                                                 int init_pidfd) {
  std::lock_guard lock(sandbox.mutex_);
  if (sandbox.released_) return ErrnoError(ESRCH) << "the sandbox is gone";
  auto plan = netpolicy::planSandboxVeth(sandbox.key_, sandbox.lease_);
  if (!plan) return plan.error();
  {
    // The namespace's fd must not outlive this block: it would keep the namespace, and so the
    // veth, alive after init has died.
    auto netns = netpolicy::openNetnsOf(init_pid, init_pidfd);
    if (!netns) return netns.error();
    sandbox.link_created_ = true;  // createVeth may fail halfway; release deletes the name
    if (auto r = netpolicy::createVeth(*plan, *netns); !r) return r.error();
  }
  runtime::NetworkConfig config;
  config.interface = std::string(netpolicy::kSandboxIfName);
  config.address = sandbox.lease_.v4.sandbox.toString();
  config.prefix_len = netpolicy::kSandboxV4PrefixLength;
  config.gateway = sandbox.lease_.v4.host.toString();
  config.nameserver = config.gateway;
  if (sandbox.lease_.v6) {
    config.address6 = sandbox.lease_.v6->sandbox.toString();
    config.prefix_len6 = netpolicy::kSandboxV6PrefixLength;
    config.gateway6 = sandbox.lease_.v6->host.toString();
  }
  return config;
}

Result<void> NetworkHost::guard(SandboxNetwork& sandbox) {
  std::lock_guard lock(sandbox.mutex_);
  if (sandbox.released_) return ErrnoError(ESRCH) << "the sandbox is gone";
  netpolicy::SandboxNet net{sandbox.key_, sandbox.lease_};
  std::shared_ptr<const netsvc::SandboxContext> context;
  {
    std::lock_guard routes(mutex_);
    context = by_gateway_.at(sandbox.lease_.v4.host).context;
  }
  auto chains = netpolicy::planSandboxAdd(table_, net, context->decider);
  if (!chains) return chains.error();
  sandbox.nft_added_ = true;
  if (auto r = applyNft(*chains); !r) return r.error();
  sandbox.listening_ = true;
  std::vector<IpAddress> gateways{sandbox.lease_.v4.host};
  if (sandbox.lease_.v6) gateways.push_back(sandbox.lease_.v6->host);
  for (const IpAddress& gateway : gateways) {
    if (auto r = stub_->addListener({gateway, netpolicy::kDnsPort}); !r) return r.error();
    if (auto r = proxy_->addListener({gateway, settings_.proxy_port}); !r) return r.error();
  }

  return {};
}

Result<void> NetworkHost::update(SandboxNetwork& sandbox, const netpolicy::Policy& policy) {
  std::lock_guard lock(sandbox.mutex_);
  if (sandbox.released_) return ErrnoError(ESRCH) << "the sandbox is gone";
  netpolicy::Decider decider(policy, table_.boundaries);
  if (sandbox.nft_added_) {
    auto plan = netpolicy::planSandboxUpdate(table_, {sandbox.key_, sandbox.lease_}, decider);
    if (!plan) return plan.error();
    if (auto r = applyNft(*plan); !r) return r.error();
  }
  // The firewall first, then the names: a moment where the proxy already allows what the
  // firewall does not yet is harmless, the other way round would not be.
  setContext(sandbox, std::move(decider));
  return {};
}

void NetworkHost::release(SandboxNetwork& sandbox) {
  std::lock_guard lock(sandbox.mutex_);
  if (sandbox.released_) return;
  sandbox.released_ = true;
  auto log = logger("network");
  std::vector<IpAddress> gateways{sandbox.lease_.v4.host};
  if (sandbox.lease_.v6) gateways.push_back(sandbox.lease_.v6->host);
  if (sandbox.listening_) {
    for (const IpAddress& gateway : gateways) {
      stub_->removeListener({gateway, netpolicy::kDnsPort});
      proxy_->removeListener({gateway, settings_.proxy_port});
    }
  }
  {
    std::lock_guard routes(mutex_);
    for (const IpAddress& gateway : gateways) by_gateway_.erase(gateway);
  }
  if (sandbox.nft_added_) {
    auto plan = netpolicy::planSandboxRemove(sandbox.key_);
    if (plan) {
      if (auto r = applyNft(*plan); !r)
        log->warn("[{}] nft remove: {}", sandbox.id_, r.error().describe());
    }
  }
  if (sandbox.link_created_) {
    if (auto r = netpolicy::deleteLink(sandbox.ifname_); !r) {
      log->warn("[{}] link {}: {}", sandbox.id_, sandbox.ifname_, r.error().describe());
    }
  }
  std::lock_guard pool(mutex_);
  if (!pool_->release(sandbox.lease_.slot)) {
    log->error("[{}] address slot {} released twice", sandbox.id_, sandbox.lease_.slot);
  }
}

void NetworkHost::describe(SandboxNetwork& sandbox, api::NetworkInfo& info, Counters counters) {
  info.address = sandbox.lease_.v4.sandbox.toString();
  info.gateway = sandbox.lease_.v4.host.toString();
  if (sandbox.lease_.v6) info.address6 = sandbox.lease_.v6->sandbox.toString();
  info.interface = sandbox.ifname_;
  netsvc::NetStatsSnapshot s = sandbox.stats_->snapshot();
  info.refused.dns = s.dns_refused;
  info.refused.proxy = s.proxy_refused;
  info.refused.firewall_packets = sandbox.dropped_seen_;
  if (counters == Counters::kCached) return;
  // The packets the sandbox's chains dropped, from its nft counter.
  std::string command = "list counter inet " + std::string(netpolicy::kNftTable) + " sbx_" +
                        sandbox.key_ + "_dropped";
  Result<std::string> listed = [&] {
    std::lock_guard lock(nft_mutex_);
    return nft_->run(command);
  }();
  if (!listed) return;
  json doc = json::parse(*listed, nullptr, false);
  if (!doc.is_object() || !doc.contains("nftables")) return;
  for (const json& item : doc["nftables"]) {
    if (item.contains("counter") && item["counter"].contains("packets")) {
      info.refused.firewall_packets = item["counter"]["packets"].get<uint64_t>();
      sandbox.dropped_seen_ = info.refused.firewall_packets;
    }
  }
}

std::optional<std::pair<uint64_t, uint64_t>> NetworkHost::traffic(const SandboxNetwork& sandbox) {
  auto counters = netpolicy::linkCounters(sandbox.ifname_);
  if (!counters) return std::nullopt;
  // The host end's rx is what the sandbox sent.
  return std::make_pair(counters->tx_bytes, counters->rx_bytes);
}

api::HealthNetwork NetworkHost::healthInfo() const {
  api::HealthNetwork h;
  h.pool = settings_.pool4.toString();
  if (settings_.pool6) h.pool6 = settings_.pool6->toString();
  h.dns_upstream = upstream_text_;
  h.proxy_port = settings_.proxy_port;
  return h;
}

}  // namespace declaw::daemon
