/* Lists the file descriptors this process inherited beyond stdin, stdout and stderr.
 *
 * Run inside a sandbox right after exec: every fd the daemon or declaw-init holds (control
 * sockets, pipes, the rootfs dir) must have been closed or marked close-on-exec, or sandbox code
 * could use it to reach outside (CVE-2024-21626: a leaked host directory fd, used as
 * /proc/self/fd/N, is a way out of the mount namespace). One JSON line per fd:
 *   {"fd": N, "target": "/proc/self/fd/N link", "type": "dir|reg|sock|fifo|chr|blk|lnk|other"}
 * then {"extra_fds": E, "dir_fds": D, "standard_fds": S}. Exit 0 only if there are no extra fds;
 * 1 if there are; 2 if the probe itself could not run. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *typeOf(mode_t mode) {
  if (S_ISDIR(mode)) return "dir";
  if (S_ISREG(mode)) return "reg";
  if (S_ISSOCK(mode)) return "sock";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode)) return "chr";
  if (S_ISBLK(mode)) return "blk";
  if (S_ISLNK(mode)) return "lnk";
  return "other";
}

int main(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) {
    perror("opendir /proc/self/fd");
    return 2;
  }
  const int own_fd = dirfd(dir);
  int standard = 0;
  int extra = 0;
  int dirs = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    const int fd = atoi(entry->d_name);
    if (fd == own_fd) continue;
    if (fd <= 2) {
      ++standard;
      continue;
    }
    char link[64];
    char target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    for (char *c = target; *c; ++c) {
      if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '?';
    }
    struct stat st;
    const char *type = fstat(fd, &st) == 0 ? typeOf(st.st_mode) : "unknown";
    printf("{\"fd\": %d, \"target\": \"%s\", \"type\": \"%s\"}\n", fd, target, type);
    ++extra;
    dirs += type[0] == 'd';
  }
  closedir(dir);
  printf("{\"extra_fds\": %d, \"dir_fds\": %d, \"standard_fds\": %d}\n", extra, dirs, standard);
  return extra == 0 ? 0 : 1;
}
