#include "daemon/warm_pool.h"

#include <algorithm>

#include "common/log.h"
#include "daemon/sandbox.h"

namespace declaw::daemon {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kFirstBackoff = std::chrono::milliseconds(250);
constexpr auto kMaxBackoff = std::chrono::milliseconds(30000);
// How often the filler looks for pooled sandboxes that died or grew old, when idle.
constexpr auto kCheckEvery = std::chrono::seconds(1);

}  // namespace

std::optional<size_t> nextToFill(const std::vector<PoolSlotState>& slots, Clock::time_point now,
                                 std::optional<Clock::time_point>* next_wake) {
  std::optional<size_t> pick;
  for (size_t i = 0; i < slots.size(); ++i) {
    const PoolSlotState& s = slots[i];
    if (s.ready >= s.target) continue;
    if (s.retry_at > now) {
      if (next_wake && (!*next_wake || s.retry_at < **next_wake)) *next_wake = s.retry_at;
      continue;
    }
    if (!pick) pick = i;
  }
  return pick;
}

std::chrono::milliseconds refillBackoff(uint32_t failures_in_a_row) {
  if (failures_in_a_row == 0) return std::chrono::milliseconds(0);
  auto wait = kFirstBackoff;
  for (uint32_t i = 1; i < failures_in_a_row && wait < kMaxBackoff; ++i) wait *= 2;
  return std::min(wait, kMaxBackoff);
}

WarmPool::WarmPool(const std::map<std::string, uint32_t>& targets, Build build, Discard discard)
    : build_(std::move(build)), discard_(std::move(discard)) {
  for (const auto& [name, target] : targets) {
    if (target == 0) continue;
    Slot s;
    s.name = name;
    s.state.target = target;
    slots_.push_back(std::move(s));
  }
}

WarmPool::~WarmPool() { stop(); }

void WarmPool::start() {
  if (slots_.empty()) return;
  filler_ = std::thread([this] { fillLoop(); });
}

void WarmPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (filler_.joinable()) filler_.join();
  std::vector<std::shared_ptr<Sandbox>> all;
  {
    std::lock_guard lock(mutex_);
    for (Slot& s : slots_) {
      for (Entry& e : s.ready) all.push_back(std::move(e.sandbox));
      s.ready.clear();
      s.state.ready = 0;
    }
  }
  discardAll(all, "the daemon is shutting down");
}

WarmPool::Slot* WarmPool::slot(const std::string& name) {
  for (Slot& s : slots_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool WarmPool::serves(const std::string& template_name) const {
  std::lock_guard lock(mutex_);
  return std::any_of(slots_.begin(), slots_.end(),
                     [&](const Slot& s) { return s.name == template_name; });
}

std::shared_ptr<Sandbox> WarmPool::take(const std::string& template_name,
                                        const std::function<bool(const Sandbox&)>& fits) {
  std::shared_ptr<Sandbox> found;
  std::vector<std::shared_ptr<Sandbox>> unfit;
  {
    std::lock_guard lock(mutex_);
    last_foreground_ = Clock::now();
    Slot* s = slot(template_name);
    if (!s) return nullptr;
    while (!s->ready.empty() && !found) {
      std::shared_ptr<Sandbox> sbx = std::move(s->ready.front().sandbox);
      s->ready.pop_front();
      if (sbx->initAlive() && fits(*sbx)) {
        found = std::move(sbx);
      } else {
        unfit.push_back(std::move(sbx));
      }
    }
    s->state.ready = static_cast<uint32_t>(s->ready.size());
    ++(found ? s->hits : s->misses);
  }
  wake_.notify_all();
  discardAll(unfit, "built from an older template or host state");
  return found;
}

void WarmPool::countMiss(const std::string& template_name) {
  std::lock_guard lock(mutex_);
  last_foreground_ = Clock::now();
  if (Slot* s = slot(template_name)) ++s->misses;
}

void WarmPool::noteForeground() {
  std::lock_guard lock(mutex_);
  last_foreground_ = Clock::now();
}

void WarmPool::invalidate(const std::string& template_name) {
  std::vector<std::shared_ptr<Sandbox>> old;
  {
    std::lock_guard lock(mutex_);
    Slot* s = slot(template_name);
    if (!s) return;
    ++s->generation;
    for (Entry& e : s->ready) old.push_back(std::move(e.sandbox));
    s->ready.clear();
    s->state.ready = 0;
    s->failures = 0;
    s->state.retry_at = {};
  }
  wake_.notify_all();
  discardAll(old, "its template changed");
}

std::vector<api::PoolStats> WarmPool::stats() const {
  std::lock_guard lock(mutex_);
  std::vector<api::PoolStats> out;
  for (const Slot& s : slots_) {
    out.push_back({s.name, s.state.target, s.state.ready, s.hits, s.misses});
  }
  return out;
}

std::vector<std::shared_ptr<Sandbox>> WarmPool::takeStale(Clock::time_point now) {
  std::vector<std::shared_ptr<Sandbox>> stale;
  for (Slot& s : slots_) {
    auto keep = std::stable_partition(s.ready.begin(), s.ready.end(), [&](const Entry& e) {
      return now - e.built_at < kMaxAge && e.sandbox->initAlive();
    });
    for (auto it = keep; it != s.ready.end(); ++it) stale.push_back(std::move(it->sandbox));
    s.ready.erase(keep, s.ready.end());
    s.state.ready = static_cast<uint32_t>(s.ready.size());
  }
  return stale;
}

void WarmPool::discardAll(std::vector<std::shared_ptr<Sandbox>>& sandboxes, const char* why) {
  for (auto& sbx : sandboxes) discard_(sbx, why);
  sandboxes.clear();
}

void WarmPool::fillLoop() {
  auto log = logger("daemon");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    if (auto stale = takeStale(now); !stale.empty()) {
      lock.unlock();
      discardAll(stale, "pooled too long, or its init ended");
      lock.lock();
      continue;
    }
    const auto quiet_from = last_foreground_ + kQuietBeforeRefill;
    if (now < quiet_from) {
      wake_.wait_until(lock, quiet_from);
      continue;
    }
    std::vector<PoolSlotState> states;
    for (const Slot& s : slots_) states.push_back(s.state);
    std::optional<Clock::time_point> wake_at;
    auto pick = nextToFill(states, now, &wake_at);
    if (!pick) {
      auto until = now + kCheckEvery;
      if (wake_at) until = std::min(until, *wake_at);
      wake_.wait_until(lock, until);
      continue;
    }
    const std::string name = slots_[*pick].name;
    const uint64_t generation = slots_[*pick].generation;
    lock.unlock();
    const auto started = Clock::now();
    auto built = build_(name);
    const auto took = std::chrono::duration<double>(Clock::now() - started).count();
    lock.lock();
    Slot& s = *slot(name);
    if (!built) {
      ++s.failures;
      s.state.retry_at = Clock::now() + refillBackoff(s.failures);
      if (s.failures == 1 || s.failures % 10 == 0) {
        log->warn("pool {}: build failed ({} in a row): {}", name, s.failures,
                  built.error().describe());
      }
      continue;
    }
    if (stopping_ || s.generation != generation) {
      std::vector<std::shared_ptr<Sandbox>> late = {std::move(*built)};
      const char* why = stopping_ ? "the daemon is shutting down" : "its template changed";
      lock.unlock();
      discardAll(late, why);
      lock.lock();
      continue;
    }
    refill_.record(took);
    s.failures = 0;
    s.state.retry_at = {};
    s.ready.push_back({std::move(*built), Clock::now()});
    s.state.ready = static_cast<uint32_t>(s.ready.size());
  }
}

}  // namespace declaw::daemon
