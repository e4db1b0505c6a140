/* New namespaces from inside a sandbox: unshare() of every namespace type, clone() with each
 * namespace flag (also with the upper half of the flags set, which the kernel ignores), clone3()
 * with and without CLONE_NEWUSER, and setns() through a pidfd of init (pidfd_open(2) needs no
 * ptrace access, so it is a real handle on init's namespaces) and through /proc/self/ns links. A
 * nested user namespace would give back every capability inside it, and with it the kernel code
 * that only a capable process reaches (the usual first step of a container escape).
 *
 * Each attempt is one JSON line (probe.h). Last comes "namespaces unchanged": ret 0 if this
 * process is still in the namespaces it started in (compared by their /proc/self/ns links), else
 * -1. */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <fcntl.h>
#include <linux/sched.h> /* struct clone_args */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct Flag {
  const char *name;
  uint64_t flag;
};

static const struct Flag kNamespaceFlags[] = {
    {"CLONE_NEWUSER", CLONE_NEWUSER},     {"CLONE_NEWNS", CLONE_NEWNS},
    {"CLONE_NEWNET", CLONE_NEWNET},       {"CLONE_NEWPID", CLONE_NEWPID},
    {"CLONE_NEWIPC", CLONE_NEWIPC},       {"CLONE_NEWUTS", CLONE_NEWUTS},
    {"CLONE_NEWCGROUP", CLONE_NEWCGROUP}, {"CLONE_NEWTIME", CLONE_NEWTIME},
};
static const char *const kNamespaceNames[] = {"user", "mnt", "net",    "pid",
                                              "ipc",  "uts", "cgroup", "time"};
enum { kNamespaces = sizeof kNamespaceNames / sizeof kNamespaceNames[0] };

static void readNamespaces(char links[kNamespaces][64]) {
  for (int i = 0; i < kNamespaces; ++i) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", kNamespaceNames[i]);
    const ssize_t n = readlink(path, links[i], 63);
    links[i][n < 0 ? 0 : n] = '\0';
  }
}

/* A child made with new namespaces exits at once; the parent reaps it. */
static void reapIfChild(long ret) {
  if (ret == 0) _exit(0);
  if (ret > 0) waitpid((pid_t)ret, NULL, __WALL);
}

int main(void) {
  probeStart();
  char before[kNamespaces][64];
  readNamespaces(before);
  char attempt[96];
  for (size_t i = 0; i < sizeof kNamespaceFlags / sizeof kNamespaceFlags[0]; ++i) {
    const struct Flag *f = &kNamespaceFlags[i];
    snprintf(attempt, sizeof attempt, "unshare %s", f->name);
    PROBE_ATTEMPT(attempt, NULL, syscall(SYS_unshare, f->flag));
    if (f->flag == CLONE_NEWTIME) continue; /* inside clone()'s exit-signal byte */
    const uint64_t highs[] = {0, UINT64_C(0xffffffff00000000)};
    for (int h = 0; h < 2; ++h) {
      snprintf(attempt, sizeof attempt, "clone %s%s", f->name, h ? " with high bits" : "");
      errno = 0;
      const long ret = syscall(SYS_clone, highs[h] | f->flag | SIGCHLD, 0, NULL, NULL, 0);
      reapIfChild(ret);
      probeReport(attempt, NULL, ret, errno);
    }
  }
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  args.flags = CLONE_NEWUSER;
  errno = 0;
  long ret = syscall(SYS_clone3, &args, sizeof args);
  reapIfChild(ret);
  probeReport("clone3 CLONE_NEWUSER", NULL, ret, errno);
  args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET;
  errno = 0;
  ret = syscall(SYS_clone3, &args, sizeof args);
  reapIfChild(ret);
  probeReport("clone3 CLONE_NEWUSER|NEWNS|NEWPID|NEWNET", NULL, ret, errno);
  args.flags = 0;
  errno = 0;
  ret = syscall(SYS_clone3, &args, sizeof args);
  reapIfChild(ret);
  probeReport("clone3 without namespace flags", NULL, ret, errno);
  errno = 0;
  const long init_pidfd = syscall(SYS_pidfd_open, 1, 0);
  probeReport("pidfd_open 1", NULL, init_pidfd, errno);
  if (init_pidfd >= 0) {
    PROBE_ATTEMPT("setns pidfd of init, every namespace", NULL,
                  setns((int)init_pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID |
                                             CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP));
    PROBE_ATTEMPT("setns pidfd of init, mount namespace", NULL,
                  setns((int)init_pidfd, CLONE_NEWNS));
    close((int)init_pidfd);
  }
  for (int i = 0; i < kNamespaces; ++i) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", kNamespaceNames[i]);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(attempt, sizeof attempt, "setns %s", path);
    if (fd < 0) {
      probeReport(attempt, "\"opened\": false", -1, errno);
      continue;
    }
    PROBE_ATTEMPT(attempt, "\"opened\": true", setns(fd, 0));
    close(fd);
  }
  char after[kNamespaces][64];
  readNamespaces(after);
  int same = 1;
  for (int i = 0; i < kNamespaces; ++i) same = same && strcmp(before[i], after[i]) == 0;
  probeReport("namespaces unchanged", NULL, same ? 0 : -1, same ? 0 : EEXIST);
  return 0;
}
