/* Reaching into declaw-init, which holds the sandbox's control socket to declawd (fd 3) and whose
 * /proc/PID/exe is the host's declaw-init binary (CVE-2019-5736: overwrite the runtime through
 * /proc/PID/exe):
 *
 *   ptrace_init init
 *       PID 1: PTRACE_ATTACH, PTRACE_SEIZE, process_vm_readv, open /proc/1/mem, /proc/1/exe (read,
 *       write and O_PATH), /proc/1/environ, /proc/1/fd/3, readlink /proc/1/exe.
 *   ptrace_init helpers SECONDS
 *       For SECONDS, watches /proc for other processes named declaw-init: the forks init makes
 *       for the file API (they run as the requested user and hold fd 3) and for commands before
 *       they exec. Each one found is stopped with SIGSTOP (possible when it already runs as our
 *       uid), attacked as above, then continued. Reports one JSON line per attack kind, errno
 *       and "target" ("declaw-init" if the process still was declaw-init after the attempt,
 *       "exec'd" if it had become the command, or gone, meanwhile: what happens to those is no
 *       escape), with a count, and a summary {"attempt": "helpers", "seen": N}.
 *
 * Every attempt that works is undone at once (PTRACE_DETACH, close). */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

typedef void (*Reporter)(const char *attempt, int pid, long ret, int err);

static void reportOnce(const char *attempt, int pid, long ret, int err) {
  (void)pid;
  probeReport(attempt, NULL, ret, err);
}

static void tryOpen(Reporter report, const char *attempt, int pid, const char *file, int flags) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  errno = 0;
  const int fd = open(path, flags | O_CLOEXEC);
  report(attempt, pid, fd, errno);
  if (fd >= 0) close(fd);
}

static void attack(Reporter report, int pid) {
  errno = 0;
  long ret = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
  report("PTRACE_ATTACH", pid, ret, errno);
  if (ret == 0) {
    waitpid(pid, NULL, __WALL);
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
  }
  errno = 0;
  ret = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
  report("PTRACE_SEIZE", pid, ret, errno);
  if (ret == 0) ptrace(PTRACE_DETACH, pid, NULL, NULL);
  char buffer[64];
  struct iovec local = {buffer, sizeof buffer};
  struct iovec remote = {(void *)0x400000, sizeof buffer};
  errno = 0;
  ret = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  report("process_vm_readv", pid, ret, errno);
  tryOpen(report, "open mem", pid, "mem", O_RDONLY);
  tryOpen(report, "open exe", pid, "exe", O_RDONLY);
  tryOpen(report, "open exe for writing", pid, "exe", O_WRONLY);
  tryOpen(report, "open exe O_PATH", pid, "exe", O_PATH);
  tryOpen(report, "open environ", pid, "environ", O_RDONLY);
  tryOpen(report, "open fd/3", pid, "fd/3", O_RDWR);
  char path[64];
  char target[256];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  errno = 0;
  ret = readlink(path, target, sizeof target);
  report("readlink exe", pid, ret, errno);
}

/* Helpers mode: counts per (attempt, errno), printed at the end. */
enum { kMaxTallies = 64, kScanPauseUs = 200 };
static struct {
  const char *attempt;
  int err;
  int exec_d;
  long count;
} tallies[kMaxTallies];
static int tally_count;

static int isOtherInit(int pid);

static void tally(const char *attempt, int pid, long ret, int err) {
  const int e = ret < 0 ? err : 0;
  /* exec is one-way: still declaw-init after the attempt means declaw-init during it. */
  const int exec_d = !isOtherInit(pid);
  for (int i = 0; i < tally_count; ++i) {
    if (tallies[i].attempt == attempt && tallies[i].err == e && tallies[i].exec_d == exec_d) {
      ++tallies[i].count;
      return;
    }
  }
  if (tally_count < kMaxTallies) {
    tallies[tally_count++] = (typeof(tallies[0])){attempt, e, exec_d, 1};
  }
}

static int isOtherInit(int pid) {
  char path[64];
  char comm[32];
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  return pid != 1 && strcmp(probeReadFile(path, comm, sizeof comm), "declaw-init\n") == 0;
}

static int watchHelpers(double seconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long seen = 0;
  long stopped = 0;
  do {
    DIR *proc = opendir("/proc");
    if (!proc) return perror("opendir /proc"), 2;
    struct dirent *e;
    while ((e = readdir(proc)) != NULL) {
      const int pid = atoi(e->d_name);
      if (pid <= 1 || !isOtherInit(pid)) continue;
      ++seen;
      errno = 0;
      const int stop = kill(pid, SIGSTOP);
      tally("SIGSTOP", pid, stop, errno);
      stopped += stop == 0;
      attack(tally, pid);
      if (stop == 0) kill(pid, SIGCONT);
    }
    closedir(proc);
    /* Leave the CPU to the forks and the daemon between scans (the forks the test makes live
     * for milliseconds), or on a busy two-core machine there are few forks to find. */
    usleep(kScanPauseUs);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
  for (int i = 0; i < tally_count; ++i) {
    char args[96];
    snprintf(args, sizeof args, "\"target\": \"%s\", \"count\": %ld",
             tallies[i].exec_d ? "exec'd" : "declaw-init", tallies[i].count);
    probeReport(tallies[i].attempt, args, tallies[i].err ? -1 : 0, tallies[i].err);
  }
  printf("{\"attempt\": \"helpers\", \"seen\": %ld, \"stopped\": %ld}\n", seen, stopped);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "init") == 0) {
    probeStart();
    attack(reportOnce, 1);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "helpers") == 0) {
    probeStart();
    return watchHelpers(atof(argv[2]));
  }
  fprintf(stderr, "usage: ptrace_init init | ptrace_init helpers SECONDS\n");
  return 2;
}
