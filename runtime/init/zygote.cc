#include "runtime/init/zygote.h"

#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/io.h"
#include "common/unique_fd.h"
#include "runtime/namespaces.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

namespace {

// Exit codes of a child that could not become an init (as the daemon's launcher uses).
constexpr int kExitNoSync = 120;
constexpr int kExitIdentity = 121;
constexpr int kExitFds = 125;

// Where the child keeps its sync pipe until the daemon releases it.
constexpr int kSyncFd = kControlFd + 1;

// The new init, before it is one. The zygote is single-threaded, so the child of its raw clone
// is a plain copy of it; still, only system calls until the fds are in place.
[[noreturn]] void childMain(int control, int sync, int (*as_init)()) {
  // First of all, nothing of the zygote's stays, least of all a way to ask it for more inits:
  // the control socket replaces the zygote's own at kControlFd, the sync pipe goes to kSyncFd
  // (the received fds are above kControlFd: 0-3 are taken in the zygote), the rest is closed.
  // Then a zygote that dies while this child waits shows as a hang-up to the daemon at once.
  if (::dup2(control, kControlFd) < 0 || ::dup2(sync, kSyncFd) < 0) ::_exit(kExitFds);
  if (::close_range(kSyncFd + 1, ~0U, 0) != 0) ::_exit(kExitFds);
  char byte;
  ssize_t n;
  do {
    n = ::read(kSyncFd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(kExitNoSync);  // the daemon gave up on this launch
  ::close(kSyncFd);
  // Root of the new user namespace (the daemon wrote the maps), no host groups.
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, 0, 0, 0) != 0 ||
      ::syscall(SYS_setresuid, 0, 0, 0) != 0) {
    ::_exit(kExitIdentity);
  }
  ::_exit(as_init());
}

Result<void> answer(const Reply& reply, std::span<const int> fds = {}) {
  return sendPacket(kControlFd, encode(reply), fds);
}

}  // namespace

int runZygote(int (*as_init)()) {
  ::prctl(PR_SET_NAME, "declaw-zygote", 0, 0, 0);
  for (;;) {
    auto packet = recvPacket(kControlFd, kMaxPacketBytes);
    if (!packet) return 0;  // the daemon went, and with it the reason to be
    Reply reply;
    if (!decodeLaunch(packet->data) || packet->fds.size() != 2) {
      reply.error = EINVAL;
      reply.message = "zygote: a launch request carries only the control socket and sync pipe";
      if (!answer(reply)) return 0;
      continue;
    }
    // Fork-like clone (no new stack). CLONE_PARENT: the daemon's child, not ours (its exit
    // signal is ours, SIGCHLD); CLONE_PIDFD stores a pidfd at the parent_tid argument.
    int pidfd = -1;
    long rc = ::syscall(SYS_clone, kSandboxNamespaces | CLONE_PARENT | CLONE_PIDFD, nullptr, &pidfd,
                        nullptr, nullptr);
    if (rc == 0) childMain(packet->fds[0].get(), packet->fds[1].get(), as_init);
    const int clone_error = errno;
    packet->fds.clear();  // the child has its own copies
    if (rc < 0) {
      reply.error = clone_error;
      reply.message = "zygote: clone";
      if (!answer(reply)) return 0;
      continue;
    }
    UniqueFd owned(pidfd);
    reply.value = rc;
    const int fds[] = {owned.get()};
    // Should the daemon be gone, the child sees its sync pipe close and exits.
    if (!answer(reply, fds)) return 0;
  }
}

}  // namespace declaw::runtime::init
