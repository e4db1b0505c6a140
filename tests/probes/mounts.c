/* Mounts from inside a sandbox, with mount(2) and friends (the new mount API is in
 * kernel_calls.c): a tmpfs, a bind of /usr, a read-write remount of /usr, proc and sysfs
 * instances, moving /dev/shm, making / shared (so that mounts would propagate), unmounting the
 * /proc masks and /usr, pivot_root; then the classic chroot breakout (chroot into a
 * subdirectory, chdir("..") far up, chroot(".")), which must end in the sandbox's own root.
 *
 * usage: mounts DIR   (DIR: an empty directory the probe may use as a mount point)
 * Each attempt is one JSON line (probe.h). The last line, "root after chroot breakout", has ret 0
 * and "hostname": the content of /etc/hostname as seen from where the breakout ended. */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static void chrootBreakout(const char *dir) {
  char inner[512];
  snprintf(inner, sizeof inner, "%s/jail", dir);
  mkdir(inner, 0755);
  PROBE_ATTEMPT("chroot into a subdirectory", NULL, chroot(inner));
  for (int i = 0; i < 64; ++i) (void)chdir("..");
  PROBE_ATTEMPT("chroot . after chdir .. x64", NULL, chroot("."));
  char hostname[128];
  errno = 0;
  probeReadFile("/etc/hostname", hostname, sizeof hostname);
  const int err = hostname[0] ? 0 : (errno ? errno : ENOENT);
  hostname[strcspn(hostname, "\n\"\\")] = '\0';
  char args[200];
  snprintf(args, sizeof args, "\"hostname\": \"%s\"", hostname);
  probeReport("root after chroot breakout", args, err ? -1 : 0, err);
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: mounts DIR\n"), 2;
  const char *dir = argv[1];
  probeStart();
  PROBE_ATTEMPT("mount tmpfs", NULL, mount("declaw-probe", dir, "tmpfs", 0, "size=64k"));
  PROBE_ATTEMPT("bind /usr", NULL, mount("/usr", dir, NULL, MS_BIND | MS_REC, NULL));
  PROBE_ATTEMPT("remount /usr read-write", NULL,
                mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
  PROBE_ATTEMPT("mount proc", NULL, mount("proc", dir, "proc", 0, NULL));
  PROBE_ATTEMPT("mount sysfs", NULL, mount("sysfs", dir, "sysfs", 0, NULL));
  PROBE_ATTEMPT("mount cgroup2", NULL, mount("cgroup2", dir, "cgroup2", 0, NULL));
  PROBE_ATTEMPT("move /dev/shm", NULL, mount("/dev/shm", dir, NULL, MS_MOVE, NULL));
  PROBE_ATTEMPT("make / shared", NULL, mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL));
  PROBE_ATTEMPT("umount /proc/sys", NULL, umount2("/proc/sys", MNT_DETACH));
  PROBE_ATTEMPT("umount /proc/keys", NULL, umount2("/proc/keys", MNT_DETACH));
  PROBE_ATTEMPT("umount /usr", NULL, umount2("/usr", MNT_DETACH));
  PROBE_ATTEMPT("pivot_root", NULL, syscall(SYS_pivot_root, dir, dir));
  chrootBreakout(dir);
  return 0;
}
