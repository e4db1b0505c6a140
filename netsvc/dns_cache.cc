#include "netsvc/dns_cache.h"

namespace declaw::netsvc {

std::string DnsCache::keyOf(const std::string& name, uint16_t qtype) {
  return std::to_string(qtype) + "/" + name;
}

std::optional<CachedAnswer> DnsCache::find(const std::string& name, uint16_t qtype,
                                           Clock::time_point now) {
  auto it = index_.find(keyOf(name, qtype));
  if (it == index_.end()) return std::nullopt;
  auto entry = it->second;
  if (entry->expires <= now) {
    index_.erase(it);
    lru_.erase(entry);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  CachedAnswer out = entry->answer;
  auto left = std::chrono::duration_cast<std::chrono::seconds>(entry->expires - now).count();
  out.ttl = static_cast<uint32_t>(left);
  return out;
}

void DnsCache::store(const std::string& name, uint16_t qtype, CachedAnswer answer,
                     Clock::time_point now) {
  if (answer.ttl == 0 || capacity_ == 0) return;
  std::string key = keyOf(name, qtype);
  auto expires = now + std::chrono::seconds(answer.ttl);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->answer = std::move(answer);
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (lru_.size() >= capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, std::move(answer), expires});
  index_.emplace(std::move(key), lru_.begin());
}

void DnsCache::clear() {
  lru_.clear();
  index_.clear();
}

}  // namespace declaw::netsvc
