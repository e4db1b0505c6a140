/* Shared by the C probes that run inside sandboxes (tests/security).
 *
 * A probe makes the real system call of an attack and reports every attempt as one JSON line on
 * stdout:
 *   {"attempt": "NAME", ARGS..., "ret": R, "errno": E, "error": "ENAME"}
 * errno is 0 and error "" when the call succeeded (ret >= 0): the attack worked. The test then
 * compares each line with the failure it expects (EPERM from seccomp, EACCES from a permission
 * check, ...). Probes print "attempting" first, so a test can tell a probe that never ran from
 * one that was stopped during an attempt. Output is flushed line by line: a probe killed half way
 * still leaves its earlier lines. */
#ifndef DECLAW_TESTS_PROBES_PROBE_H
#define DECLAW_TESTS_PROBES_PROBE_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include (probe.h uses strerrorname_np)"
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void probeStart(void) {
  printf("attempting\n");
  fflush(stdout);
}

/* ARGS is either NULL or JSON members without braces, e.g. "\"family\": 2". */
static inline void probeReport(const char *attempt, const char *args, long ret, int err) {
  const int failed = ret < 0;
  const char *name = failed ? strerrorname_np(err) : "";
  printf("{\"attempt\": \"%s\", %s%s\"ret\": %ld, \"errno\": %d, \"error\": \"%s\"}\n", attempt,
         args ? args : "", args ? ", " : "", ret, failed ? err : 0, name ? name : "?");
  fflush(stdout);
}

/* Reads up to SIZE - 1 bytes of a small file (a /proc entry) into BUF as a string; "" if it
 * cannot be read. Returns BUF. */
static inline char *probeReadFile(const char *path, char *buf, size_t size) {
  buf[0] = '\0';
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return buf;
  const ssize_t n = read(fd, buf, size - 1);
  buf[n < 0 ? 0 : n] = '\0';
  close(fd);
  return buf;
}

/* A raw syscall() returns -1 and sets errno; the value before the call is irrelevant. */
#define PROBE_ATTEMPT(attempt, args, call)         \
  do {                                             \
    errno = 0;                                     \
    const long probe_ret_ = (long)(call);          \
    probeReport(attempt, args, probe_ret_, errno); \
  } while (0)

#endif
