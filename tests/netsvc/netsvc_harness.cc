// A stand-in for declawd's wiring, for tests/integration/test_netsvc.py: runs the DNS stub and
// the egress proxy for one sandbox (one gateway address per family, one sandbox address) and
// takes commands on stdin, one per line:
//   stats                       -> {"event": "stats", ...counters}
//   policy {"allow_out": [...]} -> swaps the sandbox's policy (a live PATCH), {"event": "policy"}
//   quit, or EOF                -> stops both services and exits
// It prints {"event": "ready"} once listening, and {"event": "answered", ...} for every answer
// the stub's hook sees. Logs go to stderr.
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/log.h"
#include "netpolicy/policy.h"
#include "netsvc/dns_stub.h"
#include "netsvc/egress_proxy.h"

using namespace declaw;
using namespace declaw::netsvc;
using nlohmann::json;

namespace {

struct Args {
  std::vector<netpolicy::IpAddress> gateways;
  std::vector<netpolicy::IpAddress> sandboxes;
  uint16_t dns_port = 53;
  uint16_t proxy_port = 3128;
  std::vector<SocketAddress> upstreams;
  json network = json::object();
  EgressProxyOptions proxy;
  DnsStubOptions stub;
  std::string log_level = "info";
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "netsvc_harness: " << why << "\n";
  std::exit(2);
}

Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage("missing value for " + flag);
    std::string value = argv[++i];
    auto ip = [&] {
      auto parsed = netpolicy::IpAddress::parse(value);
      if (!parsed) usage(flag + ": " + parsed.error().message);
      return *parsed;
    };
    auto ms = [&] { return std::chrono::milliseconds(std::stoll(value)); };
    if (flag == "--gateway") {
      a.gateways.push_back(ip());
    } else if (flag == "--sandbox") {
      a.sandboxes.push_back(ip());
    } else if (flag == "--dns-port") {
      a.dns_port = static_cast<uint16_t>(std::stoi(value));
    } else if (flag == "--proxy-port") {
      a.proxy_port = static_cast<uint16_t>(std::stoi(value));
    } else if (flag == "--dns-upstream") {
      auto parsed = SocketAddress::parse(value);
      if (!parsed) usage(parsed.error().message);
      a.upstreams.push_back(*parsed);
    } else if (flag == "--network") {
      a.network = json::parse(value);
    } else if (flag == "--first-bytes-ms") {
      a.proxy.first_bytes_timeout = ms();
    } else if (flag == "--idle-ms") {
      a.proxy.idle_timeout = ms();
    } else if (flag == "--max-per-sandbox") {
      a.proxy.max_connections_per_sandbox = static_cast<uint32_t>(std::stoul(value));
    } else if (flag == "--log-level") {
      a.log_level = value;
    } else {
      usage("unknown flag " + flag);
    }
  }
  if (a.gateways.empty() || a.gateways.size() != a.sandboxes.size()) {
    usage("give --gateway and --sandbox, once per family");
  }
  return a;
}

std::mutex out_mutex;
void emit(const json& line) {
  std::lock_guard lock(out_mutex);
  std::cout << line.dump() << std::endl;
}

Result<netpolicy::Decider> deciderFor(const json& network) {
  auto spec = netpolicy::networkSpecFromJson(network, true);
  if (!spec) return spec.error();
  auto policy = netpolicy::parsePolicy(*spec);
  if (!policy) return policy.error();
  return netpolicy::Decider(*policy, netpolicy::Boundaries::defaults());
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parseArgs(argc, argv);
  setupLogging(args.log_level);
  if (args.upstreams.empty()) {
    auto fromHost = upstreamsFromResolvConf();
    if (!fromHost) usage(fromHost.error().describe());
    args.upstreams = *fromHost;
  }
  auto decider = deciderFor(args.network);
  if (!decider) usage(decider.error().message);

  auto stats = std::make_shared<SandboxNetStats>();
  std::mutex mutex;
  auto context = std::make_shared<const SandboxContext>(
      SandboxContext{"sbx-harness", std::move(*decider), stats});
  SandboxLookup lookup =
      [&](const netpolicy::IpAddress& local,
          const netpolicy::IpAddress& peer) -> std::shared_ptr<const SandboxContext> {
    for (size_t i = 0; i < args.gateways.size(); ++i) {
      if (local == args.gateways[i] && peer == args.sandboxes[i]) {
        std::lock_guard lock(mutex);
        return context;
      }
    }
    return nullptr;
  };

  args.stub.resolver.upstreams = args.upstreams;
  args.proxy.resolver.upstreams = args.upstreams;
  DnsStub stub(args.stub, lookup, [](const SandboxContext& sandbox, const AnsweredName& answer) {
    json addresses = json::array();
    for (const auto& a : answer.addresses) addresses.push_back(a.toString());
    emit({{"event", "answered"},
          {"sandbox", sandbox.id},
          {"name", answer.name},
          {"addresses", addresses},
          {"ttl", answer.ttl}});
  });
  EgressProxy proxy(args.proxy, lookup);
  stub.start();
  proxy.start();
  for (const auto& gateway : args.gateways) {
    if (auto r = stub.addListener({gateway, args.dns_port}); !r) usage(r.error().describe());
    if (auto r = proxy.addListener({gateway, args.proxy_port}); !r) usage(r.error().describe());
  }
  emit({{"event", "ready"}});

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit") break;
    if (line == "stats") {
      NetStatsSnapshot s = stats->snapshot();
      emit({{"event", "stats"},
            {"dns_queries", s.dns_queries},
            {"dns_answered", s.dns_answered},
            {"dns_refused", s.dns_refused},
            {"dns_addresses_refused", s.dns_addresses_refused},
            {"dns_failed", s.dns_failed},
            {"proxy_connections", s.proxy_connections},
            {"proxy_allowed", s.proxy_allowed},
            {"proxy_refused", s.proxy_refused},
            {"proxy_failed", s.proxy_failed},
            {"proxy_active", s.proxy_active},
            {"proxy_active_all", proxy.activeConnections()},
            {"dns_in_flight", stub.inFlight()}});
    } else if (line.starts_with("policy ")) {
      auto next = deciderFor(json::parse(line.substr(7)));
      if (!next) {
        emit({{"event", "error"}, {"message", next.error().message}});
        continue;
      }
      std::lock_guard lock(mutex);
      context = std::make_shared<const SandboxContext>(
          SandboxContext{context->id, std::move(*next), stats});
      emit({{"event", "policy"}});
    } else {
      emit({{"event", "error"}, {"message", "unknown command"}});
    }
  }
  proxy.stop();
  stub.stop();
  emit({{"event", "stopped"}});
  return 0;
}
