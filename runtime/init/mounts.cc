#include "runtime/init/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

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

Result<void> copyHostFile(const std::string& source, const std::string& target) {
  UniqueFd in(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!in) return ErrnoError() << "open " << source;
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError() << "fstat " << source;
  if (!S_ISREG(st.st_mode)) return ErrnoError(EINVAL) << source << " is not a regular file";
  auto data = readAll(in.get(), kMaxCopiedFileBytes);
  if (!data) return ErrnoError(data.error().code) << "read " << source;
  UniqueFd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      st.st_mode & 0777));
  if (!out) return ErrnoError() << "create " << target;
  if (auto r = writeAll(out.get(), *data); !r)
    return ErrnoError(r.error().code) << "write " << target;
  return {};
}

Result<void> writeNewFile(const std::string& target, const std::string& contents, uint32_t mode) {
  UniqueFd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!out) return ErrnoError() << "create " << target;
  if (::fchmod(out.get(), mode) != 0) return ErrnoError() << "chmod " << target;
  if (auto r = writeAll(out.get(), contents); !r) {
    return ErrnoError(r.error().code) << "write " << target;
  }
  return {};
}

Result<void> makeDir(const std::string& path, const MountStep& s) {
  if (::mkdir(path.c_str(), s.mode) != 0) {
    struct stat st {};
    // The staging root starts empty, but a step may name a directory the tmpfs already has.
    if (errno != EEXIST || ::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return ErrnoError() << "mkdir";
    }
  }
  // mkdir(2) applies the umask and ignores S_ISVTX on some filesystems: set the mode exactly.
  if (::chmod(path.c_str(), s.mode) != 0) return ErrnoError() << "chmod";
  if ((s.uid != 0 || s.gid != 0) && ::lchown(path.c_str(), s.uid, s.gid) != 0) {
    return ErrnoError() << "chown";
  }
  return {};
}

Result<void> applyStep(const MountStep& s, const std::string& root) {
  const std::string target = inRoot(root, s.target);
  switch (s.kind) {
    case StepKind::kTmpfs:
      if (::mount(s.source.c_str(), target.c_str(), "tmpfs", s.flags, s.data.c_str()) != 0) {
        return ErrnoError() << "mount";
      }
      return {};
    case StepKind::kProc:
      // A new proc needs a new pid namespace owned by our user namespace, and a fully visible
      // proc elsewhere in this mount namespace (mount_too_revealing, see proc(5) and
      // mount_namespaces(7)): the host's /proc, still there until pivot_root.
      if (::mount(s.source.c_str(), target.c_str(), "proc", s.flags, nullptr) != 0) {
        return ErrnoError() << "mount";
      }
      return {};
    case StepKind::kDevpts:
      if (::mount(s.source.c_str(), target.c_str(), "devpts", s.flags, s.data.c_str()) != 0) {
        return ErrnoError() << "mount";
      }
      return {};
    case StepKind::kBind: {
      const std::string source =
          s.source_root == SourceRoot::kHost ? s.source : inRoot(root, s.source);
      // MS_REC: a non-recursive bind of a tree with locked submounts fails with EINVAL in a user
      // namespace (it would reveal what they cover; mount_namespaces(7)).
      unsigned long flags = MS_BIND | (s.recursive ? MS_REC : 0);
      if (::mount(source.c_str(), target.c_str(), nullptr, flags, nullptr) != 0) {
        return ErrnoError() << "mount";
      }
      // A bind ignores every flag but MS_REC; the per-mount flags take a remount.
      unsigned long extra = s.flags | (s.readonly ? MS_RDONLY : 0);
      if (extra != 0) return remountBind(target, extra, s.recursive);
      return {};
    }
    case StepKind::kMkdir:
      return makeDir(target, s);
    case StepKind::kTouch: {
      UniqueFd fd(
          ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, s.mode));
      if (!fd) return ErrnoError() << "create";
      return {};
    }
    case StepKind::kSymlink:
      if (::symlink(s.source.c_str(), target.c_str()) != 0) return ErrnoError() << "symlink";
      return {};
    case StepKind::kCopyFile:
      return copyHostFile(s.source, target);
    case StepKind::kWriteFile:
      return writeNewFile(target, s.contents, s.mode);
  }
  return ErrnoError(EINVAL) << "unknown step";
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

Result<void> applyRootfsPlan(const std::vector<MountStep>& steps, const std::string& staging) {
  for (const MountStep& step : steps) {
    if (auto r = applyStep(step, staging); !r) {
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
