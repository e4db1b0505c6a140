/* System calls through the non-native ABIs of x86_64, which a filter written for x86_64 numbers
 * alone would not see (their numbers differ, and i386 socketcall hides the family in memory):
 *
 *   - "i386": a real 32-bit program (argv[1], tests/probes/i386.c) run under ptrace; every system
 *     call it makes is reported from PTRACE_GET_SYSCALL_INFO (arch, number, result), as that
 *     program cannot print anything when its calls are refused;
 *   - "int80": int $0x80 from this 64-bit process: socketcall(SYS_SOCKET) and socket();
 *   - "x32": x86_64 calls with __X32_SYSCALL_BIT: socket(), getpid().
 *
 * Each attempt is one JSON line (probe.h) with "abi" and "nr"; a socket that was made is closed.
 *
 * The kernel may not offer these ABIs at all, and then it refuses them itself, before any filter:
 * a kernel without IA32 emulation (or booted with ia32_emulation=0) will not exec an i386 ELF
 * (ENOEXEC, reported as the attempt "exec i386 program") and answers int $0x80 from a 64-bit
 * process with a general-protection fault (SIGSEGV); one without x32 support answers ENOSYS. So
 * every int80 and x32 attempt runs in a child of its own, and an attempt that ended on a signal
 * is reported as {"attempt": NAME, "abi": ..., "nr": ..., "signal": N} instead of a result.
 * usage: abi I386_PROGRAM */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

enum {
  kI386Socketcall = 102,
  kI386Socket = 359,
  kSysSocket = 1,
  kAfInet = 2,
  kSockStream = 1,
  kX32SyscallBit = 0x40000000,
  kMaxTracedCalls = 32,
};

static const char *i386Name(long nr) {
  switch (nr) {
    case 4:
      return "write";
    case 20:
      return "getpid";
    case 102:
      return "socketcall";
    case 252:
      return "exit_group";
    case 359:
      return "socket";
    default:
      return "other";
  }
}

static void reportI386(long nr, long ret) {
  char attempt[64];
  char args[64];
  snprintf(attempt, sizeof attempt, "i386 %s", i386Name(nr));
  snprintf(args, sizeof args, "\"abi\": \"i386\", \"nr\": %ld", nr);
  probeReport(attempt, args, ret < 0 ? -1 : ret, ret < 0 ? (int)-ret : 0);
}

/* The 32-bit program under ptrace: one report per system call it completes. */
static int traceI386(const char *program) {
  /* The child reports a failed execve's errno on this pipe; a successful one closes it. */
  int exec_errno_pipe[2];
  if (pipe2(exec_errno_pipe, O_CLOEXEC) != 0) return perror("pipe2"), 2;
  const pid_t child = fork();
  if (child < 0) return perror("fork"), 2;
  if (child == 0) {
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(3);
    char *const argv[] = {(char *)program, NULL};
    execv(program, argv);
    const int err = errno;
    (void)!write(exec_errno_pipe[1], &err, sizeof err);
    _exit(4);
  }
  close(exec_errno_pipe[1]);
  int status;
  /* The SIGTRAP after a successful execve, or the child's exit after a failed one. */
  if (waitpid(child, &status, 0) != child) return perror("waitpid"), 2;
  int exec_errno = 0;
  const ssize_t got = read(exec_errno_pipe[0], &exec_errno, sizeof exec_errno);
  close(exec_errno_pipe[0]);
  if (!WIFSTOPPED(status)) {
    if (got != (ssize_t)sizeof exec_errno) {
      printf("{\"attempt\": \"exec i386 program\", \"status\": %d}\n", status);
      return 2;
    }
    probeReport("exec i386 program", "\"abi\": \"i386\"", -1, exec_errno);
    return 0;
  }
  probeReport("exec i386 program", "\"abi\": \"i386\"", 0, 0);
  ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)(uintptr_t)PTRACE_O_TRACESYSGOOD);
  long entry_nr = -1;
  int signal_to_deliver = 0;
  for (int stops = 0; stops < 2 * kMaxTracedCalls; ++stops) {
    if (ptrace(PTRACE_SYSCALL, child, NULL, (void *)(uintptr_t)signal_to_deliver) != 0) break;
    signal_to_deliver = 0;
    if (waitpid(child, &status, 0) != child) break;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      printf("{\"attempt\": \"i386 program ended\", \"exited\": %d, \"signal\": %d}\n",
             WIFEXITED(status) ? WEXITSTATUS(status) : -1,
             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      return 0;
    }
    if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
      /* ud2: every call, exit_group included, was refused. */
      printf("{\"attempt\": \"i386 program ended\", \"exited\": -1, \"signal\": %d}\n",
             WSTOPSIG(status));
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return 0;
    }
    struct __ptrace_syscall_info info;
    memset(&info, 0, sizeof info);
    if (ptrace(PTRACE_GET_SYSCALL_INFO, child, (void *)sizeof info, &info) <= 0) break;
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
      entry_nr = info.arch == 0x40000003 /* AUDIT_ARCH_I386 */ ? (long)info.entry.nr : -1;
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && entry_nr >= 0) {
      reportI386(entry_nr, (long)info.exit.rval);
      entry_nr = -1;
    }
  }
  kill(child, SIGKILL);
  waitpid(child, &status, 0);
  printf("{\"attempt\": \"i386 program ended\", \"exited\": -1, \"signal\": -1}\n");
  return 0;
}

static long int80(long nr, long a, long b, long c) {
  long ret;
  /* The kernel zeroes r8-r11 on return from int $0x80 in 64-bit mode. */
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c)
                   : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

static void reportRaw(const char *attempt, const char *abi, long nr, long ret) {
  char args[64];
  snprintf(args, sizeof args, "\"abi\": \"%s\", \"nr\": %ld", abi, nr);
  probeReport(attempt, args, ret < 0 ? -1 : ret, ret < 0 ? (int)-ret : 0);
  if (ret >= 0 && strstr(attempt, "socket")) close((int)ret);
}

/* Runs CALL(NR) in a child, which reports its result; if the child dies of a signal instead (a
 * kernel that faults int $0x80), the parent reports that. */
static void attemptInChild(const char *attempt, const char *abi, long nr, long (*call)(long)) {
  fflush(stdout);
  const pid_t child = fork();
  if (child < 0) return perror("fork");
  if (child == 0) {
    reportRaw(attempt, abi, nr, call(nr));
    _exit(0);
  }
  int status;
  if (waitpid(child, &status, 0) != child) return perror("waitpid");
  if (WIFSIGNALED(status)) {
    printf("{\"attempt\": \"%s\", \"abi\": \"%s\", \"nr\": %ld, \"signal\": %d}\n", attempt, abi,
           nr, WTERMSIG(status));
    fflush(stdout);
  }
}

/* socketcall takes a pointer to its arguments; an i386 call can pass 32-bit pointers only. */
static unsigned int *socketcall_args;

static long int80Call(long nr) {
  if (nr == kI386Socketcall) return int80(kI386Socketcall, kSysSocket, (long)socketcall_args, 0);
  return int80(nr, kAfInet, kSockStream, 0);
}

static void int80From64Bit(void) {
  socketcall_args =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (socketcall_args == MAP_FAILED) return perror("mmap MAP_32BIT");
  socketcall_args[0] = kAfInet;
  socketcall_args[1] = kSockStream;
  socketcall_args[2] = 0;
  attemptInChild("int80 socketcall", "int80", kI386Socketcall, int80Call);
  attemptInChild("int80 socket", "int80", kI386Socket, int80Call);
}

/* A raw x86_64 system call with the x32 bit in its number (syscall(2) returns -1 and errno). */
static long x32Call(long nr) {
  errno = 0;
  const long ret =
      nr == (kX32SyscallBit | SYS_socket) ? syscall(nr, kAfInet, kSockStream, 0) : syscall(nr);
  return ret < 0 ? -errno : ret;
}

static void x32(void) {
  attemptInChild("x32 socket", "x32", kX32SyscallBit | SYS_socket, x32Call);
  attemptInChild("x32 getpid", "x32", kX32SyscallBit | SYS_getpid, x32Call);
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: abi I386_PROGRAM\n"), 2;
  probeStart();
  int80From64Bit();
  x32();
  return traceI386(argv[1]);
}
