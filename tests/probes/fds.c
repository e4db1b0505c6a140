/* Lists the file descriptors this process inherited beyond stdin, stdout and stderr.
 *
 * Run inside a sandbox right after exec: every fd the daemon or declaw-init holds (control
 * sockets, pipes, the rootfs dir) must have been closed or marked close-on-exec, or sandbox code
 * could use it to reach outside (CVE-2024-21626 family). Prints one line per extra fd with its
 * /proc/self/fd link, then "extra_fds N". Exit 0 only if there are none; 1 if there are; 2 if the
 * probe itself could not run. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) {
    perror("opendir /proc/self/fd");
    return 2;
  }
  const int own_fd = dirfd(dir);
  int standard = 0;
  int extra = 0;
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
    printf("fd %d -> %s\n", fd, target);
    ++extra;
  }
  closedir(dir);
  printf("standard_fds %d\nextra_fds %d\n", standard, extra);
  return extra == 0 ? 0 : 1;
}
