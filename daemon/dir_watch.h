// The daemon's end of a directory watch (GET .../files/watch): it reads the records that the
// watcher inside the sandbox (runtime/init/dir_watch.h) writes to a pipe, as untrusted input
// (runtime/watch_wire.h), and turns them into api::WatchEvents. Destroying it closes the pipe,
// which ends the watcher.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "api/services.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::daemon {

// The pipe init sent for a watch, as the daemon reads it: only a pipe (never a file or device
// init names, EPROTO), reopened as a description of the daemon's own, read-only and
// non-blocking. The fd as sent may be read-write (the daemon would hold a writer and never see
// the end) or shared with a reader in the sandbox (which could take a record between poll and
// read, or clear O_NONBLOCK on the shared description).
Result<UniqueFd> ownReadEnd(const UniqueFd& received);

class PipeDirWatch : public api::DirWatch {
 public:
  // `sandbox_running` tells, once the pipe ends, whether the sandbox ended under the watch.
  PipeDirWatch(UniqueFd pipe, std::function<bool()> sandbox_running)
      : pipe_(std::move(pipe)), sandbox_running_(std::move(sandbox_running)) {}

  std::optional<api::WatchEvent> next(std::chrono::milliseconds wait) override;

 private:
  // The event of the first complete record in buffer_, if there is one.
  std::optional<api::WatchEvent> takeBuffered();
  api::WatchEvent end(std::string reason, std::string message);

  UniqueFd pipe_;
  std::function<bool()> sandbox_running_;
  std::string buffer_;
  bool ended_ = false;
};

}  // namespace declaw::daemon
