#include "daemon/launch_ahead.h"

#include "common/log.h"

namespace declaw::daemon {

namespace {
// After a failed launch (no uid range left, a cgroup error), the filler waits this long before it
// tries again, so a broken host is not hammered; creates launch their own meanwhile.
constexpr auto kRetryAfterFailure = std::chrono::seconds(1);
}  // namespace

LaunchAhead::LaunchAhead(uint32_t slots, Launch launch, Discard discard)
    : slots_(slots), launch_(std::move(launch)), discard_(std::move(discard)) {}

LaunchAhead::~LaunchAhead() { stop(); }

void LaunchAhead::start() {
  for (uint32_t i = 0; i < slots_; ++i) fillers_.emplace_back([this] { fill(); });
}

void LaunchAhead::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : fillers_) {
    if (t.joinable()) t.join();
  }
  fillers_.clear();
  std::deque<AheadInit> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(ready_);
  }
  for (AheadInit& init : left) discard_(init);
}

std::optional<AheadInit> LaunchAhead::take() {
  std::optional<AheadInit> taken;
  {
    std::lock_guard lock(mutex_);
    if (!ready_.empty()) {
      taken = std::move(ready_.front());
      ready_.pop_front();
    }
  }
  if (taken) {
    ++hits_;
    changed_.notify_one();  // a filler launches the next one now
  } else {
    ++misses_;
  }
  return taken;
}

size_t LaunchAhead::ready() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

void LaunchAhead::fill() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || ready_.size() + launching_ < slots_; });
    if (stopping_) return;
    ++launching_;
    lock.unlock();
    auto launched = launch_();
    lock.lock();
    --launching_;
    if (launched) {
      if (stopping_) {
        lock.unlock();
        discard_(*launched);
        return;
      }
      ready_.push_back(std::move(*launched));
      continue;
    }
    logger("daemon")->warn("launch ahead: {}", launched.error().describe());
    if (changed_.wait_for(lock, kRetryAfterFailure, [this] { return stopping_; })) return;
  }
}

}  // namespace declaw::daemon
