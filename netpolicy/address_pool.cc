#include "netpolicy/address_pool.h"

#include <cerrno>

namespace declaw::netpolicy {
namespace {

// Addresses per slot: a /30 and a /126 both hold 4.
constexpr uint64_t kAddressesPerSlot = 4;

LinkAddresses linkAt(const Cidr& pool, int slot_prefix, uint64_t slot) {
  IpAddress base = pool.at(slot * kAddressesPerSlot);
  Cidr subnet = Cidr::containing(base, slot_prefix);
  return {subnet, subnet.at(1), subnet.at(2)};
}

}  // namespace

AddressPool::AddressPool(const Cidr& pool4, std::optional<Cidr> pool6, uint64_t slots)
    : pool4_(pool4), pool6_(pool6), taken_(slots, false) {}

Result<AddressPool> AddressPool::create(const Cidr& pool4, std::optional<Cidr> pool6) {
  if (pool4.family() != Family::kV4) {
    return PlainError() << "address pool " << pool4.toString() << " is not IPv4";
  }
  int len = pool4.prefixLength();
  if (len < kMinPoolV4PrefixLength || len > kSandboxV4PrefixLength) {
    return PlainError() << "address pool " << pool4.toString() << ": prefix length must be "
                        << kMinPoolV4PrefixLength << ".." << kSandboxV4PrefixLength;
  }
  uint64_t slots = uint64_t{1} << (kSandboxV4PrefixLength - len);
  if (pool6) {
    if (pool6->family() != Family::kV6) {
      return PlainError() << "address pool " << pool6->toString() << " is not IPv6";
    }
    int bits6 = kSandboxV6PrefixLength - pool6->prefixLength();
    // 2^bits6 slots; compare exponents, as bits6 may be far above 64.
    if (bits6 < 0 || (bits6 < 64 && (uint64_t{1} << bits6) < slots)) {
      return PlainError() << "IPv6 pool " << pool6->toString() << " has fewer /"
                          << kSandboxV6PrefixLength << " slots than " << pool4.toString()
                          << " has /" << kSandboxV4PrefixLength;
    }
  }
  return AddressPool(pool4, pool6, slots);
}

Lease AddressPool::leaseFor(uint32_t slot) const {
  Lease lease;
  lease.slot = slot;
  lease.v4 = linkAt(pool4_, kSandboxV4PrefixLength, slot);
  if (pool6_) lease.v6 = linkAt(*pool6_, kSandboxV6PrefixLength, slot);
  return lease;
}

Result<Lease> AddressPool::allocate() {
  uint64_t n = taken_.size();
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t slot = (next_ + i) % n;
    if (taken_[slot]) continue;
    taken_[slot] = true;
    ++in_use_;
    next_ = (slot + 1) % n;
    return leaseFor(static_cast<uint32_t>(slot));
  }
  return ErrnoError(EADDRNOTAVAIL)
         << "address pool " << pool4_.toString() << " exhausted (" << n << " sandboxes)";
}

bool AddressPool::release(uint32_t slot) {
  if (slot >= taken_.size() || !taken_[slot]) return false;
  taken_[slot] = false;
  --in_use_;
  return true;
}

Result<Lease> AddressPool::reserve(const Cidr& subnet) {
  if (subnet.family() != Family::kV4 || subnet.prefixLength() != kSandboxV4PrefixLength ||
      !pool4_.contains(subnet)) {
    return PlainError() << subnet.toString() << " is not a /" << kSandboxV4PrefixLength
                        << " of the pool " << pool4_.toString();
  }
  uint64_t slot = (subnet.network().v4Value() - pool4_.network().v4Value()) / kAddressesPerSlot;
  if (taken_[slot]) return PlainError() << subnet.toString() << " is already leased";
  taken_[slot] = true;
  ++in_use_;
  return leaseFor(static_cast<uint32_t>(slot));
}

}  // namespace declaw::netpolicy
