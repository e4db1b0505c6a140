// The DNS stub's decisions, as pure functions over a sandbox's Decider (no sockets).
//
// What the stub answers:
//   - A and AAAA (and ANY, answered as both) for a name the policy allows: the upstream's
//     addresses that decideConnection(name, address) allows. Addresses it refuses (private,
//     link-local, always denied, denied by a CIDR rule for a name allowed only by default) are
//     left out; when none is left the answer is NOERROR with no records (NODATA), as a filtering
//     resolver answers, so a client asking for A and AAAA together does not fail on the half
//     that was filtered.
//   - NXDOMAIN for a name the policy denies, and for what is not a host name: clients stop at
//     once and nothing about the name leaves the host.
//   - REFUSED for every other type (MX, TXT, SRV, HTTPS, ...) and class, whatever the name:
//     TXT and the like are the classic DNS tunnels, and HTTPS/SVCB records would hand clients
//     ECH keys that hide the real server name from the egress proxy.
//   - SERVFAIL when the upstream fails or a limit is reached; FORMERR for what cannot be parsed.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netpolicy/addr.h"
#include "netpolicy/dns_message.h"
#include "netpolicy/policy.h"

namespace declaw::netsvc {

enum class StubStep {
  kReply,    // answer at once with `rcode` and no records
  kResolve,  // ask the upstream for `qtypes`, then filterAnswer
};

struct StubPlan {
  StubStep step = StubStep::kReply;
  netpolicy::DnsRcode rcode = netpolicy::DnsRcode::kRefused;
  bool refusal = false;  // counted in dns_refused and logged
  std::string why;       // for the log: "not in allow_out", "only A and AAAA are answered"
  std::vector<uint16_t> qtypes;
};

StubPlan planStubQuery(const netpolicy::Decider& decider, const netpolicy::DnsQuery& query);

struct FilteredAnswer {
  std::vector<netpolicy::IpAddress> allowed;
  std::vector<std::pair<netpolicy::IpAddress, netpolicy::Reason>> refused;
};

// Splits the upstream's addresses for `name` into those the sandbox may be told and the rest.
FilteredAnswer filterAnswer(const netpolicy::Decider& decider, std::string_view name,
                            std::span<const netpolicy::IpAddress> addresses);

}  // namespace declaw::netsvc
