// The egress policy of one sandbox: parsing `network={"allow_out": [...], "deny_out": [...]}`
// and deciding, for an address or a host name, whether the sandbox may reach it.
//
// Semantics, following the hosted Declaw SDK (docs.declaw.ai: features/networking,
// security/network-policies, cookbook/network/network-domain-allowlist) and E2B's
// (e2b docs: sandbox/internet-access), which Declaw's API mirrors:
//   - No allow_out and no deny_out: all public destinations (hosted: "by default, sandboxes have
//     unrestricted outbound internet access").
//   - deny_out only: everything but the denied destinations (the metadata-blocking cookbook).
//   - allow_out given: only the allowed destinations. Declaw's cookbook says "allow_out creates
//     an implicit deny-all for unmatched destinations"; its examples and E2B's add
//     deny_out=[ALL_TRAFFIC], and E2B requires it for domain rules. Both spellings mean the same
//     here, so code written for either service keeps its meaning.
//   - Allow wins over deny, whatever the order (both services: "allow rules always take
//     precedence over deny rules").
//   - ALL_TRAFFIC is the SDK constant, whose value on the wire is the string "0.0.0.0/0"; both
//     "ALL_TRAFFIC" and "0.0.0.0/0" mean every IPv4 and IPv6 destination and every name, so a
//     sandbox with an IPv6 address is not left open by a rule written for IPv4. "::/0" alone means
//     all IPv6 addresses only.
//   - Domains ("example.com") and wildcards ("*.example.com": subdomains, not the apex) are
//     accepted in both lists, as Declaw documents (E2B refuses domains in deny_out). Declaw's
//     "~regex" entries are refused. Name rules bind HTTP (Host) and TLS (SNI) on TCP 80/443, which
//     the firewall redirects to the egress proxy, and the DNS stub; other ports are decided by
//     address (see decideConnection for the addresses a name resolved to).
//   - allow_internet_access=false denies everything, whatever the lists say: the sandbox's netns
//     has only lo (DESIGN.md). The lists are still validated.
//
// Above every policy stand the Boundaries, which no allow rule opens (DESIGN.md, issue 5):
//   - always_denied: loopback, "this network", link-local (cloud metadata), multicast, reserved,
//     plus what the daemon adds: the host's own addresses and the address pool (other sandboxes).
//   - private_ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, NAT64 prefixes): denied
//     unless an allow_out CIDR inside one of them covers the address. "Names them" means the allow
//     prefix lies within the private range: 10.1.0.0/16 opens 10.1.x.x, but ALL_TRAFFIC or
//     8.0.0.0/6 opens no private address. A domain rule never opens one either: names that
//     resolve to private addresses are refused (DNS rebinding).
//   - 198.18.0.0/15, the tests' "internet", is on neither list.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "netpolicy/addr.h"
#include "netpolicy/domain.h"

namespace declaw::netpolicy {

// Limits on what a client may ask for: entries per list, and the sum of the entries' lengths.
inline constexpr size_t kMaxEntriesPerList = 256;
inline constexpr size_t kMaxPolicyBytes = 64 * 1024;
// Wildcards in allow_out must name at least this many labels after "*.": "*.com" would open a
// whole top-level domain. deny_out may be as broad as it likes ("*.ru").
inline constexpr size_t kMinAllowWildcardLabels = 2;
inline constexpr std::string_view kAllTraffic = "ALL_TRAFFIC";

// The request, as the API decodes it.
struct NetworkSpec {
  bool allow_internet_access = true;
  std::vector<std::string> allow_out;
  std::vector<std::string> deny_out;
};

// One list, parsed.
struct RuleList {
  bool all_traffic = false;
  PrefixSet cidrs;
  std::vector<DomainPattern> names;
  // The entries in canonical text form, in the client's order, without duplicates (for GET).
  std::vector<std::string> entries;

  bool empty() const { return !all_traffic && cidrs.empty() && names.empty(); }
  bool matchesName(std::string_view normalized_name) const;
};

struct Policy {
  bool internet = true;
  RuleList allow;
  RuleList deny;

  // What a destination that no rule names gets.
  bool defaultAllow() const { return internet && allow.empty() && !deny.all_traffic; }
  // Whether TCP 80/443 must go through the egress proxy: some name rule can change a verdict.
  bool needsProxy() const;
  NetworkSpec toSpec() const;
};

// Reads the API's JSON: `network` is the object {"allow_out": [...], "deny_out": [...]} (either
// list may be missing or null); any other key, or a non-string entry, is an error.
Result<NetworkSpec> networkSpecFromJson(const nlohmann::json& network, bool allow_internet_access);

// Validates and parses `spec`. Errors name the list, the index and the entry:
//   "allow_out[2] '10.0.0.0/33': prefix length must be 0..32"
Result<Policy> parsePolicy(const NetworkSpec& spec);

// What no policy can open. The daemon starts from defaults() and adds the host's addresses and
// its pool to always_denied.
struct Boundaries {
  PrefixSet always_denied;
  PrefixSet private_ranges;
  static Boundaries defaults();
};

enum class Verdict { kAllow, kDeny };

enum class Reason {
  kNoInternet,    // allow_internet_access=false
  kAlwaysDenied,  // Boundaries::always_denied
  kPrivateRange,  // Boundaries::private_ranges, not opened by an allow_out CIDR inside it
  kAllowRule,     // an allow_out entry (or ALL_TRAFFIC) matched
  kDenyRule,      // a deny_out entry (or ALL_TRAFFIC) matched
  kDefaultAllow,  // no rule matched, and the policy allows by default
  kNotAllowed,    // no rule matched, and allow_out makes the default deny
  kBadName,       // not a host name (an IP literal, a malformed name)
};

struct Decision {
  Verdict verdict;
  Reason reason;
  bool allowed() const { return verdict == Verdict::kAllow; }
  bool operator==(const Decision&) const = default;
};

// "private range", "deny rule", ...: for logs and refusal counters.
std::string_view describe(Reason reason);

// Decisions for one sandbox. Pure: the daemon keeps one per sandbox and swaps it on PATCH.
class Decider {
 public:
  Decider(Policy policy, Boundaries boundaries);

  // A connection to `address` by IP (the firewall's question). IPv4-mapped IPv6 addresses are
  // judged as the IPv4 address they carry.
  Decision decideAddress(const IpAddress& address) const;
  // A name seen in SNI, a Host header or a DNS question (the proxy's and the stub's question).
  Decision decideName(std::string_view name) const;
  // Whether the proxy may connect to `resolved`, an address it resolved for `name`, or the DNS
  // stub may answer with it: the name must be allowed and the address within the Boundaries.
  // An explicitly allowed name overrides deny_out address rules (allow wins); a name allowed only
  // by default does not.
  Decision decideConnection(std::string_view name, const IpAddress& resolved) const;

  // The allow_out CIDRs that lie inside a private range: the ones that open it (for nftables).
  PrefixSet privateAllows() const;

  const Policy& policy() const { return policy_; }
  const Boundaries& boundaries() const { return boundaries_; }

 private:
  // Boundaries first: nullopt when the address is within them and the policy decides.
  std::optional<Decision> boundaryVerdict(const IpAddress& address) const;

  Policy policy_;
  Boundaries boundaries_;
};

}  // namespace declaw::netpolicy
