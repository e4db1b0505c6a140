// The resolver's cache of upstream answers: a bounded LRU keyed by (name, type), each entry
// kept for its TTL (capped by the caller). Pure: the caller passes the time, so tests need no
// clock. Not thread-safe: each Resolver owns one and uses it on its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "netpolicy/addr.h"
#include "netpolicy/dns_message.h"

namespace declaw::netsvc {

struct CachedAnswer {
  netpolicy::DnsRcode rcode = netpolicy::DnsRcode::kNoError;
  std::vector<netpolicy::IpAddress> addresses;
  // Seconds the answer stays valid: on store, how long to keep it; on find, what is left.
  uint32_t ttl = 0;
};

class DnsCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit DnsCache(size_t capacity) : capacity_(capacity) {}

  // The entry for (name, qtype) with its remaining TTL, or nullopt when absent or expired.
  std::optional<CachedAnswer> find(const std::string& name, uint16_t qtype, Clock::time_point now);
  // Keeps `answer` for answer.ttl seconds (not at all when 0 or the capacity is 0), evicting the
  // least recently used entry when full.
  void store(const std::string& name, uint16_t qtype, CachedAnswer answer, Clock::time_point now);

  size_t size() const { return lru_.size(); }
  void clear();

 private:
  struct Entry {
    std::string key;
    CachedAnswer answer;
    Clock::time_point expires;
  };
  static std::string keyOf(const std::string& name, uint16_t qtype);

  size_t capacity_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace declaw::netsvc
