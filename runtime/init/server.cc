#include "runtime/init/server.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

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
    pollfd fds[2] = {{kControlFd, POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    // Requests first: a spawn's Reply then always precedes its Exited.
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !onControlReadable()) return 0;
    if ((fds[1].revents & POLLIN) != 0) reapChildren();
  }
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
      packet.fds.clear();  // the command has its copies; init keeps none
      if (!spawned) {
        send(encode(errorReply(request.request_id, spawned.error())));
        return;
      }
      spawned_.insert(spawned->pid);
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
    if (spawned_.erase(pid) != 0) {
      send(encode(Exited{pid, status}));
    }
  }
}

void Server::send(const std::string& message, std::span<const int> fds) {
  // A failed send means the daemon is gone; the next poll sees the socket's EOF and ends.
  (void)sendPacket(kControlFd, message, fds);
}

}  // namespace declaw::runtime::init
