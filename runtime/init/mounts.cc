#include "runtime/init/mounts.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fs_at.h"
#include "common/io.h"
#include "common/unique_fd.h"
#include "runtime/init/mountinfo.h"

namespace declaw::runtime::init {

namespace {

// Host /etc files are small; anything bigger than this is not what the allow-list meant.
constexpr size_t kMaxCopiedFileBytes = 16 << 20;
constexpr size_t kMaxMountinfoBytes = 16 << 20;

std::string inRoot(const std::string& root, const std::string& path) {
  return path == "/" ? root : root + path;
}

// The flags of the mount at `path` that a less privileged mount namespace may not clear.
// mount_namespaces(7), "Restrictions on mount namespaces": MS_RDONLY, MS_NOSUID, MS_NOEXEC,
// MS_NODEV and the atime flags of mounts inherited from a more privileged namespace are locked;
// mount(2) with MS_REMOUNT|MS_BIND sets the per-mount flags to exactly what is passed, so a
// remount that omits a locked flag fails with EPERM. statvfs(3) reports them as ST_*.
Result<unsigned long> lockedFlags(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return ErrnoError() << "statvfs " << path;
  struct Pair {
    unsigned long st;
    unsigned long ms;
  };
  constexpr Pair kPairs[] = {{ST_RDONLY, MS_RDONLY},    {ST_NOSUID, MS_NOSUID},
                             {ST_NODEV, MS_NODEV},      {ST_NOEXEC, MS_NOEXEC},
                             {ST_NOATIME, MS_NOATIME},  {ST_NODIRATIME, MS_NODIRATIME},
                             {ST_RELATIME, MS_RELATIME}};
  unsigned long flags = 0;
  for (const Pair& p : kPairs) {
    if ((st.f_flag & p.st) != 0) flags |= p.ms;
  }
  return flags;
}

// Remounts the bind at `target` (and, if `recursive`, every mount the bind brought along) with
// `extra` flags added to the ones it has.
Result<void> remountBind(const std::string& target, unsigned long extra, bool recursive) {
  std::vector<std::string> mounts = {target};
  if (recursive) {
    auto info = readFile("/proc/self/mountinfo", kMaxMountinfoBytes);
    if (!info) return info.error();
    mounts = mountTreeAt(*info, target);
    if (mounts.empty()) return ErrnoError(ENOENT) << "no mount at " << target << " in mountinfo";
  }
  for (const std::string& mount_point : mounts) {
    auto locked = lockedFlags(mount_point);
    if (!locked) return locked.error();
    unsigned long flags = MS_REMOUNT | MS_BIND | *locked | extra;
    if (::mount(nullptr, mount_point.c_str(), nullptr, flags, nullptr) != 0) {
      return ErrnoError() << "remount " << mount_point;
    }
  }
  return {};
}

// Inside the new root, resolved by the kernel: no symlink (RESOLVE_NO_SYMLINKS also covers
// "..", which RESOLVE_IN_ROOT keeps inside anyway), no magic link (/proc/self/...).
constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
constexpr size_t kMaxAccountsFileBytes = 1 << 20;

int moveMount(int from_fd, const char* from, int to_fd, const char* to, unsigned flags) {
  return static_cast<int>(::syscall(SYS_move_mount, from_fd, from, to_fd, to, flags));
}

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// "/etc/hosts" -> ("etc", "hosts"); "/usr" -> ("", "usr"); "/" -> ("", "").
std::pair<std::string, std::string> parentAndName(const std::string& path) {
  const size_t first = path.find_first_not_of('/');
  return splitParent(first == std::string::npos ? "" : path.substr(first));
}

// The target's parent directory inside the root. A symlink anywhere in it is ELOOP.
Result<UniqueFd> parentDir(int root, const std::string& target) {
  auto [parent, name] = parentAndName(target);
  return openAt2(root, parent, O_PATH | O_DIRECTORY, kInRoot);
}

// The target itself, inside the root, never through a symlink.
Result<UniqueFd> openTarget(int root, const std::string& target, uint64_t flags) {
  const size_t first = target.find_first_not_of('/');
  return openAt2(root, first == std::string::npos ? "" : target.substr(first), flags, kInRoot);
}

// Clears the way for a new non-directory entry: anything there but a directory is removed (an
// image's symlink is replaced, never followed). EISDIR for a directory.
Result<void> clearNonDirectory(int parent, const std::string& name, const std::string& target) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return ErrnoError() << "stat " << target;
  }
  if (S_ISDIR(st.st_mode)) return ErrnoError(EISDIR) << target << " is a directory";
  if (::unlinkat(parent, name.c_str(), 0) != 0) return ErrnoError() << "replace " << target;
  return {};
}

Result<void> copyHostFile(const std::string& source, int parent, const std::string& name,
                          const std::string& target) {
  UniqueFd in(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!in) return ErrnoError() << "open " << source;
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError() << "fstat " << source;
  if (!S_ISREG(st.st_mode)) return ErrnoError(EINVAL) << source << " is not a regular file";
  auto data = readAll(in.get(), kMaxCopiedFileBytes);
  if (!data) return ErrnoError(data.error().code) << "read " << source;
  if (auto r = clearNonDirectory(parent, name, target); !r) return r;
  UniqueFd out(::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        st.st_mode & 0777));
  if (!out) return ErrnoError() << "create " << target;
  if (::fchmod(out.get(), st.st_mode & 0777) != 0) return ErrnoError() << "chmod " << target;
  if (auto r = writeAll(out.get(), *data); !r)
    return ErrnoError(r.error().code) << "write " << target;
  return {};
}

Result<void> writeNewFile(int parent, const std::string& name, const std::string& target,
                          const std::string& contents, uint32_t mode) {
  if (auto r = clearNonDirectory(parent, name, target); !r) return r;
  UniqueFd out(
      ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!out) return ErrnoError() << "create " << target;
  if (::fchmod(out.get(), mode) != 0) return ErrnoError() << "chmod " << target;
  if (auto r = writeAll(out.get(), contents); !r) {
    return ErrnoError(r.error().code) << "write " << target;
  }
  return {};
}

// The image's passwd or group with declaw's accounts added. A symlink or anything but a
// regular file there is replaced by the required lines alone.
Result<void> mergeAccountsFile(int parent, const std::string& name, const MountStep& s) {
  std::string existing;
  UniqueFd in(::openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (in && ::fstat(in.get(), &st) == 0 && S_ISREG(st.st_mode)) {
    auto data = readAll(in.get(), kMaxAccountsFileBytes);
    if (!data) return ErrnoError(data.error().code) << "read " << s.target;
    existing = std::move(*data);
  }
  in.reset();
  return writeNewFile(parent, name, s.target, mergeAccounts(existing, s.contents), s.mode);
}

// The target is a directory made by this step (mode, owner) or already there (left as the
// template has it). Anything else there is replaced by the directory.
Result<void> makeDir(int parent, const std::string& name, const MountStep& s) {
  if (name.empty()) return {};  // the root itself
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    if (::unlinkat(parent, name.c_str(), 0) != 0) return ErrnoError() << "replace " << s.target;
  } else if (errno != ENOENT) {
    return ErrnoError() << "stat " << s.target;
  }
  if (::mkdirat(parent, name.c_str(), s.mode) != 0) return ErrnoError() << "mkdir";
  // mkdir(2) applies the umask and ignores S_ISVTX on some filesystems: set the mode exactly.
  if (::fchmodat(parent, name.c_str(), s.mode, 0) != 0) return ErrnoError() << "chmod";
  if ((s.uid != 0 || s.gid != 0) &&
      ::fchownat(parent, name.c_str(), s.uid, s.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError() << "chown";
  }
  return {};
}

Result<void> makeSymlink(int parent, const std::string& name, const MountStep& s) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return {};  // the template has a real directory there: keep it
    if (::unlinkat(parent, name.c_str(), 0) != 0) return ErrnoError() << "replace " << s.target;
  }
  if (::symlinkat(s.source.c_str(), parent, name.c_str()) != 0) return ErrnoError() << "symlink";
  return {};
}

Result<void> mountAt(const char* source, int target_fd, const char* fstype, unsigned long flags,
                     const char* data) {
  if (::mount(source, fdPath(target_fd).c_str(), fstype, flags, data) != 0) {
    return ErrnoError() << "mount";
  }
  return {};
}

Result<void> applyStep(const MountStep& s, const std::string& staging, int root,
                       std::span<const UniqueFd> root_fds) {
  // Mount points are reached by fd; remounts (which name every submount) by the path, which is
  // then known to be the mount point: resolved without symlinks, and no sandbox code runs yet.
  const std::string target_path = inRoot(staging, s.target);
  switch (s.kind) {
    case StepKind::kAttach: {
      if (s.fd_index < 0 || static_cast<size_t>(s.fd_index) >= root_fds.size()) {
        return ErrnoError(EINVAL) << "no mount fd " << s.fd_index;
      }
      const int from = root_fds[static_cast<size_t>(s.fd_index)].get();
      if (s.target == "/") {
        if (moveMount(from, "", AT_FDCWD, staging.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
          return ErrnoError() << "attach the root";
        }
        return {};
      }
      auto at = openTarget(root, s.target, O_PATH | O_DIRECTORY);
      if (!at) return at.error();
      if (moveMount(from, "", at->get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
          0) {
        return ErrnoError() << "attach";
      }
      return {};
    }
    case StepKind::kTmpfs: {
      auto at = openTarget(root, s.target, O_PATH | O_DIRECTORY);
      if (!at) return at.error();
      return mountAt(s.source.c_str(), at->get(), "tmpfs", s.flags, s.data.c_str());
    }
    case StepKind::kProc: {
      // A new proc needs a new pid namespace owned by our user namespace, and a fully visible
      // proc elsewhere in this mount namespace (mount_too_revealing, see proc(5) and
      // mount_namespaces(7)): the host's /proc, still there until pivot_root.
      auto at = openTarget(root, s.target, O_PATH | O_DIRECTORY);
      if (!at) return at.error();
      return mountAt(s.source.c_str(), at->get(), "proc", s.flags, nullptr);
    }
    case StepKind::kDevpts: {
      auto at = openTarget(root, s.target, O_PATH | O_DIRECTORY);
      if (!at) return at.error();
      return mountAt(s.source.c_str(), at->get(), "devpts", s.flags, s.data.c_str());
    }
    case StepKind::kBind: {
      UniqueFd source_fd;
      std::string source = s.source;
      if (s.source_root == SourceRoot::kNewRoot) {
        auto opened = openTarget(root, s.source, O_PATH);
        if (!opened) return opened.error();
        source_fd = std::move(*opened);
        source = fdPath(source_fd.get());
      }
      auto at = openTarget(root, s.target, O_PATH);
      if (!at) return at.error();
      // MS_REC: a non-recursive bind of a tree with locked submounts fails with EINVAL in a user
      // namespace (it would reveal what they cover; mount_namespaces(7)).
      unsigned long flags = MS_BIND | (s.recursive ? MS_REC : 0);
      if (auto r = mountAt(source.c_str(), at->get(), nullptr, flags, nullptr); !r) return r;
      // A bind ignores every flag but MS_REC; the per-mount flags take a remount.
      unsigned long extra = s.flags | (s.readonly ? MS_RDONLY : 0);
      if (extra != 0) return remountBind(target_path, extra, s.recursive);
      return {};
    }
    default:
      break;
  }
  // Steps that create an entry: by name in the parent, which is resolved without symlinks.
  auto parent = parentDir(root, s.target);
  if (!parent) return parent.error();
  const std::string name = parentAndName(s.target).second;
  switch (s.kind) {
    case StepKind::kMkdir:
      return makeDir(parent->get(), name, s);
    case StepKind::kTouch: {
      if (auto r = clearNonDirectory(parent->get(), name, s.target); !r) return r;
      UniqueFd fd(::openat(parent->get(), name.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, s.mode));
      if (!fd) return ErrnoError() << "create";
      return {};
    }
    case StepKind::kSymlink:
      return makeSymlink(parent->get(), name, s);
    case StepKind::kCopyFile:
      return copyHostFile(s.source, parent->get(), name, s.target);
    case StepKind::kWriteFile:
      return writeNewFile(parent->get(), name, s.target, s.contents, s.mode);
    case StepKind::kAccounts:
      return mergeAccountsFile(parent->get(), name, s);
    default:
      return ErrnoError(EINVAL) << "unknown step";
  }
}

}  // namespace

Result<void> makeMountsPrivate() {
  // A fresh mount namespace starts as a copy whose shared mounts became slaves of the host's
  // (mount_namespaces(7), "Restrictions"); private also stops our mounts reaching anyone else.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return ErrnoError() << "make / private";
  }
  return {};
}

Result<void> applyRootfsPlan(const std::vector<MountStep>& steps, const std::string& staging,
                             std::span<const UniqueFd> root_fds) {
  UniqueFd root;
  for (const MountStep& step : steps) {
    // The root is whatever is mounted at staging once the first step attached it.
    if (!root && !(step.kind == StepKind::kAttach && step.target == "/")) {
      root.reset(::open(staging.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) return ErrnoError() << "open the new root";
    }
    if (auto r = applyStep(step, staging, root.get(), root_fds); !r) {
      return ErrnoError(r.error().code) << describe(step) << ": " << r.error().message;
    }
  }
  return {};
}

Result<void> pivotInto(const std::string& new_root) {
  // pivot_root(2), NOTES: pivot_root(".", ".") stacks the old root on top of the new one at the
  // same place; unmounting "." then removes the old root, with no put_old directory needed.
  // In a user namespace this is allowed because pivot_root moves the old root's MNT_LOCKED to
  // the new root, and MNT_DETACH takes the old tree's locked submounts along with it.
  if (::chdir(new_root.c_str()) != 0) return ErrnoError() << "chdir " << new_root;
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return ErrnoError() << "pivot_root";
  if (::umount2(".", MNT_DETACH) != 0) return ErrnoError() << "detach the old root";
  if (::chdir("/") != 0) return ErrnoError() << "chdir /";
  return {};
}

}  // namespace declaw::runtime::init
