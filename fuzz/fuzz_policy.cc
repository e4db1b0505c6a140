// Network-policy parsing (netpolicy/policy.h, domain.h, addr.h): the `network` object of a
// create request, each entry as an address, a CIDR, a host name and a domain pattern, and the
// decisions of a Decider built from the result.
//
// Input: either a JSON `network` object ({"allow_out": [...], "deny_out": [...]}), or, when the
// bytes are not JSON, one entry per line ("!" in front puts it in deny_out), so the fuzzer can
// work on entries without JSON quoting.
//
// Invariants: the canonical form of a policy (Policy::toSpec) parses to the same policy; every
// parser's canonical output re-parses to itself; an accepted address has no byte the parser did
// not read; normalized prefix sets are sorted and free of nesting yet cover every input prefix;
// no policy lets a connection reach loopback, link-local/metadata, multicast or "this network",
// by address or by name, nor any address without internet access.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "netpolicy/policy.h"

namespace {

namespace np = declaw::netpolicy;
using declaw::fuzz::show;

constexpr size_t kMaxLines = 64;

np::NetworkSpec specFromLines(std::string_view text) {
  np::NetworkSpec spec;
  while (!text.empty() && spec.allow_out.size() + spec.deny_out.size() < kMaxLines) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.starts_with('!')) {
      spec.deny_out.emplace_back(line.substr(1));
    } else {
      spec.allow_out.emplace_back(line);
    }
  }
  return spec;
}

void checkAddress(std::string_view text) {
  auto address = np::IpAddress::parse(text);
  if (!address) return;
  // inet_pton stops at a NUL: what follows it must not ride along unread.
  FUZZ_CHECK(text.find('\0') == std::string_view::npos, show(text));
  const std::string canonical = address->toString();
  if (address->isV4()) FUZZ_CHECK(canonical == text, show(text) + " -> " + canonical);
  auto again = np::IpAddress::parse(canonical);
  FUZZ_CHECK(again && *again == *address, canonical);
  FUZZ_CHECK(address->unmapped().unmapped() == address->unmapped());
}

void checkCidr(std::string_view text) {
  auto cidr = np::Cidr::parse(text);
  if (!cidr) return;
  FUZZ_CHECK(text.find('\0') == std::string_view::npos, show(text));
  auto again = np::Cidr::parse(cidr->toString());
  FUZZ_CHECK(again && *again == *cidr, cidr->toString());
  FUZZ_CHECK(cidr->contains(cidr->network()));
  FUZZ_CHECK(cidr->contains(*cidr));
  FUZZ_CHECK(np::Cidr::containing(cidr->network(), cidr->prefixLength()) == *cidr);
}

void checkName(std::string_view text) {
  if (auto name = np::normalizeHostName(text)) {
    FUZZ_CHECK(!name->empty() && name->size() <= np::kMaxHostNameLength, *name);
    for (char c : *name) {
      FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.', *name);
    }
    auto again = np::normalizeHostName(*name);
    FUZZ_CHECK(again && *again == *name, *name);
  }
  if (auto pattern = np::DomainPattern::parse(text)) {
    auto again = np::DomainPattern::parse(pattern->toString());
    FUZZ_CHECK(again && *again == *pattern, pattern->toString());
    if (pattern->isWildcard()) {
      FUZZ_CHECK(!pattern->matches(pattern->domain()), pattern->toString());
      FUZZ_CHECK(pattern->matches("a." + pattern->domain()), pattern->toString());
    } else {
      FUZZ_CHECK(pattern->matches(pattern->domain()), pattern->toString());
    }
  }
}

void checkNormalized(const np::PrefixSet& set) {
  for (np::Family family : {np::Family::kV4, np::Family::kV6}) {
    const std::vector<np::Cidr> kept = set.normalized(family);
    for (size_t i = 0; i + 1 < kept.size(); ++i) FUZZ_CHECK(kept[i] < kept[i + 1]);
    for (size_t i = 0; i < kept.size(); ++i) {
      for (size_t j = 0; j < kept.size(); ++j) {
        if (i != j) FUZZ_CHECK(!kept[i].contains(kept[j]), kept[i].toString());
      }
    }
    for (const np::Cidr& c : set.entries()) {
      if (c.family() != family) continue;
      bool covered = false;
      for (const np::Cidr& k : kept) covered |= k.contains(c);
      FUZZ_CHECK(covered, c.toString());
    }
  }
}

// Addresses no policy may open, and a name that resolves to each (DNS rebinding).
void checkBoundaries(const np::Decider& decider, const std::vector<std::string>& names) {
  static const std::vector<np::IpAddress> kForbidden = [] {
    std::vector<np::IpAddress> out;
    for (const char* a : {"127.0.0.1", "0.0.0.0", "169.254.169.254", "224.0.0.1", "::1", "::",
                          "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254"}) {
      out.push_back(np::ipLiteral(a));
    }
    return out;
  }();
  for (const np::IpAddress& a : kForbidden) {
    FUZZ_CHECK(!decider.decideAddress(a).allowed(), a.toString());
    for (const std::string& name : names) {
      FUZZ_CHECK(!decider.decideConnection(name, a).allowed(), name + " -> " + a.toString());
    }
  }
}

void checkPolicy(const np::NetworkSpec& spec) {
  auto policy = np::parsePolicy(spec);
  if (!policy) {
    FUZZ_CHECK(!policy.error().message.empty());
    return;
  }
  const np::NetworkSpec canonical = policy->toSpec();
  auto again = np::parsePolicy(canonical);
  FUZZ_CHECK(static_cast<bool>(again), again ? "" : again.error().message);
  FUZZ_CHECK(again->toSpec().allow_out == canonical.allow_out);
  FUZZ_CHECK(again->toSpec().deny_out == canonical.deny_out);
  FUZZ_CHECK(again->allow.all_traffic == policy->allow.all_traffic);
  FUZZ_CHECK(again->deny.all_traffic == policy->deny.all_traffic);
  checkNormalized(policy->allow.cidrs);
  checkNormalized(policy->deny.cidrs);

  std::vector<std::string> names;
  for (const auto* list : {&policy->allow, &policy->deny}) {
    for (const np::DomainPattern& p : list->names) {
      names.push_back(p.isWildcard() ? "x." + p.domain() : p.domain());
    }
  }
  np::Decider decider(*policy, np::Boundaries::defaults());
  checkBoundaries(decider, names);
  for (const std::string& name : names) {
    const np::Decision by_name = decider.decideName(name);
    if (!policy->internet) FUZZ_CHECK(!by_name.allowed());
    // An allow_out name is allowed, whatever deny_out says.
    if (policy->internet && policy->allow.matchesName(name)) FUZZ_CHECK(by_name.allowed(), name);
  }
  for (const auto* list : {&policy->allow, &policy->deny}) {
    for (const np::Cidr& c : list->cidrs.entries()) {
      const np::Decision d = decider.decideAddress(c.network());
      if (!policy->internet) FUZZ_CHECK(!d.allowed(), c.toString());
    }
  }
  (void)decider.privateAllows();
  (void)policy->needsProxy();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = declaw::fuzz::asText(data, size);
  np::NetworkSpec spec;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_discarded()) {
    auto parsed = np::networkSpecFromJson(json, true);
    if (!parsed) return 0;
    spec = std::move(*parsed);
  } else {
    spec = specFromLines(text);
  }
  for (const auto* list : {&spec.allow_out, &spec.deny_out}) {
    for (const std::string& entry : *list) {
      checkAddress(entry);
      checkCidr(entry);
      checkName(entry);
    }
  }
  checkPolicy(spec);
  spec.allow_internet_access = false;
  checkPolicy(spec);
  return 0;
}
