/* Signals and other per-process calls aimed at processes outside the sandbox: declawd, another
 * sandbox's processes, a host process running with this sandbox's own host uid. Their host pids
 * (given on the command line) mean nothing in the sandbox's pid namespace, and the probe must not
 * be able to name them any other way.
 *
 *   signals targets PID...   per pid: kill(pid, 0), kill(pid, SIGKILL), kill(-pid, SIGKILL),
 *                            tgkill, rt_sigqueueinfo, pidfd_open, setpriority, prlimit,
 *                            sched_setaffinity, F_SETOWN on a pipe (and the owner read
 *                            back). A pid that exists inside the sandbox is skipped and
 *                            reported with "inside": true: the host pid is one of ours too.
 *   signals sweep            kill(pid, 0) for every pid up to /proc/sys/kernel/pid_max; reports
 *                            {"attempt": "sweep", "listed": [...], "alive": [...],
 *                            "listed_after": [...]}: the pids /proc showed before and after the
 *                            sweep (the sandbox's own), and those that answered in between,
 *                            which must all be among them.
 *   signals broadcast        kill(-1, SIGKILL) (every process this one may signal) and
 *                            kill(1, SIGKILL), kill(1, SIGSTOP): only the sandbox's processes may
 *                            die, and its init not even those. */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static void attemptOn(const char *attempt, int pid, long ret, int err) {
  char args[48];
  snprintf(args, sizeof args, "\"pid\": %d", pid);
  probeReport(attempt, args, ret, err);
}

#define ATTEMPT_ON(attempt, pid, call)  \
  do {                                  \
    errno = 0;                          \
    const long r_ = (long)(call);       \
    attemptOn(attempt, pid, r_, errno); \
  } while (0)

static void targets(int argc, char **argv) {
  for (int i = 0; i < argc; ++i) {
    const int pid = atoi(argv[i]);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d", pid);
    if (access(proc, F_OK) == 0) {
      printf("{\"attempt\": \"targets\", \"pid\": %d, \"inside\": true}\n", pid);
      continue;
    }
    ATTEMPT_ON("kill 0", pid, kill(pid, 0));
    ATTEMPT_ON("kill SIGKILL", pid, kill(pid, SIGKILL));
    ATTEMPT_ON("kill process group SIGKILL", pid, kill(-pid, SIGKILL));
    ATTEMPT_ON("tgkill SIGKILL", pid, syscall(SYS_tgkill, pid, pid, SIGKILL));
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    ATTEMPT_ON("rt_sigqueueinfo SIGKILL", pid, syscall(SYS_rt_sigqueueinfo, pid, SIGKILL, &info));
    errno = 0;
    const long pidfd = syscall(SYS_pidfd_open, pid, 0);
    attemptOn("pidfd_open", pid, pidfd, errno);
    if (pidfd >= 0) close((int)pidfd);
    ATTEMPT_ON("setpriority", pid, setpriority(PRIO_PROCESS, pid, 19));
    struct rlimit none = {0, 0};
    ATTEMPT_ON("prlimit RLIMIT_NOFILE", pid, prlimit(pid, RLIMIT_NOFILE, &none, NULL));
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ATTEMPT_ON("sched_setaffinity", pid, sched_setaffinity(pid, sizeof one, &one));
    /* SIGIO to the owner of a pipe when it becomes readable: the owner read back must be
     * nobody (0), as the pid names no process here. */
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) == 0) {
      ATTEMPT_ON("F_SETOWN", pid, fcntl(pipe_fds[0], F_SETOWN, pid));
      ATTEMPT_ON("F_GETOWN after F_SETOWN", pid, fcntl(pipe_fds[0], F_GETOWN));
      close(pipe_fds[0]);
      close(pipe_fds[1]);
    }
  }
}

static int pidMax(void) {
  char text[32];
  const int max = atoi(probeReadFile("/proc/sys/kernel/pid_max", text, sizeof text));
  return max > 0 ? max : 4194304;
}

static void printProcPids(int *first) {
  DIR *proc = opendir("/proc");
  if (!proc) return;
  struct dirent *e;
  while ((e = readdir(proc)) != NULL) {
    const int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    printf("%s%d", *first ? "" : ", ", pid);
    *first = 0;
  }
  closedir(proc);
}

static void sweep(void) {
  const int max = pidMax();
  printf("{\"attempt\": \"sweep\", \"pid_max\": %d, \"listed\": [", max);
  int first = 1;
  printProcPids(&first);
  printf("], \"alive\": [");
  first = 1;
  for (int pid = 1; pid <= max; ++pid) {
    if (kill(pid, 0) == 0 || errno == EPERM) {
      printf("%s%d", first ? "" : ", ", pid);
      first = 0;
    }
  }
  printf("], \"listed_after\": [");
  first = 1;
  printProcPids(&first);
  printf("]}\n");
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "targets") == 0) {
    probeStart();
    targets(argc - 2, argv + 2);
  } else if (argc == 2 && strcmp(argv[1], "sweep") == 0) {
    probeStart();
    sweep();
  } else if (argc == 2 && strcmp(argv[1], "broadcast") == 0) {
    probeStart();
    signal(SIGTERM, SIG_IGN);
    PROBE_ATTEMPT("kill init SIGSTOP", NULL, kill(1, SIGSTOP));
    PROBE_ATTEMPT("kill init SIGKILL", NULL, kill(1, SIGKILL));
    PROBE_ATTEMPT("kill -1 SIGKILL", NULL, kill(-1, SIGKILL));
  } else {
    fprintf(stderr, "usage: signals targets PID... | signals sweep | signals broadcast\n");
    return 2;
  }
  return 0;
}
