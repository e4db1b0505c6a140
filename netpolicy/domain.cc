#include "netpolicy/domain.h"

#include <algorithm>

namespace declaw::netpolicy {
namespace {

bool isLdh(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// "0x1f" for a byte that cannot appear in a name: the message must not echo control bytes.
std::string describeByte(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (c >= 0x21 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 0xf];
}

}  // namespace

Result<std::string> normalizeHostName(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return PlainError() << "empty host name";
  if (name.size() > kMaxHostNameLength) {
    return PlainError() << "host name longer than " << kMaxHostNameLength << " characters";
  }
  std::string out;
  out.reserve(name.size());
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      std::string_view label(out.data() + label_start, out.size() - label_start);
      if (label.empty()) return PlainError() << "empty label in host name";
      if (label.size() > kMaxLabelLength) {
        return PlainError() << "label longer than " << kMaxLabelLength << " characters";
      }
      if (label.front() == '-' || label.back() == '-') {
        return PlainError() << "label '" << label << "' starts or ends with '-'";
      }
      if (i == name.size() && std::all_of(label.begin(), label.end(), isDigit)) {
        return PlainError() << "not a host name (the last label is numeric)";
      }
      if (i < name.size()) out.push_back('.');
      label_start = out.size();
      continue;
    }
    auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0x80) return PlainError() << "non-ASCII host name: use its punycode (xn--) form";
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    if (!isLdh(lower)) {
      return PlainError() << describeByte(c) << " is not allowed in a host name";
    }
    out.push_back(lower);
  }
  return out;
}

Result<DomainPattern> DomainPattern::parse(std::string_view text) {
  DomainPattern p;
  if (text == "*") return PlainError() << "'*' alone is not a domain pattern (ALL_TRAFFIC is)";
  if (text.starts_with("*.")) {
    p.wildcard_ = true;
    text.remove_prefix(2);
    if (text.empty() || text == ".") return PlainError() << "'*.' needs a domain after it";
  }
  if (text.find('*') != std::string_view::npos) {
    return PlainError() << "'*' is allowed only as the whole first label ('*.example.com')";
  }
  auto name = normalizeHostName(text);
  if (!name) return name.error();
  p.domain_ = std::move(*name);
  return p;
}

bool DomainPattern::matches(std::string_view name) const {
  if (!wildcard_) return name == domain_;
  // A strict subdomain: at least one label, then ".", then the domain.
  return name.size() > domain_.size() + 1 && name.ends_with(domain_) &&
         name[name.size() - domain_.size() - 1] == '.';
}

size_t DomainPattern::labelCount() const {
  return static_cast<size_t>(std::count(domain_.begin(), domain_.end(), '.')) + 1;
}

}  // namespace declaw::netpolicy
