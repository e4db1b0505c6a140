// declaw-init as the zygote (runtime/protocol.h; docs/architecture.md, "The init zygote"): the
// one process that forks every sandbox's init, so that no sandbox pays for an exec and for libc's
// start-up (0.6-0.8 ms on the project's machine kind, where each CPUID glibc runs to size its
// caches traps to the hypervisor) nor for copying declawd's address space.
#pragma once

namespace declaw::runtime::init {

// Serves kLaunch requests on kControlFd until the daemon closes it, then returns 0. Each request
// carries the new init's control socket and the read end of a sync pipe; the zygote clones a
// child into fresh namespaces (kSandboxNamespaces) as declawd's child (CLONE_PARENT, so declawd
// reaps it), answers with its pid and pidfd, and closes its copies of the fds. The child waits
// for the daemon's byte on the sync pipe (id maps written, cgroup joined), becomes root of its
// user namespace, keeps only 0-2 (/dev/null) and its control socket as kControlFd, and returns
// `as_init()` through _exit: from there on it is what a freshly exec'd init would be.
int runZygote(int (*as_init)());

}  // namespace declaw::runtime::init
