#include "netsvc/proxy_policy.h"

#include <algorithm>

#include "netpolicy/domain.h"

namespace declaw::netsvc {
namespace {

using netpolicy::SniffStatus;

constexpr uint8_t kTlsHandshakeRecord = 22;
constexpr uint8_t kTlsAlertRecord = 21;
constexpr uint8_t kTlsAlertFatal = 2;
constexpr uint8_t kTlsAccessDenied = 49;
constexpr uint8_t kTlsInternalError = 80;

std::string tlsAlert(uint8_t description) {
  // Record header (type, legacy version 3.3, length 2), then level and description.
  const char alert[] = {
      static_cast<char>(kTlsAlertRecord), 3, 3, 0, 2, static_cast<char>(kTlsAlertFatal),
      static_cast<char>(description)};
  return std::string(alert, sizeof alert);
}

std::string httpResponse(std::string_view status, std::string_view body) {
  return "HTTP/1.1 " + std::string(status) +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + std::string(body);
}

}  // namespace

ProxyProtocol protocolOf(std::span<const uint8_t> data) {
  return !data.empty() && data[0] == kTlsHandshakeRecord ? ProxyProtocol::kTls
                                                         : ProxyProtocol::kHttp;
}

netpolicy::SniffResult sniffFirstBytes(ProxyProtocol protocol, std::span<const uint8_t> data) {
  return protocol == ProxyProtocol::kTls ? netpolicy::sniffTlsServerName(data)
                                         : netpolicy::sniffHttpHost(data);
}

size_t sniffLimit(ProxyProtocol protocol) {
  // A ClientHello may span records: the body limit plus a record header per 16 KiB record.
  return protocol == ProxyProtocol::kTls ? netpolicy::kMaxClientHelloBytes + 64
                                         : netpolicy::kMaxHttpHeadBytes;
}

ProxyPlan planConnection(const netpolicy::Decider& decider, const netpolicy::SniffResult& sniff,
                         const netpolicy::IpAddress& original_destination) {
  ProxyPlan plan;
  plan.name = sniff.host;
  if (sniff.status == SniffStatus::kInvalid || sniff.status == SniffStatus::kNeedMore) {
    plan.why = sniff.reason.empty() ? "unreadable first bytes" : sniff.reason;
    return plan;
  }
  bool by_address =
      sniff.status == SniffStatus::kNoName || netpolicy::IpAddress::parse(sniff.host).ok();
  if (by_address) {
    netpolicy::Decision d = decider.decideAddress(original_destination);
    if (!d.allowed()) {
      plan.why = std::string(netpolicy::describe(d.reason));
      return plan;
    }
    plan.step = ProxyStep::kConnectOriginal;
    return plan;
  }
  netpolicy::Decision d = decider.decideName(sniff.host);
  if (!d.allowed()) {
    plan.why = std::string(netpolicy::describe(d.reason));
    return plan;
  }
  auto normalized = netpolicy::normalizeHostName(sniff.host);
  if (!normalized) {  // decideName refuses what does not normalise; kept for the type system
    plan.why = "not a host name";
    return plan;
  }
  plan.step = ProxyStep::kResolveName;
  plan.name = *normalized;
  return plan;
}

UpstreamPlan planUpstream(const netpolicy::Decider& decider, std::string_view name,
                          std::span<const netpolicy::IpAddress> resolved,
                          const netpolicy::IpAddress& original_destination) {
  UpstreamPlan plan;
  std::vector<netpolicy::IpAddress> allowed;
  for (const auto& address : resolved) {
    netpolicy::Decision d = decider.decideConnection(name, address);
    if (!d.allowed()) {
      plan.refused.emplace_back(address, d.reason);
    } else if (std::find(allowed.begin(), allowed.end(), address) == allowed.end()) {
      allowed.push_back(address);
    }
  }
  netpolicy::IpAddress original = original_destination.unmapped();
  auto rank = [&](const netpolicy::IpAddress& a) {
    if (a == original) return 0;
    return a.family() == original.family() ? 1 : 2;
  };
  std::stable_sort(allowed.begin(), allowed.end(),
                   [&](const auto& x, const auto& y) { return rank(x) < rank(y); });
  if (allowed.size() > kMaxConnectAttempts) allowed.resize(kMaxConnectAttempts);
  plan.order = std::move(allowed);
  return plan;
}

std::string refusalMessage(ProxyProtocol protocol, std::string_view host, std::string_view why) {
  if (protocol == ProxyProtocol::kTls) return tlsAlert(kTlsAccessDenied);
  std::string shown = host.empty() ? "this destination" : std::string(host);
  return httpResponse("403 Forbidden", "declaw: " + shown +
                                           " is not allowed by this sandbox's network policy (" +
                                           std::string(why) + ")\n");
}

std::string unreachableMessage(ProxyProtocol protocol, std::string_view host) {
  if (protocol == ProxyProtocol::kTls) return tlsAlert(kTlsInternalError);
  return httpResponse("502 Bad Gateway",
                      "declaw: could not connect to " + std::string(host) + "\n");
}

}  // namespace declaw::netsvc
