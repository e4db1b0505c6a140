// The resolver's cache keeps answers for their TTL and no longer, and never grows past its size.
#include <catch2/catch.hpp>

#include "netsvc/dns_cache.h"
#include "netsvc/sandbox_context.h"

using namespace declaw::netsvc;
using declaw::netpolicy::ipLiteral;
using namespace std::chrono_literals;

namespace {
CachedAnswer answer(uint32_t ttl, const char* address = "198.19.0.10") {
  return {declaw::netpolicy::DnsRcode::kNoError, {ipLiteral(address)}, ttl};
}
}  // namespace

TEST_CASE("a cached answer is found with the TTL it has left, and gone once it expires") {
  DnsCache cache(8);
  auto t0 = DnsCache::Clock::time_point{} + 1000s;
  cache.store("allowed.test", 1, answer(60), t0);
  auto hit = cache.find("allowed.test", 1, t0 + 15s);
  REQUIRE(hit);
  CHECK(hit->ttl == 45);
  CHECK(hit->addresses == std::vector{ipLiteral("198.19.0.10")});
  CHECK_FALSE(cache.find("allowed.test", 28, t0));  // another type
  CHECK_FALSE(cache.find("allowed.test", 1, t0 + 60s));
  CHECK(cache.size() == 0);
}

TEST_CASE("a TTL of 0 is not cached") {
  DnsCache cache(8);
  cache.store("zero.test", 1, answer(0), {});
  CHECK(cache.size() == 0);
}

TEST_CASE("the least recently used entry goes when the cache is full") {
  DnsCache cache(2);
  auto t = DnsCache::Clock::time_point{} + 1s;
  cache.store("a.test", 1, answer(60), t);
  cache.store("b.test", 1, answer(60), t);
  REQUIRE(cache.find("a.test", 1, t));  // a is now more recent than b
  cache.store("c.test", 1, answer(60), t);
  CHECK(cache.size() == 2);
  CHECK(cache.find("a.test", 1, t));
  CHECK_FALSE(cache.find("b.test", 1, t));
  CHECK(cache.find("c.test", 1, t));
}

TEST_CASE("storing a name again replaces its entry") {
  DnsCache cache(2);
  auto t = DnsCache::Clock::time_point{} + 1s;
  cache.store("a.test", 1, answer(60, "198.19.0.1"), t);
  cache.store("a.test", 1, answer(10, "198.19.0.2"), t);
  CHECK(cache.size() == 1);
  auto hit = cache.find("a.test", 1, t);
  REQUIRE(hit);
  CHECK(hit->addresses == std::vector{ipLiteral("198.19.0.2")});
  CHECK(hit->ttl == 10);
}

TEST_CASE("a gauge is not taken past its limit") {
  std::atomic<uint32_t> gauge{0};
  CHECK(tryAcquire(gauge, 2));
  CHECK(tryAcquire(gauge, 2));
  CHECK_FALSE(tryAcquire(gauge, 2));
  CHECK(gauge == 2);
}

TEST_CASE(
    "a sandbox's refusal log is rate-limited, and the next line says how many were left out") {
  SandboxNetStats stats;
  auto t = SandboxNetStats::Clock::time_point{} + 100s;
  for (uint32_t i = 0; i < kRefusalLogLinesPerSecond; ++i) {
    auto admitted = stats.admitLogLine(t);
    REQUIRE(admitted);
    CHECK(*admitted == 0);
  }
  CHECK_FALSE(stats.admitLogLine(t));
  CHECK_FALSE(stats.admitLogLine(t + 500ms));
  auto next = stats.admitLogLine(t + 1s);
  REQUIRE(next);
  CHECK(*next == 2);
}
