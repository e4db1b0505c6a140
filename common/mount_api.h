// The kernel's new mount API (open_tree(2), move_mount(2), mount_setattr(2), 5.12+; fsopen(2),
// fsconfig(2), fsmount(2), 5.2+), which glibc 2.36 does not wrap: thin syscall wrappers, shared
// by the daemon's rootfs build and init.
#pragma once

#include <sys/mount.h>
// after sys/mount.h: glibc 2.36 defines some of the same names, and then skips its own
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace declaw {

inline int openTree(int dirfd, const char* path, unsigned flags) {
  return static_cast<int>(::syscall(SYS_open_tree, dirfd, path, flags));
}

inline int moveMount(int from_fd, const char* from, int to_fd, const char* to, unsigned flags) {
  return static_cast<int>(::syscall(SYS_move_mount, from_fd, from, to_fd, to, flags));
}

inline int mountSetattr(int fd, const char* path, unsigned flags, mount_attr* attr) {
  return static_cast<int>(::syscall(SYS_mount_setattr, fd, path, flags, attr, sizeof *attr));
}

inline int fsOpen(const char* type, unsigned flags) {
  return static_cast<int>(::syscall(SYS_fsopen, type, flags));
}

inline int fsConfig(int fs_fd, unsigned cmd, const char* key, const void* value, int aux) {
  return static_cast<int>(::syscall(SYS_fsconfig, fs_fd, cmd, key, value, aux));
}

inline int fsMount(int fs_fd, unsigned flags, unsigned attrs) {
  return static_cast<int>(::syscall(SYS_fsmount, fs_fd, flags, attrs));
}

}  // namespace declaw
