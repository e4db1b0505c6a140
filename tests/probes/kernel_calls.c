/* The system calls behind known container escapes and the kernel's largest attack surfaces,
 * each made for real with arguments the kernel would act on: the new mount API (open_tree,
 * move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr), keyrings (keyctl, add_key,
 * request_key), bpf, perf_event_open, userfaultfd, kexec, modules, file handles
 * (name_to_handle_at, open_by_handle_at: the "shocker" escape), pidfd_getfd, kcmp and
 * fanotify_init. Each attempt is one JSON line (probe.h); an fd that came back is closed.
 *
 * The arguments are safe even where a call got through: kexec_load names no image and an
 * impossible architecture, init_module gets a buffer that is not an ELF module,
 * delete_module a module name that does not exist. */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/mount.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

#ifndef KEXEC_ARCH_MASK
#define KEXEC_ARCH_MASK 0xffff0000
#endif

/* Reports the attempt and closes an fd it returned. */
static void attemptFd(const char *attempt, long ret, int err) {
  probeReport(attempt, NULL, ret, err);
  if (ret > 2) close((int)ret);
}
#define ATTEMPT_FD(attempt, call)   \
  do {                              \
    errno = 0;                      \
    const long fd_ = (long)(call);  \
    attemptFd(attempt, fd_, errno); \
  } while (0)

static void mountApi(void) {
  ATTEMPT_FD("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/usr",
                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  ATTEMPT_FD("fsopen", syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
  ATTEMPT_FD("fspick", syscall(SYS_fspick, AT_FDCWD, "/", FSPICK_CLOEXEC));
  /* With fds the filter would have refused to make, the kernel answers EBADF: the filter must
   * answer first. */
  ATTEMPT_FD("fsconfig", syscall(SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
  ATTEMPT_FD("fsmount", syscall(SYS_fsmount, -1, FSMOUNT_CLOEXEC, 0));
  ATTEMPT_FD("move_mount",
             syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH));
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_clr = MOUNT_ATTR_RDONLY;
  ATTEMPT_FD("mount_setattr",
             syscall(SYS_mount_setattr, AT_FDCWD, "/usr", AT_RECURSIVE, &attr, sizeof attr));
}

static void keyrings(void) {
  ATTEMPT_FD("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL));
  ATTEMPT_FD("keyctl read", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
  ATTEMPT_FD("add_key",
             syscall(SYS_add_key, "user", "declaw-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
  ATTEMPT_FD("request_key",
             syscall(SYS_request_key, "user", "declaw-probe", NULL, KEY_SPEC_PROCESS_KEYRING));
}

static void bpfPerfUserfaultfd(void) {
  /* A two-instruction socket filter: "return 0". */
  struct bpf_insn prog[2];
  memset(prog, 0, sizeof prog);
  prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
  prog[1].code = BPF_JMP | BPF_EXIT;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = 2;
  attr.insns = (uintptr_t)prog;
  attr.license = (uintptr_t) "GPL";
  ATTEMPT_FD("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  pe.disabled = 1;
  pe.exclude_kernel = 1;
  pe.exclude_hv = 1;
  ATTEMPT_FD("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
  ATTEMPT_FD("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  ATTEMPT_FD("userfaultfd UFFD_USER_MODE_ONLY",
             syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
}

static void kernelAndModules(void) {
  ATTEMPT_FD("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, KEXEC_ARCH_MASK));
  const int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ATTEMPT_FD("kexec_file_load", syscall(SYS_kexec_file_load, self, -1, 1, "", 0xf0));
  static const char not_a_module[64] = "not an ELF module";
  ATTEMPT_FD("init_module", syscall(SYS_init_module, not_a_module, sizeof not_a_module, ""));
  ATTEMPT_FD("finit_module", syscall(SYS_finit_module, self, "", 0));
  ATTEMPT_FD("delete_module", syscall(SYS_delete_module, "declaw_no_such_module", O_NONBLOCK));
  if (self >= 0) close(self);
}

static void handlesAndOtherProcesses(void) {
  /* name_to_handle_at on /usr (a host directory), then open_by_handle_at with a handle to the
   * root inode of that filesystem, as the shocker exploit forged it. */
  struct {
    struct file_handle handle;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  memset(&h, 0, sizeof h);
  h.handle.handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  ATTEMPT_FD("name_to_handle_at",
             syscall(SYS_name_to_handle_at, AT_FDCWD, "/usr", &h.handle, &mount_id, 0));
  memset(&h, 0, sizeof h);
  h.handle.handle_bytes = 8;
  h.handle.handle_type = 1; /* FILEID_INO32_GEN */
  const uint32_t root_inode = 2;
  memcpy(h.handle.f_handle, &root_inode, sizeof root_inode);
  const int usr = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ATTEMPT_FD("open_by_handle_at", syscall(SYS_open_by_handle_at, usr, &h.handle, O_RDONLY));
  if (usr >= 0) close(usr);
  const long init = syscall(SYS_pidfd_open, 1, 0);
  ATTEMPT_FD("pidfd_getfd of init's fd 3", syscall(SYS_pidfd_getfd, init, 3, 0));
  if (init >= 0) close((int)init);
  ATTEMPT_FD("kcmp", syscall(SYS_kcmp, getpid(), 1, 0 /* KCMP_FILE */, 0, 3));
  ATTEMPT_FD("fanotify_init", syscall(SYS_fanotify_init, 0, O_RDONLY));
}

int main(void) {
  probeStart();
  mountApi();
  keyrings();
  bpfPerfUserfaultfd();
  kernelAndModules();
  handlesAndOtherProcesses();
  return 0;
}
