#include "runtime/init/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/init/file_ops.h"
#include "runtime/init/spawn.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

namespace {

Reply errorReply(uint64_t request_id, const Error& error) {
  Reply reply;
  reply.request_id = request_id;
  reply.error = error.code != 0 ? error.code : EIO;
  reply.message = error.message;
  return reply;
}

// recvmsg() returns 0 both for an empty SOCK_SEQPACKET message and at EOF; after the peer
// closed, poll() reports POLLHUP (unix(7) sockets set both shutdown directions on close).
bool peerHungUp() {
  pollfd p{kControlFd, POLLRDHUP, 0};
  int n = ::poll(&p, 1, 0);
  if (n < 0) return true;  // cannot tell: treat the conversation as over
  return n == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

}  // namespace

Result<Server> Server::create() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return ErrnoError() << "block SIGCHLD";
  UniqueFd fd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) return ErrnoError() << "signalfd";
  return Server(std::move(fd));
}

int Server::run() {
  for (;;) {
    // Connected: the daemon's requests; detached: the next daemon's connection.
    const int first = connected_ ? kControlFd : listen_.get();
    pollfd fds[2] = {{first, POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    // Requests first: a spawn's Reply then always precedes its Exited.
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      if (!connected_) {
        acceptDaemon();
      } else if (!onControlReadable() && !detach()) {
        return 0;
      }
    }
    if ((fds[1].revents & POLLIN) != 0) reapChildren();
  }
}

bool Server::detach() {
  if (!listen_) return false;
  // fd 3 stays taken (by /dev/null) until the next daemon's connection replaces it, so no
  // other fd can land on kControlFd meanwhile.
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null || ::dup2(null.get(), kControlFd) < 0) return false;
  connected_ = false;
  return true;
}

void Server::acceptDaemon() {
  UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return;  // a connection that went away before the accept: wait for the next
  // The listening socket lives in a root-only directory of the host: only the daemon connects.
  if (::dup2(conn.get(), kControlFd) < 0) return;
  connected_ = true;  // the first message is the daemon's kAttach
  attached_ = false;
}

bool Server::onControlReadable() {
  auto packet = recvPacket(kControlFd, kMaxPacketBytes);
  if (!packet) {
    // Oversized (dropped whole by the kernel), or an empty packet that recvPacket cannot tell
    // from EOF: both malformed, as long as the peer is still there.
    if (packet.error().code == EMSGSIZE || (packet.error().code == 0 && !peerHungUp())) {
      ++malformed_;
      return true;
    }
    return false;  // EOF or a socket error: the daemon is gone
  }
  onPacket(*packet);
  return true;
}

void Server::onPacket(Packet& packet) {
  switch (peekType(packet.data)) {
    case MsgType::kSpawn: {
      SpawnRequest request;
      if (!decode(packet.data, request)) break;
      if (auto v = validateSpawn(request, packet.fds.size()); !v) {
        send(encode(errorReply(request.request_id, v.error())));
        return;
      }
      auto spawned = spawnCommand(request, packet.fds);
      if (!spawned) {
        send(encode(errorReply(request.request_id, spawned.error())));
        return;
      }
      spawned_.insert(spawned->pid);
      if (request.hold) {
        // Kept for the next daemon: the daemon's ends of the output, or a copy of the master.
        HeldProcess held;
        held.pty = request.pty;
        held.note = request.note;
        if (spawned->pty_master) {
          held.fds.emplace_back(::fcntl(spawned->pty_master.get(), F_DUPFD_CLOEXEC, 0));
        } else {
          for (size_t i = kSpawnFdCount; i < kSpawnFdCount + kHeldFdCount; ++i) {
            held.fds.push_back(std::move(packet.fds[i]));
          }
          if (request.hold_stdin) held.stdin = std::move(packet.fds[kSpawnFdCount + kHeldFdCount]);
        }
        held_[spawned->pid] = std::move(held);
      }
      packet.fds.clear();  // the command has its copies
      Reply reply;
      reply.request_id = request.request_id;
      reply.value = spawned->pid;
      if (spawned->pty_master) {
        int master = spawned->pty_master.get();
        send(encode(reply), std::span<const int>(&master, 1));
      } else {
        send(encode(reply));
      }
      return;
    }
    case MsgType::kHold:
      onHold(packet);
      return;
    case MsgType::kAttach:
      onAttach(packet);
      return;
    case MsgType::kReleaseStdin:
      onReleaseStdin(packet);
      return;
    case MsgType::kSignal: {
      SignalRequest request;
      if (!decode(packet.data, request)) break;
      Reply reply;
      reply.request_id = request.request_id;
      // pid 1 is init itself; <= 0 would reach every process or a group by accident.
      if (request.pid <= 1) {
        reply.error = EINVAL;
        reply.message = "signal: pid must be > 1";
      } else if (::kill(request.group ? -request.pid : request.pid, request.signal) != 0) {
        reply.error = errno;
        reply.message = "kill";
      }
      send(encode(reply));
      return;
    }
    case MsgType::kFileOp: {
      FileOpRequest request;
      if (!decode(packet.data, request)) break;
      // The helper replies by itself; init only answers if it could not start one.
      if (auto pid = startFileOpHelper(request); !pid) {
        send(encode(errorReply(request.request_id, pid.error())));
      }
      return;
    }
    default:
      break;
  }
  ++malformed_;  // unknown type or undecodable: ignored (its fds close with the packet)
}

void Server::reapChildren() {
  signalfd_siginfo info;
  while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
  }
  // SIGCHLD coalesces: one signal may stand for many exits, so reap until none is left.
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (spawned_.erase(pid) == 0) continue;
    auto held = held_.find(pid);
    if (connected_ && attached_ && send(encode(Exited{pid, status}))) {
      // The daemon has its own ends of the output and knows of the exit.
      if (held != held_.end()) held_.erase(held);
    } else if (held != held_.end()) {
      held->second.exited = true;  // for the next daemon
      held->second.wait_status = status;
    }
  }
}

void Server::onHold(Packet& packet) {
  if (!decodeHold(packet.data) || packet.fds.size() != 1) {
    ++malformed_;
    return;
  }
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(packet.fds[0].get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
      listening == 0) {
    ++malformed_;
    return;
  }
  listen_ = std::move(packet.fds[0]);
}

void Server::onAttach(const Packet& packet) {
  Attach attach;
  if (!decode(packet.data, attach)) {
    ++malformed_;
    return;
  }
  // Whatever the daemon's version, init answers in its own (kAttached's version comes first in
  // every version): the daemon decides whether it can adopt this sandbox.
  uint32_t count = 0;
  for (auto it = held_.begin(); it != held_.end();) {
    const HeldProcess& h = it->second;
    std::vector<int> fds;
    for (const UniqueFd& fd : h.fds) fds.push_back(fd.get());
    if (h.stdin) fds.push_back(h.stdin.get());
    const Held held{it->first, h.exited, h.wait_status, h.pty, h.stdin.valid(), h.note};
    if (!send(encode(held), fds)) return;
    ++count;
    // An ended process is the daemon's now; a running one stays held for the next outage.
    it = h.exited ? held_.erase(it) : std::next(it);
  }
  attached_ = send(encode(Attached{kProtocolVersion, count}));
}

void Server::onReleaseStdin(const Packet& packet) {
  ReleaseStdin release;
  if (!decode(packet.data, release)) {
    ++malformed_;
    return;
  }
  if (auto it = held_.find(release.pid); it != held_.end()) it->second.stdin.reset();
}

bool Server::send(const std::string& message, std::span<const int> fds) {
  // A failed send means the daemon is gone; the next poll sees the socket's EOF.
  return static_cast<bool>(sendPacket(kControlFd, message, fds));
}

}  // namespace declaw::runtime::init
