// The syscall tables behind the seccomp policy (seccomp_policy.h).
//
// Started from Docker's default profile (moby profiles/seccomp/default.json) for a process
// without extra capabilities, on x86_64. Differences, all stricter unless marked:
//   - not allowed: adjtimex, clock_adjtime (Docker allows them; the sandbox has no use for the
//     kernel clock), name_to_handle_at (half of the open_by_handle_at pair), fanotify_mark
//     (useless without fanotify_init), io_uring_* (io_uring creates sockets without socket()),
//     modify_ldt (only 16-bit code and Wine need it; a source of kernel bugs).
//   - allowed where Docker wants a capability (harmless inside a user + mount namespace, and
//     wanted by debuggers and build tools): chroot, ptrace, process_vm_readv/writev,
//     process_madvise. ptrace cannot reach declaw-init, which is not dumpable.
//   - socket, socketpair, clone, clone3, ioctl, personality have argument rules in
//     seccomp_policy.cc and appear in neither table.
// i386-only names (chown32, socketcall, ...) are left out: i386 calls never reach these rules.
// Names newer than the linked libseccomp are harmless: they are skipped, and their numbers fail
// with ENOSYS until libseccomp learns them.
#include "runtime/seccomp_policy.h"

namespace declaw::runtime {
namespace {

constexpr const char* kAllowed[] = {
    // files and directories
    "access", "chdir", "chmod", "chown", "chroot", "close", "close_range", "copy_file_range",
    "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir",
    "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "file_getattr",
    "file_setattr", "flock", "fstat", "fstatfs", "fsync", "ftruncate", "futimesat", "getcwd",
    "getdents", "getdents64", "lchown", "link", "linkat", "lseek", "lstat", "mkdir", "mkdirat",
    "mknod", "mknodat", "newfstatat", "open", "openat", "openat2", "pread64", "preadv", "preadv2",
    "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "rename", "renameat", "renameat2", "rmdir", "sendfile", "splice", "stat", "statfs", "statx",
    "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "umask",
    "unlink", "unlinkat", "utime", "utimensat", "utimes", "vmsplice", "write", "writev",
    // extended attributes
    "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat", "lgetxattr",
    "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "removexattr",
    "removexattrat", "setxattr", "setxattrat",
    // memory
    "brk", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mlock", "mlock2",
    "mlockall", "map_shadow_stack", "mmap", "mprotect", "mremap", "mseal", "msync", "munlock",
    "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
    // processes and threads (clone and clone3: argument rules)
    "arch_prctl", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list",
    "get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrlimit", "getrusage", "getsid", "gettid", "ioprio_get", "ioprio_set", "kill", "pidfd_open",
    "pidfd_send_signal", "prctl", "prlimit64", "process_madvise", "process_mrelease",
    "process_vm_readv", "process_vm_writev", "ptrace", "restart_syscall", "rseq",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
    "set_robust_list", "set_thread_area", "set_tid_address", "setpgid", "setpriority", "setrlimit",
    "setsid", "tgkill", "tkill", "vfork", "wait4", "waitid",
    // credentials (inside the user namespace; capabilities decide what sticks)
    "capget", "capset", "getegid", "geteuid", "getgid", "getgroups", "getresgid", "getresuid",
    "getuid", "setfsgid", "setfsuid", "setgid", "setgroups", "setregid", "setresgid", "setresuid",
    "setreuid", "setuid",
    // signals
    "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4",
    // waiting, events, time
    "alarm", "clock_getres", "clock_gettime", "clock_nanosleep", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
    "eventfd", "eventfd2", "futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
    "getitimer", "gettimeofday", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "nanosleep", "pipe", "pipe2", "poll", "ppoll", "pselect6", "select",
    "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times",
    // asynchronous I/O (the old kind; io_uring is denied)
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
    // sockets (socket and socketpair: argument rules)
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
    "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
    // System V and POSIX IPC (private to the sandbox's IPC namespace)
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
    "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop", "shmat",
    "shmctl", "shmdt", "shmget",
    // system information, randomness, self-sandboxing
    "cachestat", "getrandom", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "sysinfo", "uname"};

constexpr const char* kDenied[] = {
    // namespaces: no nested user namespaces, no joining others
    "setns", "unshare",
    // mounts and the mount API
    "fsconfig", "fsmount", "fsopen", "fspick", "listmount", "mount", "mount_setattr", "move_mount",
    "open_tree", "open_tree_attr", "pivot_root", "statmount", "umount", "umount2",
    // kernel keyrings, BPF, perf, userfaultfd, io_uring
    "add_key", "keyctl", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_enter",
    "io_uring_register", "io_uring_setup",
    // file handles (the "shocker" escape)
    "name_to_handle_at", "open_by_handle_at",
    // kernel, modules, host state
    "acct", "create_module", "delete_module", "finit_module", "get_kernel_syms", "init_module",
    "kexec_file_load", "kexec_load", "lookup_dcookie", "nfsservctl", "query_module", "quotactl",
    "quotactl_fd", "reboot", "swapoff", "swapon", "_sysctl", "sysfs", "syslog", "uselib", "ustat",
    "vhangup", "sethostname", "setdomainname",
    // clocks
    "adjtimex", "clock_adjtime", "clock_settime", "settimeofday", "stime",
    // raw hardware and old x86 modes
    "ioperm", "iopl", "modify_ldt", "vm86", "vm86old",
    // reaching into other processes beyond ptrace
    "kcmp", "pidfd_getfd",
    // NUMA policy (Docker: CAP_SYS_NICE only)
    "get_mempolicy", "mbind", "migrate_pages", "move_pages", "set_mempolicy",
    "set_mempolicy_home_node",
    // fanotify (watching whole mounts)
    "fanotify_init", "fanotify_mark"};

}  // namespace

std::span<const char* const> allowedSyscalls() { return kAllowed; }
std::span<const char* const> deniedSyscalls() { return kDenied; }

}  // namespace declaw::runtime
