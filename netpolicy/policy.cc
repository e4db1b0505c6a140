#include "netpolicy/policy.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

namespace declaw::netpolicy {
namespace {

// How much of a bad entry an error message echoes: enough to find it, not a 64 KiB echo.
constexpr size_t kMaxEchoedEntry = 64;

// The entry as an error message shows it: truncated, control and non-ASCII bytes escaped.
std::string echoEntry(std::string_view entry) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < entry.size() && i < kMaxEchoedEntry; ++i) {
    auto c = static_cast<unsigned char>(entry[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (entry.size() > kMaxEchoedEntry) out += "...";
  return out;
}

bool looksLikeDottedNumbers(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// The form GET shows: a host prefix as its bare address.
std::string canonicalText(const Cidr& c) {
  return c.isHost() ? c.network().toString() : c.toString();
}

// Parses one entry into `list`. The error says what is wrong with the entry, not where it is.
Result<void> addEntry(std::string_view entry, bool is_allow, RuleList& list) {
  if (entry.empty()) return PlainError() << "empty entry";
  // "0.0.0.0/0" is the SDKs' ALL_TRAFFIC constant on the wire: it must cover IPv6 too.
  if (entry == kAllTraffic || entry == "0.0.0.0/0") {
    list.all_traffic = true;
    list.entries.emplace_back("0.0.0.0/0");
    return Ok{};
  }
  if (entry.front() == '~') return PlainError() << "regex patterns are not supported";
  if (entry.find("://") != std::string_view::npos) {
    return PlainError() << "a URL is not a destination: give its host name";
  }
  if (std::any_of(entry.begin(), entry.end(), [](char c) { return c == ' ' || c == '\t'; })) {
    return PlainError() << "spaces are not allowed";
  }
  size_t slash = entry.find('/');
  if (slash != std::string_view::npos) {
    if (!IpAddress::parse(entry.substr(0, slash))) {
      return PlainError() << "'/' belongs only in a CIDR (address/prefix length)";
    }
    auto cidr = Cidr::parse(entry);
    if (!cidr) return cidr.error();
    list.cidrs.add(*cidr);
    list.entries.push_back(canonicalText(*cidr));
    return Ok{};
  }
  if (auto address = IpAddress::parse(entry)) {
    list.cidrs.add(Cidr::host(*address));
    list.entries.push_back(address->toString());
    return Ok{};
  }
  if (entry.find(':') != std::string_view::npos) {
    return PlainError() << "ports are not supported (an entry is a host, not host:port)";
  }
  if (looksLikeDottedNumbers(entry)) return PlainError() << "not a valid IPv4 address";
  auto pattern = DomainPattern::parse(entry);
  if (!pattern) return pattern.error();
  if (is_allow && pattern->isWildcard() && pattern->labelCount() < kMinAllowWildcardLabels) {
    return PlainError() << "wildcard too broad: allow_out needs '*.' followed by at least "
                        << kMinAllowWildcardLabels << " labels";
  }
  list.names.push_back(*pattern);
  list.entries.push_back(pattern->toString());
  return Ok{};
}

Result<RuleList> parseList(const std::vector<std::string>& entries, std::string_view list_name) {
  if (entries.size() > kMaxEntriesPerList) {
    return PlainError() << list_name << " has " << entries.size() << " entries (at most "
                        << kMaxEntriesPerList << ")";
  }
  RuleList list;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto added = addEntry(entries[i], list_name == "allow_out", list);
    if (!added) {
      return PlainError() << list_name << "[" << i << "] '" << echoEntry(entries[i])
                          << "': " << added.error().message;
    }
  }
  // Duplicates are harmless but would show twice in GET and twice in nftables sets.
  std::vector<std::string> unique;
  for (auto& e : list.entries) {
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  }
  list.entries = std::move(unique);
  return list;
}

}  // namespace

bool RuleList::matchesName(std::string_view normalized_name) const {
  return std::any_of(names.begin(), names.end(),
                     [&](const DomainPattern& p) { return p.matches(normalized_name); });
}

bool Policy::needsProxy() const {
  return internet && !allow.all_traffic && (!allow.names.empty() || !deny.names.empty());
}

NetworkSpec Policy::toSpec() const { return {internet, allow.entries, deny.entries}; }

Result<NetworkSpec> networkSpecFromJson(const nlohmann::json& network, bool allow_internet_access) {
  NetworkSpec spec;
  spec.allow_internet_access = allow_internet_access;
  if (network.is_null()) return spec;
  if (!network.is_object()) return PlainError() << "network must be an object";
  for (const auto& [key, value] : network.items()) {
    std::vector<std::string>* target = nullptr;
    if (key == "allow_out") {
      target = &spec.allow_out;
    } else if (key == "deny_out") {
      target = &spec.deny_out;
    } else {
      return PlainError() << "network: unknown field '" << echoEntry(key) << "'";
    }
    if (value.is_null()) continue;
    if (!value.is_array()) return PlainError() << key << " must be an array of strings";
    if (value.size() > kMaxEntriesPerList) {
      return PlainError() << key << " has " << value.size() << " entries (at most "
                          << kMaxEntriesPerList << ")";
    }
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) return PlainError() << key << "[" << i << "] must be a string";
      target->push_back(value[i].get_ref<const std::string&>());
    }
  }
  return spec;
}

Result<Policy> parsePolicy(const NetworkSpec& spec) {
  size_t total = 0;
  for (const auto* list : {&spec.allow_out, &spec.deny_out}) {
    for (const auto& e : *list) total += e.size();
  }
  if (total > kMaxPolicyBytes) {
    return PlainError() << "network policy too large: " << total << " bytes of entries (at most "
                        << kMaxPolicyBytes << ")";
  }
  auto allow = parseList(spec.allow_out, "allow_out");
  if (!allow) return allow.error();
  auto deny = parseList(spec.deny_out, "deny_out");
  if (!deny) return deny.error();
  Policy p;
  p.internet = spec.allow_internet_access;
  p.allow = std::move(*allow);
  p.deny = std::move(*deny);
  return p;
}

Boundaries Boundaries::defaults() {
  Boundaries b;
  for (const char* c : {
           "0.0.0.0/8",           // "this network": connect() to 0.0.0.0 reaches the host
           "127.0.0.0/8",         // loopback
           "169.254.0.0/16",      // link-local, cloud metadata (169.254.169.254)
           "224.0.0.0/4",         // multicast
           "240.0.0.0/4",         // reserved
           "255.255.255.255/32",  // limited broadcast (inside 240/4; listed for the reader)
           "::/128",              // unspecified: like 0.0.0.0
           "::1/128",             // loopback
           "::ffff:0:0/96",       // IPv4-mapped: decisions unmap them; the firewall drops them
           "fe80::/10",           // link-local
           "ff00::/8",            // multicast
       }) {
    b.always_denied.add(cidrLiteral(c));
  }
  for (const char* c : {
           "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  // RFC 1918
           "100.64.0.0/10",                                  // carrier-grade NAT
           "fc00::/7",                                       // unique local
           "64:ff9b::/96", "64:ff9b:1::/48",  // NAT64: IPv4 behind them may be private
       }) {
    b.private_ranges.add(cidrLiteral(c));
  }
  return b;
}

std::string_view describe(Reason reason) {
  switch (reason) {
    case Reason::kNoInternet:
      return "no internet access";
    case Reason::kAlwaysDenied:
      return "always denied";
    case Reason::kPrivateRange:
      return "private range";
    case Reason::kAllowRule:
      return "allow rule";
    case Reason::kDenyRule:
      return "deny rule";
    case Reason::kDefaultAllow:
      return "allowed by default";
    case Reason::kNotAllowed:
      return "not in allow_out";
    case Reason::kBadName:
      return "not a host name";
  }
  return "unknown";
}

Decider::Decider(Policy policy, Boundaries boundaries)
    : policy_(std::move(policy)), boundaries_(std::move(boundaries)) {}

std::optional<Decision> Decider::boundaryVerdict(const IpAddress& address) const {
  if (boundaries_.always_denied.contains(address)) {
    return Decision{Verdict::kDeny, Reason::kAlwaysDenied};
  }
  bool is_private = false;
  for (const Cidr& range : boundaries_.private_ranges.entries()) {
    if (!range.contains(address)) continue;
    is_private = true;
    for (const Cidr& allowed : policy_.allow.cidrs.entries()) {
      if (range.contains(allowed) && allowed.contains(address)) {
        return Decision{Verdict::kAllow, Reason::kAllowRule};
      }
    }
  }
  if (is_private) return Decision{Verdict::kDeny, Reason::kPrivateRange};
  return std::nullopt;
}

Decision Decider::decideAddress(const IpAddress& address) const {
  if (!policy_.internet) return {Verdict::kDeny, Reason::kNoInternet};
  IpAddress a = address.unmapped();
  if (auto boundary = boundaryVerdict(a)) return *boundary;
  if (policy_.allow.all_traffic || policy_.allow.cidrs.contains(a)) {
    return {Verdict::kAllow, Reason::kAllowRule};
  }
  if (policy_.deny.all_traffic || policy_.deny.cidrs.contains(a)) {
    return {Verdict::kDeny, Reason::kDenyRule};
  }
  if (policy_.defaultAllow()) return {Verdict::kAllow, Reason::kDefaultAllow};
  return {Verdict::kDeny, Reason::kNotAllowed};
}

Decision Decider::decideName(std::string_view name) const {
  if (!policy_.internet) return {Verdict::kDeny, Reason::kNoInternet};
  auto normalized = normalizeHostName(name);
  if (!normalized) return {Verdict::kDeny, Reason::kBadName};
  if (policy_.allow.all_traffic || policy_.allow.matchesName(*normalized)) {
    return {Verdict::kAllow, Reason::kAllowRule};
  }
  if (policy_.deny.all_traffic || policy_.deny.matchesName(*normalized)) {
    return {Verdict::kDeny, Reason::kDenyRule};
  }
  if (policy_.defaultAllow()) return {Verdict::kAllow, Reason::kDefaultAllow};
  return {Verdict::kDeny, Reason::kNotAllowed};
}

Decision Decider::decideConnection(std::string_view name, const IpAddress& resolved) const {
  Decision by_name = decideName(name);
  if (!by_name.allowed()) return by_name;
  IpAddress a = resolved.unmapped();
  if (auto boundary = boundaryVerdict(a)) return *boundary;
  if (by_name.reason == Reason::kAllowRule) return by_name;
  return decideAddress(a);
}

PrefixSet Decider::privateAllows() const {
  PrefixSet out;
  for (const Cidr& allowed : policy_.allow.cidrs.entries()) {
    for (const Cidr& range : boundaries_.private_ranges.entries()) {
      if (range.contains(allowed)) {
        out.add(allowed);
        break;
      }
    }
  }
  return out;
}

}  // namespace declaw::netpolicy
