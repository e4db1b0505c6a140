#include "netsvc/stub_policy.h"

namespace declaw::netsvc {

using netpolicy::DnsRcode;
using netpolicy::DnsType;

StubPlan planStubQuery(const netpolicy::Decider& decider, const netpolicy::DnsQuery& query) {
  StubPlan plan;
  if (query.qclass != netpolicy::kDnsClassIn) {
    plan.refusal = true;
    plan.why = "only class IN is answered";
    return plan;
  }
  switch (query.qtype) {
    case static_cast<uint16_t>(DnsType::kA):
    case static_cast<uint16_t>(DnsType::kAAAA):
      plan.qtypes = {query.qtype};
      break;
    case static_cast<uint16_t>(DnsType::kAny):
      plan.qtypes = {static_cast<uint16_t>(DnsType::kA), static_cast<uint16_t>(DnsType::kAAAA)};
      break;
    default:
      plan.refusal = true;
      plan.why = "only A and AAAA are answered";
      return plan;
  }
  netpolicy::Decision decision = decider.decideName(query.name);
  if (!decision.allowed()) {
    plan.rcode = DnsRcode::kNxDomain;
    plan.refusal = true;
    plan.why = std::string(netpolicy::describe(decision.reason));
    plan.qtypes.clear();
    return plan;
  }
  plan.step = StubStep::kResolve;
  plan.rcode = DnsRcode::kNoError;
  return plan;
}

FilteredAnswer filterAnswer(const netpolicy::Decider& decider, std::string_view name,
                            std::span<const netpolicy::IpAddress> addresses) {
  FilteredAnswer out;
  for (const auto& address : addresses) {
    netpolicy::Decision d = decider.decideConnection(name, address);
    if (d.allowed()) {
      out.allowed.push_back(address);
    } else {
      out.refused.emplace_back(address, d.reason);
    }
  }
  return out;
}

}  // namespace declaw::netsvc
