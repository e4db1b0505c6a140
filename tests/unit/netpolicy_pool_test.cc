// The pool of sandbox link addresses.
#include <catch2/catch.hpp>
#include <cerrno>
#include <set>

#include "netpolicy/address_pool.h"

using namespace declaw::netpolicy;

TEST_CASE("each sandbox gets a /30: the host end is .1, the sandbox end .2") {
  auto pool = AddressPool::create(cidrLiteral("198.18.0.0/16"));
  REQUIRE(pool.ok());
  CHECK(pool->capacity() == 16384);
  auto a = pool->allocate();
  auto b = pool->allocate();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->v4.subnet == cidrLiteral("198.18.0.0/30"));
  CHECK(a->v4.host == ipLiteral("198.18.0.1"));
  CHECK(a->v4.sandbox == ipLiteral("198.18.0.2"));
  CHECK(b->v4.subnet == cidrLiteral("198.18.0.4/30"));
  CHECK(b->v4.host == ipLiteral("198.18.0.5"));
  CHECK(b->v4.sandbox == ipLiteral("198.18.0.6"));
  CHECK_FALSE(a->v6.has_value());
  CHECK(pool->inUse() == 2);
}

TEST_CASE("slots cross byte boundaries") {
  auto pool = AddressPool::create(cidrLiteral("198.18.0.0/16"));
  REQUIRE(pool.ok());
  Lease l = pool->leaseFor(64);
  CHECK(l.v4.subnet == cidrLiteral("198.18.1.0/30"));
  CHECK(l.v4.sandbox == ipLiteral("198.18.1.2"));
  CHECK(pool->leaseFor(16383).v4.sandbox == ipLiteral("198.18.255.254"));
}

TEST_CASE("an exhausted pool says so with EADDRNOTAVAIL, and a release makes room") {
  auto pool = AddressPool::create(cidrLiteral("198.18.0.0/29"));
  REQUIRE(pool.ok());
  REQUIRE(pool->capacity() == 2);
  auto a = pool->allocate();
  auto b = pool->allocate();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto c = pool->allocate();
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == EADDRNOTAVAIL);
  CHECK(c.error().message == "address pool 198.18.0.0/29 exhausted (2 sandboxes)");
  CHECK(pool->release(a->slot));
  CHECK_FALSE(pool->release(a->slot));  // double release
  CHECK_FALSE(pool->release(99));
  auto d = pool->allocate();
  REQUIRE(d.ok());
  CHECK(d->v4 == a->v4);
}

TEST_CASE("a released slot is reused as late as possible") {
  auto pool = AddressPool::create(cidrLiteral("198.18.0.0/28"));  // 4 slots
  REQUIRE(pool.ok());
  auto a = pool->allocate();
  REQUIRE(a.ok());
  pool->release(a->slot);
  std::set<uint32_t> seen;
  for (int i = 0; i < 4; ++i) {
    auto l = pool->allocate();
    REQUIRE(l.ok());
    seen.insert(l->slot);
    if (i < 3) CHECK(l->slot != a->slot);
  }
  CHECK(seen.size() == 4);
}

TEST_CASE("an IPv6 prefix adds a /126 with the same slot number") {
  auto pool = AddressPool::create(cidrLiteral("198.18.0.0/16"), cidrLiteral("fd00:dc::/64"));
  REQUIRE(pool.ok());
  REQUIRE(pool->allocate().ok());
  auto b = pool->allocate();
  REQUIRE(b.ok());
  REQUIRE(b->v6.has_value());
  CHECK(b->v6->subnet == cidrLiteral("fd00:dc::4/126"));
  CHECK(b->v6->host == ipLiteral("fd00:dc::5"));
  CHECK(b->v6->sandbox == ipLiteral("fd00:dc::6"));
}

TEST_CASE("pool prefixes are checked") {
  CHECK(AddressPool::create(cidrLiteral("198.18.0.0/31")).error().message ==
        "address pool 198.18.0.0/31: prefix length must be 8..30");
  CHECK(AddressPool::create(cidrLiteral("0.0.0.0/0")).error().message ==
        "address pool 0.0.0.0/0: prefix length must be 8..30");
  CHECK(AddressPool::create(cidrLiteral("fd00::/64")).error().message ==
        "address pool fd00::/64 is not IPv4");
  CHECK(AddressPool::create(cidrLiteral("198.18.0.0/16"), cidrLiteral("198.19.0.0/16"))
            .error()
            .message == "address pool 198.19.0.0/16 is not IPv6");
  // /16 has 2^14 /30s; a /114 has only 2^12 /126s.
  CHECK(AddressPool::create(cidrLiteral("198.18.0.0/16"), cidrLiteral("fd00::/114"))
            .error()
            .message == "IPv6 pool fd00::/114 has fewer /126 slots than 198.18.0.0/16 has /30");
  CHECK(AddressPool::create(cidrLiteral("198.18.0.0/16"), cidrLiteral("fd00::/112")).ok());
  CHECK(AddressPool::create(cidrLiteral("10.0.0.0/8")).ok());
}

TEST_CASE("a restarted daemon re-adopts recorded leases") {
  auto pool = AddressPool::create(cidrLiteral("198.18.0.0/16"));
  REQUIRE(pool.ok());
  auto r = pool->reserve(cidrLiteral("198.18.1.4/30"));
  REQUIRE(r.ok());
  CHECK(r->slot == 65);
  CHECK(r->v4.sandbox == ipLiteral("198.18.1.6"));
  CHECK(pool->inUse() == 1);
  CHECK(pool->reserve(cidrLiteral("198.18.1.4/30")).error().message ==
        "198.18.1.4/30 is already leased");
  CHECK_FALSE(pool->reserve(cidrLiteral("198.19.0.0/30")).ok());
  CHECK_FALSE(pool->reserve(cidrLiteral("198.18.0.0/29")).ok());
  CHECK(pool->release(65));
}
