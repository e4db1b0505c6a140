#include "runtime/init_client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>

#include "common/io.h"
#include "common/log.h"

namespace declaw::runtime {

namespace {
// Opens carry one fd; nothing else carries any.
constexpr size_t kMaxReplyFds = 1;
// Unclaimed exit reports kept per sandbox before the oldest are dropped.
constexpr size_t kMaxRememberedExits = 4096;

// Sends without ever blocking past the deadline: init (or a sandbox process that stopped it)
// may stop reading, and a full socket buffer must not pin daemon threads.
Result<void> sendWithin(int sock, const std::string& packet, std::span<const int> fds,
                        std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto sent = sendPacket(sock, packet, fds, MSG_DONTWAIT);
    if (sent || sent.error().code != EAGAIN) return sent;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ErrnoError(ETIMEDOUT) << "sandbox init is not reading";
    pollfd p{sock, POLLOUT, 0};
    (void)::poll(&p, 1, static_cast<int>(left.count()));
  }
}

Result<void> waitReadable(int fd, InitClient::Duration timeout) {
  pollfd p{fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError() << "poll";
  if (n == 0) return ErrnoError(ETIMEDOUT) << "init did not answer";
  return {};
}
}  // namespace

Result<void> InitClient::sendConfig(int control, const InitConfig& config,
                                    std::span<const int> fds) {
  return sendPacket(control, encode(config), fds);
}

Result<void> InitClient::awaitReady(int control, Duration timeout) {
  if (auto r = waitReadable(control, timeout); !r) return r;
  auto packet = recvPacket(control, kMaxPacketBytes);
  if (!packet)
    return ErrnoError(EPIPE) << "init ended during setup (" << packet.error().describe() << ")";
  if (peekType(packet->data) == MsgType::kReady && packet->data.size() == 1) return {};
  SetupFailed failed;
  if (decode(packet->data, failed)) {
    return ErrnoError(failed.error) << "sandbox setup failed: " << failed.message;
  }
  return ErrnoError(EPROTO) << "init sent an unexpected message during setup";
}

Result<void> InitClient::writeSkeleton(int control, const SkeletonRequest& request, int upper_fd,
                                       Duration timeout) {
  if (auto r = sendPacket(control, encode(request), std::span<const int>(&upper_fd, 1)); !r) {
    return r;
  }
  if (auto r = waitReadable(control, timeout); !r) return r;
  auto packet = recvPacket(control, kMaxPacketBytes);
  if (!packet) return ErrnoError(EPIPE) << "init ended while it wrote the skeleton";
  Reply reply;
  if (!decode(packet->data, reply) || !packet->fds.empty()) {
    return ErrnoError(EPROTO) << "init sent an unexpected answer to the skeleton";
  }
  if (reply.error != 0) return ErrnoError(reply.error) << "skeleton: " << reply.message;
  return {};
}

Result<void> InitClient::hold(int control, int listen_fd) {
  return sendPacket(control, encodeHold(), std::span<const int>(&listen_fd, 1));
}

Result<std::vector<HeldProcess>> InitClient::attach(int control, Duration timeout,
                                                    size_t max_held) {
  if (auto r = sendPacket(control, encode(Attach{})); !r) return r.error();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<HeldProcess> held;
  for (;;) {
    auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ErrnoError(ETIMEDOUT) << "sandbox init did not answer attach";
    if (auto r = waitReadable(control, left); !r) return r.error();
    auto packet = recvPacket(control, kMaxPacketBytes);
    if (!packet) return ErrnoError(EPIPE) << "sandbox init closed the connection";
    if (peekType(packet->data) == MsgType::kAttached) {
      Attached done;
      if (decode(packet->data, done)) {
        if (done.held != held.size()) return ErrnoError(EPROTO) << "init miscounted its processes";
        return held;
      }
      // Another version: its first field is the version in every layout.
      WireReader r(std::string_view(packet->data).substr(1));
      const uint32_t version = r.u32();
      if (r.ok() && version != kProtocolVersion) {
        return ErrnoError(EPROTONOSUPPORT) << "sandbox init speaks protocol version " << version
                                           << ", this daemon " << kProtocolVersion;
      }
      return ErrnoError(EPROTO) << "malformed attach answer";
    }
    HeldProcess h;
    if (!decode(packet->data, h.held)) return ErrnoError(EPROTO) << "malformed held process";
    // pty: [master]; else [stdout, stderr] read ends and, with stdin, its write end.
    const size_t want = h.held.pty ? 1 : 2 + (h.held.stdin ? 1 : 0);
    if (packet->fds.size() != want || h.held.pid <= 1 || (h.held.pty && h.held.stdin) ||
        held.size() >= max_held) {
      return ErrnoError(EPROTO) << "init sent a held process with the wrong fds";
    }
    h.fds = std::move(packet->fds);
    held.push_back(std::move(h));
  }
}

Result<void> InitClient::releaseStdin(int32_t pid) {
  return sendWithin(control_.get(), encode(ReleaseStdin{pid}), {},
                    std::chrono::steady_clock::now() + std::chrono::seconds(1));
}

void InitClient::addExit(int32_t pid, int wait_status) {
  std::lock_guard lock(mutex_);
  if (exits_.insert_or_assign(pid, wait_status).second) exit_order_.push_back(pid);
}

InitClient::InitClient(UniqueFd control) : control_(std::move(control)) {
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  reader_ = std::thread([this] { readLoop(); });
}

InitClient::~InitClient() {
  uint64_t one = 1;
  if (wake_) (void)writeAll(wake_.get(), &one, sizeof one);
  if (reader_.joinable()) reader_.join();
}

bool InitClient::alive() const {
  std::lock_guard lock(mutex_);
  return alive_;
}

void InitClient::onClosed(std::function<void()> callback) {
  std::unique_lock lock(mutex_);
  if (!alive_) {
    lock.unlock();
    callback();
    return;
  }
  on_closed_ = std::move(callback);
}

void InitClient::onExit(std::function<void(int32_t pid)> callback) {
  std::lock_guard lock(mutex_);
  on_exit_ = std::move(callback);
}

void InitClient::readLoop() {
  auto log = logger("runtime");
  for (;;) {
    pollfd fds[2] = {{control_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN) != 0) break;
    auto packet = recvPacket(control_.get(), kMaxPacketBytes);
    if (!packet) break;  // init is gone (or sent something oversized)
    MsgType type = peekType(packet->data);
    std::lock_guard lock(mutex_);
    if (type == MsgType::kExited) {
      Exited exited;
      if (!decode(packet->data, exited) || !packet->fds.empty()) break;
      if (exits_.size() >= kMaxRememberedExits) {
        exits_.erase(exit_order_.front());  // the oldest report nobody took
        exit_order_.pop_front();
      }
      if (exits_.insert_or_assign(exited.pid, exited.wait_status).second) {
        exit_order_.push_back(exited.pid);
      }
      if (on_exit_) on_exit_(exited.pid);
    } else if (type == MsgType::kReply) {
      ReplyWithFds r;
      if (!decode(packet->data, r.reply) || packet->fds.size() > kMaxReplyFds) break;
      // A reply nobody waits for (a late answer after a timeout, or a forged id) is dropped.
      if (!waiting_.contains(r.reply.request_id)) continue;
      r.fds = std::move(packet->fds);
      // A spawn's reply comes before that pid's exit (init's order): an exit already on record
      // for the pid is a stale one of an earlier process that had it, and must not be taken
      // for the new one's.
      if (spawn_ids_.erase(r.reply.request_id) != 0 && r.reply.error == 0) {
        forgetExitLocked(static_cast<int32_t>(r.reply.value));
      }
      replies_[r.reply.request_id] = std::move(r);
    } else {
      log->warn("init sent an unexpected message type {}", static_cast<int>(type));
      break;
    }
    changed_.notify_all();
  }
  markClosed();
}

Result<ReplyWithFds> InitClient::call(const std::string& packet, uint64_t id,
                                      std::span<const int> fds, Duration timeout) {
  {
    std::lock_guard lock(mutex_);
    if (!alive_) return ErrnoError(EPIPE) << "sandbox init is gone";
    waiting_[id] = true;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto send = sendWithin(control_.get(), packet, fds, deadline);
  std::unique_lock lock(mutex_);
  if (!send) {
    waiting_.erase(id);
    int code = send.error().code == ETIMEDOUT ? ETIMEDOUT : EPIPE;
    return ErrnoError(code) << "send to sandbox init: " << send.error().describe();
  }
  bool done = changed_.wait_until(lock, deadline, [&] { return replies_.contains(id) || !alive_; });
  waiting_.erase(id);
  auto it = replies_.find(id);
  if (it == replies_.end()) {
    if (!done) return ErrnoError(ETIMEDOUT) << "sandbox init did not answer in time";
    return ErrnoError(EPIPE) << "sandbox init is gone";
  }
  ReplyWithFds result = std::move(it->second);
  replies_.erase(it);
  return result;
}

uint64_t InitClient::nextId() {
  std::lock_guard lock(mutex_);
  return next_id_++;
}

Result<ReplyWithFds> InitClient::spawn(SpawnRequest request, std::span<const int> fds,
                                       Duration timeout) {
  request.request_id = nextId();
  {
    std::lock_guard lock(mutex_);
    spawn_ids_.insert(request.request_id);
  }
  auto reply = call(encode(request), request.request_id, fds, timeout);
  std::lock_guard lock(mutex_);
  spawn_ids_.erase(request.request_id);
  return reply;
}

Result<ReplyWithFds> InitClient::signal(SignalRequest request, Duration timeout) {
  request.request_id = nextId();
  return call(encode(request), request.request_id, {}, timeout);
}

Result<ReplyWithFds> InitClient::fileOp(FileOpRequest request, Duration timeout) {
  request.request_id = nextId();
  return call(encode(request), request.request_id, {}, timeout);
}

Result<int> InitClient::waitExit(int32_t pid, Duration timeout) {
  std::unique_lock lock(mutex_);
  bool done = changed_.wait_for(lock, timeout, [&] { return exits_.contains(pid) || !alive_; });
  auto it = exits_.find(pid);
  if (it == exits_.end()) {
    if (!done) return ErrnoError(ETIMEDOUT) << "process " << pid << " did not exit in time";
    return ErrnoError(EPIPE) << "sandbox init is gone";
  }
  int status = it->second;
  forgetExitLocked(pid);
  return status;
}

bool InitClient::pollExit(int32_t pid, int* status) {
  std::lock_guard lock(mutex_);
  auto it = exits_.find(pid);
  if (it == exits_.end()) return false;
  *status = it->second;
  return true;
}

void InitClient::forgetExit(int32_t pid) {
  std::lock_guard lock(mutex_);
  forgetExitLocked(pid);
}

void InitClient::forgetExitLocked(int32_t pid) {
  if (exits_.erase(pid) == 0) return;
  exit_order_.erase(std::find(exit_order_.begin(), exit_order_.end(), pid));
}

void InitClient::markClosed() {
  std::function<void()> callback;
  {
    std::lock_guard lock(mutex_);
    if (!alive_) return;
    alive_ = false;
    callback = std::move(on_closed_);
  }
  ::shutdown(control_.get(), SHUT_RDWR);
  changed_.notify_all();
  if (callback) callback();
}

}  // namespace declaw::runtime
