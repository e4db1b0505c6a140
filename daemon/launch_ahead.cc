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
                         std::chrono::milliseconds max_deferral, int nice,
                         std::chrono::milliseconds settle_after_create)
    : slots_(slots),
      launch_(std::move(launch)),
      discard_(std::move(discard)),
      max_deferral_(max_deferral),
      nice_(nice),
      settle_after_create_(settle_after_create) {}

LaunchAhead::Foreground::Foreground(LaunchAhead* ahead, Kind kind) : ahead_(ahead), kind_(kind) {
  if (ahead_ == nullptr) return;
  std::lock_guard lock(ahead_->mutex_);
  ++ahead_->foreground_;
}

LaunchAhead::Foreground::~Foreground() {
  if (ahead_ != nullptr) ahead_->foregroundEnded(kind_);
}

void LaunchAhead::foregroundEnded(Foreground::Kind kind) {
  {
    std::lock_guard lock(mutex_);
    --foreground_;
    // After a create its first command is awaited; once a command has run, nothing is.
    settle_until_ = kind == Foreground::Kind::kCreate
                        ? std::chrono::steady_clock::now() + settle_after_create_
                        : std::chrono::steady_clock::time_point{};
    if (foreground_ != 0) return;
  }
  changed_.notify_all();
}

void LaunchAhead::waitForQuiet(std::unique_lock<std::mutex>& lock) {
  const auto deadline = std::chrono::steady_clock::now() + max_deferral_;
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || (foreground_ == 0 && now >= settle_until_)) return;
    changed_.wait_until(lock, foreground_ == 0 ? std::min(deadline, settle_until_) : deadline);
  }
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
    waitForQuiet(lock);
    if (stopping_) return;
    if (ready_.size() + launching_ >= slots_) continue;  // another filler went first
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
