// IP addresses, CIDR prefixes and prefix sets: the vocabulary of the egress policy.
//
// Parsing is inet_pton(3) based, so only the canonical textual forms are accepted: dotted quad
// IPv4 without leading zeros or shorthand ("10.1", "010.0.0.1" and "0x7f.1" are refused, unlike
// inet_aton), IPv6 without zone ids or brackets.
//
// A CIDR whose address has host bits set ("10.0.0.1/8") is refused, not normalised: in an allow
// list it is ambiguous between "the host 10.0.0.1" and "all of 10/8", and silently widening a
// rule to 16M addresses is the worse guess. The message names the network the caller may mean.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace declaw::netpolicy {

enum class Family : uint8_t { kV4, kV6 };

// An IPv4 or IPv6 address in network byte order. IPv4 uses the first 4 bytes; the rest are 0.
class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0
  static IpAddress v4(uint32_t host_order);
  static IpAddress v4(std::span<const uint8_t, 4> bytes);
  static IpAddress v6(std::span<const uint8_t, 16> bytes);
  static Result<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool isV4() const { return family_ == Family::kV4; }
  int bitLength() const { return isV4() ? 32 : 128; }
  std::span<const uint8_t> bytes() const { return {bytes_.data(), isV4() ? 4u : 16u}; }
  // The IPv4 value in host byte order; 0 for IPv6.
  uint32_t v4Value() const;

  // ::ffff:a.b.c.d is how an AF_INET6 socket names an IPv4 peer; policy decisions must see the
  // IPv4 address behind it, or "::ffff:169.254.169.254" would slip past the IPv4 deny list.
  bool isV4Mapped() const;
  IpAddress unmapped() const;

  // inet_ntop(3) form: "10.0.0.1", "2001:db8::1".
  std::string toString() const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// A network prefix: an address with its host bits clear, and a prefix length.
class Cidr {
 public:
  Cidr() = default;  // 0.0.0.0/0
  // Fails when prefix_len is out of range or `network` has host bits set.
  static Result<Cidr> make(const IpAddress& network, int prefix_len);
  // The prefix that contains `address`, its host bits cleared. prefix_len is clamped.
  static Cidr containing(const IpAddress& address, int prefix_len);
  // "10.0.0.0/8", "2001:db8::/32", or a bare address meaning a /32 or /128.
  static Result<Cidr> parse(std::string_view text);
  static Cidr host(const IpAddress& address) { return containing(address, address.bitLength()); }

  const IpAddress& network() const { return network_; }
  int prefixLength() const { return prefix_len_; }
  Family family() const { return network_.family(); }
  bool isHost() const { return prefix_len_ == network_.bitLength(); }

  // False across families: an IPv4 prefix never contains an IPv6 address, mapped or not.
  bool contains(const IpAddress& address) const;
  // True when `inner` lies entirely inside this prefix (a prefix contains itself).
  bool contains(const Cidr& inner) const;
  // The n-th address of the prefix (0 = the network address); n must fit in the host bits.
  IpAddress at(uint64_t n) const;

  // "10.0.0.0/8"; host prefixes keep their length ("1.1.1.1/32").
  std::string toString() const;

  auto operator<=>(const Cidr&) const = default;

 private:
  IpAddress network_;
  int prefix_len_ = 0;
};

// An unordered collection of prefixes of both families, answering "does any contain this
// address". Linear: sets here hold a policy's entries (at most a few hundred).
class PrefixSet {
 public:
  PrefixSet() = default;
  PrefixSet(std::initializer_list<Cidr> prefixes);

  void add(const Cidr& prefix);
  void add(const PrefixSet& other);
  bool contains(const IpAddress& address) const;
  bool empty() const { return prefixes_.empty(); }
  size_t size() const { return prefixes_.size(); }
  const std::vector<Cidr>& entries() const { return prefixes_; }

  // The prefixes of one family, sorted, with duplicates and prefixes nested in another removed:
  // the form an nftables interval set accepts (it refuses overlapping elements).
  std::vector<Cidr> normalized(Family family) const;

 private:
  std::vector<Cidr> prefixes_;
};

// For tables in code and tests: parses a literal known to be valid, aborting otherwise.
Cidr cidrLiteral(std::string_view text);
IpAddress ipLiteral(std::string_view text);

}  // namespace declaw::netpolicy
