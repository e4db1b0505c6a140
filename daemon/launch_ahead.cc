#include "daemon/launch_ahead.h"

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"

namespace declaw::daemon {

namespace {
// After a failed launch (no uid range left, a cgroup error), the filler waits this long before it
// tries again, so a broken host is not hammered; creates launch their own meanwhile.
constexpr auto kRetryAfterFailure = std::chrono::seconds(1);

// Whether an init launched ahead still runs: its pidfd is readable once it has exited.
bool alive(const AheadInit& init) {
  pollfd exited{init.init.pidfd.get(), POLLIN, 0};
  return ::poll(&exited, 1, 0) == 0;
}
}  // namespace

LaunchAhead::LaunchAhead(uint32_t slots, Launch launch, Discard discard,
                         std::chrono::milliseconds max_deferral, int nice)
    : slots_(slots),
      launch_(std::move(launch)),
      discard_(std::move(discard)),
      max_deferral_(max_deferral),
      nice_(nice) {}

LaunchAhead::Creating::Creating(LaunchAhead* ahead) : ahead_(ahead) {
  if (ahead_ == nullptr) return;
  std::lock_guard lock(ahead_->mutex_);
  ++ahead_->creating_;
}

LaunchAhead::Creating::~Creating() {
  if (ahead_ != nullptr) ahead_->createEnded();
}

void LaunchAhead::createEnded() {
  {
    std::lock_guard lock(mutex_);
    --creating_;
    if (creating_ != 0) return;
  }
  changed_.notify_all();
}

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
  std::vector<AheadInit> dead;
  {
    std::lock_guard lock(mutex_);
    while (!ready_.empty() && !taken) {
      AheadInit next = std::move(ready_.front());
      ready_.pop_front();
      if (alive(next)) {
        taken = std::move(next);
      } else {
        dead.push_back(std::move(next));
      }
    }
  }
  for (AheadInit& init : dead) discard_(init);
  if (taken) {
    ++hits_;
  } else {
    ++misses_;
  }
  // All: one waiting out a failed launch's retry must not swallow the wake-up of an idle one.
  if (taken || !dead.empty()) changed_.notify_all();
  return taken;
}

size_t LaunchAhead::ready() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

void LaunchAhead::fill() {
  // This thread only (a thread's nice value is its own on Linux).
  if (nice_ != 0) (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_);
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || ready_.size() + launching_ < slots_; });
    if (stopping_) return;
    if (creating_ != 0) {
      changed_.wait_for(lock, max_deferral_, [this] { return stopping_ || creating_ == 0; });
      if (stopping_) return;
      if (ready_.size() + launching_ >= slots_) continue;  // another filler went first
    }
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
