// Host names and domain patterns as the egress policy sees them.
//
// A host name is compared in one canonical form: ASCII lowercase, one trailing dot removed,
// LDH labels (letters, digits, hyphen; no hyphen at either end) of 1..63 octets, at most 253
// octets in all, and a last label that is not all digits (so "10.0.0" is not a name, RFC 3696
// section 2). Internationalised names are accepted only as punycode ("xn--..."): comparing
// Unicode forms would need IDNA mapping, and two spellings of one name must not get two verdicts.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace declaw::netpolicy {

inline constexpr size_t kMaxHostNameLength = 253;
inline constexpr size_t kMaxLabelLength = 63;

// The canonical form of `name`, or why it is not a host name.
Result<std::string> normalizeHostName(std::string_view name);

// "example.com" matches that name only; "*.example.com" matches every name below it
// (a.example.com, a.b.example.com) and not example.com itself.
class DomainPattern {
 public:
  // Refuses "*" alone, "*.", "*" anywhere but as the whole first label ("a.*.b", "*foo.com"),
  // and anything normalizeHostName refuses.
  static Result<DomainPattern> parse(std::string_view text);

  // `name` must already be normalised (normalizeHostName).
  bool matches(std::string_view name) const;

  bool isWildcard() const { return wildcard_; }
  // The name, or for a wildcard the domain under "*.".
  const std::string& domain() const { return domain_; }
  // Number of labels in domain(): "*.co.uk" has 2.
  size_t labelCount() const;
  std::string toString() const { return wildcard_ ? "*." + domain_ : domain_; }

  bool operator==(const DomainPattern&) const = default;

 private:
  std::string domain_;
  bool wildcard_ = false;
};

}  // namespace declaw::netpolicy
