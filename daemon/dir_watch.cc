#include "daemon/dir_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "runtime/watch_wire.h"

namespace declaw::daemon {

namespace {

constexpr size_t kReadBytes = 64 * 1024;

}  // namespace

Result<UniqueFd> ownReadEnd(const UniqueFd& received) {
  struct stat st {};
  if (::fstat(received.get(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
    return ErrnoError(EPROTO) << "sandbox init sent something other than a pipe for a watch";
  }
  const std::string path = "/proc/self/fd/" + std::to_string(received.get());
  UniqueFd own(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!own) return ErrnoError() << "reopen the watch's pipe";
  return own;
}

api::WatchEvent PipeDirWatch::end(std::string reason, std::string message) {
  ended_ = true;
  pipe_.reset();
  api::WatchEvent event;
  event.kind = api::WatchEvent::Kind::kEnd;
  event.reason = std::move(reason);
  event.message = std::move(message);
  return event;
}

std::optional<api::WatchEvent> PipeDirWatch::takeBuffered() {
  runtime::WatchRecord record;
  switch (runtime::takeWatchRecord(buffer_, record)) {
    case runtime::WatchTake::kNeedMore:
      return std::nullopt;
    case runtime::WatchTake::kMalformed:
      return end("error", "the watcher in the sandbox sent a malformed record");
    case runtime::WatchTake::kRecord:
      break;
  }
  using Kind = runtime::WatchRecordKind;
  switch (record.kind) {
    case Kind::kLost: {
      api::WatchEvent event;
      event.kind = api::WatchEvent::Kind::kLost;
      return event;
    }
    case Kind::kEndRemoved:
      return end("removed", "the watched directory was removed");
    case Kind::kEndError:
      return end("error", record.name);
    default: {
      api::WatchEvent event;
      event.kind = api::WatchEvent::Kind::kChange;
      event.type = runtime::watchChangeName(record.kind);
      event.name = std::move(record.name);
      return event;
    }
  }
}

std::optional<api::WatchEvent> PipeDirWatch::next(std::chrono::milliseconds wait) {
  if (ended_) return std::nullopt;
  if (auto event = takeBuffered()) return event;
  pollfd p{pipe_.get(), POLLIN, 0};
  const int n = ::poll(&p, 1, static_cast<int>(wait.count()));
  if (n < 0 && errno != EINTR) return end("error", "poll on the watch failed");
  if (n <= 0) return std::nullopt;
  std::array<char, kReadBytes> chunk{};
  const ssize_t got = ::read(pipe_.get(), chunk.data(), chunk.size());
  if (got < 0) {
    if (errno == EAGAIN || errno == EINTR) return std::nullopt;
    return end("error", "reading the watch failed");
  }
  if (got == 0) {
    if (!sandbox_running_()) return end("sandbox_ended", "the sandbox ended");
    return end("error", "the watcher in the sandbox ended");
  }
  buffer_.append(chunk.data(), static_cast<size_t>(got));
  return takeBuffered();
}

}  // namespace declaw::daemon
