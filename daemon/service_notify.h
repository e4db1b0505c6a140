// Talking to systemd (sd_notify(3), from libsystemd): READY=1 once the API socket accepts,
// STATUS= with the live count, WATCHDOG=1 pings while the registry answers, STOPPING=1 at
// shutdown. Without NOTIFY_SOCKET (not started by systemd with Type=notify) it does nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace declaw::daemon {

class ServiceNotifier {
 public:
  // `status` is asked for the STATUS= line at every ping; it takes the registry's lock, so a
  // registry that hangs stops the pings and systemd's watchdog restarts the daemon.
  explicit ServiceNotifier(std::function<std::string()> status);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 (and the first STATUS=), then the periodic thread starts.
  void ready();
  // STOPPING=1 and a STATUS= saying whether the sandboxes die or keep running; the thread ends.
  // Idempotent.
  void stopping(bool kill_all);

  // How often the thread pings: half the watchdog interval systemd asked for (WATCHDOG_USEC),
  // else kStatusEvery; none at all without NOTIFY_SOCKET.
  static constexpr auto kStatusEvery = std::chrono::seconds(5);

 private:
  void loop(std::chrono::microseconds every, bool watchdog);

  std::function<std::string()> status_;
  bool enabled_ = false;
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace declaw::daemon
