// declaw-init as the zygote (runtime/protocol.h; docs/architecture.md, "The init zygote"): the
// one process that forks every sandbox's init, so that no sandbox pays for an exec and for libc's
// start-up (0.6-0.8 ms on the project's machine kind, where each CPUID glibc runs to size its
// caches traps to the hypervisor) nor for copying declawd's address space.
#pragma once

namespace declaw::runtime::init {

// The children are raw clones that never exec: glibc's cached thread id in each of them is still
// the zygote's. Nothing in init may use pthread_* calls on its own thread that act through that
// id (pthread_getcpuclockid, pthread_setschedparam, pthread_sigqueue, ...); raise() and abort()
// are fine (glibc 2.34+ ask the kernel with gettid).
//
// Serves kLaunch requests on kControlFd until the daemon closes it, then returns 0. Each request
// carries the new init's control socket and the read end of a sync pipe; the zygote clones a
// child into fresh namespaces (kSandboxNamespaces) as declawd's child (CLONE_PARENT, so declawd
// reaps it), answers with its pid and pidfd, and closes its copies of the fds. The child keeps
// only 0-2 (/dev/null), its control socket as kControlFd and the sync pipe, waits for the
// daemon's byte on it (id maps written, cgroup joined), becomes root of its user namespace, and
// returns `as_init()` through _exit: from there on it is what a freshly exec'd init would be.
int runZygote(int (*as_init)());

}  // namespace declaw::runtime::init
