// The pool of sandbox link addresses: one IPv4 /30 per sandbox (and one IPv6 /126 when the
// daemon has an IPv6 prefix), handed out on create and given back on kill.
//
// In slot n of a pool P, the /30 is P + 4n; its .1 is the host end of the veth (the sandbox's
// gateway, where the DNS stub and the egress proxy listen) and .2 the sandbox end. A /30 rather
// than a /31 keeps the addresses ordinary for every tool inside. The IPv6 /126 of slot n is
// P6 + 4n, with ::1 and ::2 alike, so one index names both.
//
// Slots are handed out round-robin, not lowest-first: a slot freed by a kill is reused as late as
// possible, so conntrack entries and in-flight packets for the old sandbox's address do not meet
// a new sandbox.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "netpolicy/addr.h"

namespace declaw::netpolicy {

inline constexpr int kSandboxV4PrefixLength = 30;
inline constexpr int kSandboxV6PrefixLength = 126;
// Pools wider than a /8 are refused: the slot bitmap stays small (4M slots, 512 KiB).
inline constexpr int kMinPoolV4PrefixLength = 8;

// One end-to-end address pair.
struct LinkAddresses {
  Cidr subnet;        // the /30 or /126
  IpAddress host;     // first usable address: the host end, the sandbox's gateway
  IpAddress sandbox;  // second usable address: inside the sandbox
  bool operator==(const LinkAddresses&) const = default;
};

struct Lease {
  uint32_t slot = 0;
  LinkAddresses v4;
  std::optional<LinkAddresses> v6;
  bool operator==(const Lease&) const = default;
};

class AddressPool {
 public:
  // `pool4` must be IPv4 with a prefix of /8../30; `pool6`, when given, IPv6 with at least as
  // many /126 slots as pool4 has /30 slots.
  static Result<AddressPool> create(const Cidr& pool4, std::optional<Cidr> pool6 = std::nullopt);

  // Fails with EADDRNOTAVAIL when every slot is taken.
  Result<Lease> allocate();
  // Gives the slot back; false when it was not leased (a double release is a bug to log).
  bool release(uint32_t slot);
  // Marks the slot whose /30 is `subnet` as taken: a restarted daemon re-adopting the leases its
  // records list. Fails when the subnet is not a slot of this pool or is already taken.
  Result<Lease> reserve(const Cidr& subnet);

  // The lease a slot has (or would have); the slot must be below capacity().
  Lease leaseFor(uint32_t slot) const;
  uint64_t capacity() const { return taken_.size(); }
  uint64_t inUse() const { return in_use_; }
  const Cidr& pool4() const { return pool4_; }
  const std::optional<Cidr>& pool6() const { return pool6_; }

 private:
  AddressPool(const Cidr& pool4, std::optional<Cidr> pool6, uint64_t slots);

  Cidr pool4_;
  std::optional<Cidr> pool6_;
  std::vector<bool> taken_;
  uint64_t in_use_ = 0;
  uint64_t next_ = 0;  // where the round-robin search starts
};

}  // namespace declaw::netpolicy
