#include "netpolicy/addr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace declaw::netpolicy {
namespace {

// The longest textual IPv6 address is INET6_ADDRSTRLEN - 1 characters; anything longer is not
// an address, and inet_pton needs a NUL-terminated copy.
constexpr size_t kMaxAddressText = INET6_ADDRSTRLEN;

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Clears every bit of `bytes` after the first `prefix_len`.
void clearHostBits(std::span<uint8_t> bytes, int prefix_len) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    int bit_start = static_cast<int>(i) * 8;
    if (bit_start >= prefix_len) {
      bytes[i] = 0;
    } else if (bit_start + 8 > prefix_len) {
      bytes[i] &= static_cast<uint8_t>(0xff << (8 - (prefix_len - bit_start)));
    }
  }
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress a;
  a.family_ = Family::kV4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v4(std::span<const uint8_t, 4> bytes) {
  IpAddress a;
  a.family_ = Family::kV4;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  return a;
}

IpAddress IpAddress::v6(std::span<const uint8_t, 16> bytes) {
  IpAddress a;
  a.family_ = Family::kV6;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  return a;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty()) return PlainError() << "empty address";
  if (text.size() >= kMaxAddressText) return PlainError() << "not an IP address";
  // inet_pton stops at a NUL, so "10.0.0.1\0evil" would pass as 10.0.0.1 (found by fuzzing).
  if (text.find('\0') != std::string_view::npos) return PlainError() << "not an IP address";
  char buf[kMaxAddressText] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress a;
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, a.bytes_.data()) != 1) {
      return PlainError() << "not an IPv6 address";
    }
    a.family_ = Family::kV6;
    return a;
  }
  if (inet_pton(AF_INET, buf, a.bytes_.data()) != 1) return PlainError() << "not an IPv4 address";
  a.family_ = Family::kV4;
  return a;
}

uint32_t IpAddress::v4Value() const {
  if (!isV4()) return 0;
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

bool IpAddress::isV4Mapped() const {
  return !isV4() && std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes_.begin());
}

IpAddress IpAddress::unmapped() const {
  if (!isV4Mapped()) return *this;
  return v4(std::span<const uint8_t, 4>(bytes_.data() + 12, 4));
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(isV4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> Cidr::make(const IpAddress& network, int prefix_len) {
  if (prefix_len < 0 || prefix_len > network.bitLength()) {
    return PlainError() << "prefix length must be 0.." << network.bitLength();
  }
  Cidr c = containing(network, prefix_len);
  if (c.network_ != network) {
    return PlainError() << "host bits set (the network is " << c.toString() << ")";
  }
  return c;
}

Cidr Cidr::containing(const IpAddress& address, int prefix_len) {
  Cidr c;
  c.prefix_len_ = std::clamp(prefix_len, 0, address.bitLength());
  std::array<uint8_t, 16> bytes{};
  auto src = address.bytes();
  std::copy(src.begin(), src.end(), bytes.begin());
  clearHostBits(std::span<uint8_t>(bytes.data(), src.size()), c.prefix_len_);
  c.network_ = address.isV4() ? IpAddress::v4(std::span<const uint8_t, 4>(bytes.data(), 4))
                              : IpAddress::v6(std::span<const uint8_t, 16>(bytes));
  return c;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return address.error();
  if (slash == std::string_view::npos) return host(*address);
  std::string_view len_text = text.substr(slash + 1);
  int max_len = address->bitLength();
  // Digits only, no sign, no leading zeros: "/08" and "/+8" are typos, not prefix lengths.
  if (!allDigits(len_text) || len_text.size() > 3 || (len_text.size() > 1 && len_text[0] == '0')) {
    return PlainError() << "prefix length must be 0.." << max_len;
  }
  int len = 0;
  for (char digit : len_text) len = len * 10 + (digit - '0');
  return make(*address, len);
}

bool Cidr::contains(const IpAddress& address) const {
  if (address.family() != family()) return false;
  return containing(address, prefix_len_).network_ == network_;
}

bool Cidr::contains(const Cidr& inner) const {
  return inner.family() == family() && inner.prefix_len_ >= prefix_len_ && contains(inner.network_);
}

IpAddress Cidr::at(uint64_t n) const {
  std::array<uint8_t, 16> bytes{};
  auto src = network_.bytes();
  std::copy(src.begin(), src.end(), bytes.begin());
  // Add n into the low 64 bits, byte by byte from the end, carrying.
  unsigned carry = 0;
  for (size_t i = src.size(); i-- > 0;) {
    unsigned sum = bytes[i] + static_cast<unsigned>(n & 0xff) + carry;
    bytes[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    n >>= 8;
  }
  return network_.isV4() ? IpAddress::v4(std::span<const uint8_t, 4>(bytes.data(), 4))
                         : IpAddress::v6(std::span<const uint8_t, 16>(bytes));
}

std::string Cidr::toString() const {
  return network_.toString() + "/" + std::to_string(prefix_len_);
}

PrefixSet::PrefixSet(std::initializer_list<Cidr> prefixes) : prefixes_(prefixes) {}

void PrefixSet::add(const Cidr& prefix) { prefixes_.push_back(prefix); }

void PrefixSet::add(const PrefixSet& other) {
  prefixes_.insert(prefixes_.end(), other.prefixes_.begin(), other.prefixes_.end());
}

bool PrefixSet::contains(const IpAddress& address) const {
  return std::any_of(prefixes_.begin(), prefixes_.end(),
                     [&](const Cidr& c) { return c.contains(address); });
}

std::vector<Cidr> PrefixSet::normalized(Family family) const {
  std::vector<Cidr> out;
  for (const Cidr& c : prefixes_) {
    if (c.family() == family) out.push_back(c);
  }
  // Sorted by network then length, a prefix's nested prefixes follow it directly.
  std::sort(out.begin(), out.end());
  std::vector<Cidr> kept;
  for (const Cidr& c : out) {
    if (kept.empty() || !kept.back().contains(c)) kept.push_back(c);
  }
  return kept;
}

Cidr cidrLiteral(std::string_view text) {
  auto c = Cidr::parse(text);
  if (!c) {
    (void)std::fprintf(stderr, "bad CIDR literal '%.*s': %s\n", static_cast<int>(text.size()),
                       text.data(), c.error().describe().c_str());
    std::abort();
  }
  return *c;
}

IpAddress ipLiteral(std::string_view text) {
  auto a = IpAddress::parse(text);
  if (!a) {
    (void)std::fprintf(stderr, "bad IP literal '%.*s': %s\n", static_cast<int>(text.size()),
                       text.data(), a.error().describe().c_str());
    std::abort();
  }
  return *a;
}

}  // namespace declaw::netpolicy
