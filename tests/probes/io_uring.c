/* io_uring as a way around the socket() filter: IORING_OP_SOCKET (Linux 5.19) creates a socket
 * inside the kernel, where seccomp never sees a socket() call.
 *
 * Attempts io_uring_setup; if a ring comes back, maps it and submits IORING_OP_SOCKET for an
 * AF_INET stream socket, reporting the completion's result as the attempt "IORING_OP_SOCKET"
 * (ret >= 0: the kernel made the socket). Without a ring that attempt is reported with
 * "attempted": false. io_uring_enter and io_uring_register are tried on their own too (on a bad
 * fd: a kernel that lets them through answers EBADF, the filter EPERM).
 *
 * Run outside a sandbox, on a kernel with io_uring enabled, the probe creates the socket: that is
 * how the test knows the attack is real. */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

enum { kRingEntries = 8 };

/* Returns the completion's result (a socket fd or -errno), or 1 << 30 if the ring could not be
 * used (reported separately). */
static long socketThroughRing(int ring, const struct io_uring_params *p) {
  const size_t sq_size = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
  const size_t cq_size = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
  char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                  IORING_OFF_SQ_RING);
  char *cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                  IORING_OFF_CQ_RING);
  struct io_uring_sqe *sqes =
      mmap(NULL, p->sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
           MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
    probeReport("mmap ring", NULL, -1, errno);
    return 1L << 30;
  }
  uint32_t *sq_tail = (uint32_t *)(sq + p->sq_off.tail);
  uint32_t *sq_array = (uint32_t *)(sq + p->sq_off.array);
  const uint32_t sq_mask = *(uint32_t *)(sq + p->sq_off.ring_mask);
  uint32_t *cq_head = (uint32_t *)(cq + p->cq_off.head);
  uint32_t *cq_tail = (uint32_t *)(cq + p->cq_off.tail);
  const uint32_t cq_mask = *(uint32_t *)(cq + p->cq_off.ring_mask);
  struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);

  const uint32_t tail = *sq_tail;
  struct io_uring_sqe *sqe = &sqes[tail & sq_mask];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_SOCKET;
  sqe->fd = AF_INET;      /* domain */
  sqe->off = SOCK_STREAM; /* type */
  sqe->len = IPPROTO_TCP; /* protocol */
  sq_array[tail & sq_mask] = tail & sq_mask;
  __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);

  errno = 0;
  const long entered = syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
  probeReport("io_uring_enter (submit)", NULL, entered, errno);
  if (entered < 0) return 1L << 30;
  const uint32_t head = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);
  if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) return 1L << 30;
  const long res = cqes[head & cq_mask].res;
  __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
  return res;
}

int main(void) {
  probeStart();
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  errno = 0;
  const long ring = syscall(SYS_io_uring_setup, kRingEntries, &params);
  probeReport("io_uring_setup", NULL, ring, errno);
  if (ring >= 0) {
    const long res = socketThroughRing((int)ring, &params);
    if (res != 1L << 30) {
      probeReport("IORING_OP_SOCKET", "\"attempted\": true", res < 0 ? -1 : res,
                  res < 0 ? (int)-res : 0);
      if (res >= 0) close((int)res);
    }
    close((int)ring);
  } else {
    printf("{\"attempt\": \"IORING_OP_SOCKET\", \"attempted\": false}\n");
  }
  PROBE_ATTEMPT("io_uring_enter", NULL, syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
  PROBE_ATTEMPT("io_uring_register", NULL,
                syscall(SYS_io_uring_register, -1, IORING_REGISTER_PROBE, NULL, 0));
  return 0;
}
