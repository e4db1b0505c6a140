#include "daemon/service_notify.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace declaw::daemon {

ServiceNotifier::ServiceNotifier(std::function<std::string()> status) : status_(std::move(status)) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
}

ServiceNotifier::~ServiceNotifier() { stopping(true); }

void ServiceNotifier::ready() {
  if (!enabled_) return;
  const std::string message = "READY=1\nSTATUS=" + status_();
  if (int r = sd_notify(0, message.c_str()); r < 0) {
    logger("daemon")->warn("sd_notify READY: {}", std::strerror(-r));
  }
  uint64_t watchdog_usec = 0;
  // > 0: systemd set WATCHDOG_USEC (and WATCHDOG_PID, if any, is ours).
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0;
  auto every = std::chrono::duration_cast<std::chrono::microseconds>(kStatusEvery);
  if (watchdog) every = std::min(every, std::chrono::microseconds(watchdog_usec / 2));
  if (watchdog) {
    logger("daemon")->info("systemd watchdog: pinging every {} ms", every.count() / 1000);
  }
  thread_ = std::thread([this, every, watchdog] { loop(every, watchdog); });
}

void ServiceNotifier::stopping(bool kill_all) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!enabled_) return;
  sd_notify(0, kill_all ? "STOPPING=1\nSTATUS=stopping: killing every sandbox"
                        : "STOPPING=1\nSTATUS=stopping: sandboxes keep running (live restore)");
}

void ServiceNotifier::loop(std::chrono::microseconds every, bool watchdog) {
  std::unique_lock lock(mutex_);
  while (!stop_.wait_for(lock, every, [this] { return stopping_; })) {
    lock.unlock();
    const std::string message = (watchdog ? "WATCHDOG=1\nSTATUS=" : "STATUS=") + status_();
    sd_notify(0, message.c_str());
    lock.lock();
  }
}

}  // namespace declaw::daemon
