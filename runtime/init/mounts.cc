#include "runtime/init/mounts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fs_at.h"
#include "common/io.h"
#include "common/mount_api.h"
#include "common/unique_fd.h"
#include "runtime/init/etc_files.h"

namespace declaw::runtime::init {

namespace {

// Host /etc files are small; anything bigger than this is not what the allow-list meant.
constexpr size_t kMaxCopiedFileBytes = 16 << 20;

// The MS_* per-mount flags a plan's bind may ask for.
constexpr unsigned long kBindFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

// MS_* per-mount flags (within kBindFlags) as mount_setattr(2)'s MOUNT_ATTR_*.
uint64_t mountAttrs(unsigned long flags) {
  uint64_t attrs = 0;
  if ((flags & MS_RDONLY) != 0) attrs |= MOUNT_ATTR_RDONLY;
  if ((flags & MS_NOSUID) != 0) attrs |= MOUNT_ATTR_NOSUID;
  if ((flags & MS_NODEV) != 0) attrs |= MOUNT_ATTR_NODEV;
  if ((flags & MS_NOEXEC) != 0) attrs |= MOUNT_ATTR_NOEXEC;
  return attrs;
}

// A bind as the new mount API makes one: the source cloned (with every mount below it when
// `recursive`), the flags added to each cloned mount by one mount_setattr(2), then attached at
// `target_fd`. Only flags are added, none cleared, so the flags a less privileged namespace may
// not clear (mount_namespaces(7): those of mounts inherited from the host) stay as they were
// without being looked up, and no mount of the tree is ever visible without its flags.
// `source_fd` with an empty `source` names the source by fd.
Result<void> bindWithFlags(int source_fd, const char* source, int target_fd, bool recursive,
                           unsigned long flags) {
  // MS_REC's rule holds here too: a non-recursive clone of a tree with locked submounts fails
  // with EINVAL in a user namespace (it would reveal what they cover).
  unsigned clone = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) |
                   (*source == '\0' ? AT_EMPTY_PATH : 0);
  // A flag mountAttrs does not know would be dropped without a word.
  if ((flags & ~kBindFlags) != 0)
    return ErrnoError(EINVAL) << "a bind flag beyond ro/nosuid/nodev/noexec";
  UniqueFd tree(openTree(source_fd, source, clone));
  if (!tree) return ErrnoError() << "open_tree";
  mount_attr attr{};
  attr.attr_set = mountAttrs(flags);
  if (attr.attr_set != 0 &&
      mountSetattr(tree.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr) != 0) {
    return ErrnoError() << "mount_setattr";
  }
  if (moveMount(tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
      0) {
    return ErrnoError() << "move_mount";
  }
  return {};
}

// Inside the new root, resolved by the kernel: no symlink (RESOLVE_NO_SYMLINKS also covers
// "..", which RESOLVE_IN_ROOT keeps inside anyway), no magic link (/proc/self/...).
constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
constexpr size_t kMaxAccountsFileBytes = 1 << 20;

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// "/etc/hosts" -> ("etc", "hosts"); "/usr" -> ("", "usr"); "/" -> ("", "").
std::pair<std::string, std::string> parentAndName(const std::string& path) {
  const size_t first = path.find_first_not_of('/');
  return splitParent(first == std::string::npos ? "" : path.substr(first));
}

// The target's parent directory inside the root (a symlink anywhere in it is ELOOP), kept open
// across steps in the same directory (most of /etc and /dev). During setup only a mount can make
// a path name another directory (no sandbox code runs yet, and no step replaces a directory), so
// a mount at or above the cached directory drops it.
struct ParentCache {
  std::string path;  // relative to the root, no leading '/': "etc", "" for the root itself
  UniqueFd fd;

  void mountedAt(const std::string& target) {
    const size_t first = target.find_first_not_of('/');
    const std::string at = first == std::string::npos ? "" : target.substr(first);
    if (at.empty() || path == at || path.starts_with(at + "/")) fd.reset();
  }
};

Result<int> cachedParentDir(ParentCache& cache, int root, const std::string& target) {
  std::string parent = parentAndName(target).first;
  if (!cache.fd || cache.path != parent) {
    auto opened = openAt2(root, parent, O_PATH | O_DIRECTORY, kInRoot);
    if (!opened) return opened.error();
    cache.fd = std::move(*opened);
    cache.path = std::move(parent);
  }
  return cache.fd.get();
}

// Special mode bits a filesystem may drop at creation (mkdir(2): S_ISVTX, "on some
// filesystems"); the plain permission bits are exact under umask 0, which applyRootfsPlan sets.
constexpr mode_t kSpecialBits = S_ISUID | S_ISGID | S_ISVTX;

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

// A new file `name` opened for writing with `mode` (O_EXCL: never an existing file, never
// through a symlink). Whatever non-directory is in the way is removed first; tried before any
// look, so the usual case, nothing there, costs one call.
Result<UniqueFd> createFile(int parent, const std::string& name, const std::string& target,
                            uint32_t mode) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd out(::openat(parent, name.c_str(), kFlags, mode));
  if (!out && errno == EEXIST) {
    if (auto r = clearNonDirectory(parent, name, target); !r) return r.error();
    out.reset(::openat(parent, name.c_str(), kFlags, mode));
  }
  if (!out) return ErrnoError() << "create " << target;
  if ((mode & kSpecialBits) != 0 && ::fchmod(out.get(), mode) != 0) {
    return ErrnoError() << "chmod " << target;
  }
  return out;
}

// All of a regular file of `size` bytes (as fstat saw it): one read when that read returns
// exactly `size` bytes of a buffer one larger (a local file's end); otherwise (it grew, or a
// network or FUSE filesystem answered short) reads on to the end.
Result<std::string> readRegular(int fd, off_t size) {
  if (size < 0 || static_cast<size_t>(size) >= kMaxCopiedFileBytes) {
    return readAll(fd, kMaxCopiedFileBytes);
  }
  std::string data(static_cast<size_t>(size) + 1, '\0');
  ssize_t n;
  do {
    n = ::read(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError() << "read";
  data.resize(static_cast<size_t>(n));
  if (static_cast<off_t>(n) == size) return data;
  auto rest = readAll(fd, kMaxCopiedFileBytes - data.size());
  if (!rest) return rest.error();
  return data + *rest;
}

Result<void> copyHostFile(const MountStep& s, int parent, const std::string& name) {
  const std::string& source = s.source;
  const std::string& target = s.target;
  UniqueFd in(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!in) return ErrnoError() << "open " << source;
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError() << "fstat " << source;
  if (!S_ISREG(st.st_mode)) return ErrnoError(EINVAL) << source << " is not a regular file";
  auto data = readRegular(in.get(), st.st_size);
  if (!data) return ErrnoError(data.error().code) << "read " << source;
  if (s.id_from_euid) *data = answerIdFromEuid(std::move(*data));
  auto out = createFile(parent, name, target, st.st_mode & 0777);
  if (!out) return out.error();
  if (auto r = writeAll(out->get(), *data); !r)
    return ErrnoError(r.error().code) << "write " << target;
  return {};
}

Result<void> writeNewFile(int parent, const std::string& name, const std::string& target,
                          const std::string& contents, uint32_t mode) {
  auto out = createFile(parent, name, target, mode);
  if (!out) return out.error();
  if (auto r = writeAll(out->get(), contents); !r) {
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
  if (::mkdirat(parent, name.c_str(), s.mode) != 0) {
    if (errno != EEXIST) return ErrnoError() << "mkdir";
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError() << "stat " << s.target;
    }
    if (S_ISDIR(st.st_mode)) return {};
    if (::unlinkat(parent, name.c_str(), 0) != 0) return ErrnoError() << "replace " << s.target;
    if (::mkdirat(parent, name.c_str(), s.mode) != 0) return ErrnoError() << "mkdir";
  }
  if ((s.mode & kSpecialBits) != 0 && ::fchmodat(parent, name.c_str(), s.mode, 0) != 0) {
    return ErrnoError() << "chmod";
  }
  if ((s.uid != 0 || s.gid != 0) &&
      ::fchownat(parent, name.c_str(), s.uid, s.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError() << "chown";
  }
  return {};
}

Result<void> makeSymlink(int parent, const std::string& name, const MountStep& s) {
  if (::symlinkat(s.source.c_str(), parent, name.c_str()) == 0) return {};
  if (errno != EEXIST) return ErrnoError() << "symlink";
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError() << "stat " << s.target;
  }
  if (S_ISDIR(st.st_mode)) return {};  // the template has a real directory there: keep it
  if (::unlinkat(parent, name.c_str(), 0) != 0) return ErrnoError() << "replace " << s.target;
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
                       std::span<const UniqueFd> root_fds, ParentCache& parents) {
  // Every target is reached by an fd resolved inside the root, never by a path string.
  switch (s.kind) {
    case StepKind::kAttach:
    case StepKind::kTmpfs:
    case StepKind::kProc:
    case StepKind::kDevpts:
    case StepKind::kBind:
      parents.mountedAt(s.target);
      break;
    default:
      break;
  }
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
      if (s.source_root == SourceRoot::kNewRoot) {
        auto opened = openTarget(root, s.source, O_PATH);
        if (!opened) return opened.error();
        source_fd = std::move(*opened);
      }
      auto at = openTarget(root, s.target, O_PATH);
      if (!at) return at.error();
      return bindWithFlags(source_fd ? source_fd.get() : AT_FDCWD,
                           source_fd ? "" : s.source.c_str(), at->get(), s.recursive,
                           s.flags | (s.readonly ? MS_RDONLY : 0));
    }
    default:
      break;
  }
  // Steps that create an entry: by name in the parent, which is resolved without symlinks.
  auto parent = cachedParentDir(parents, root, s.target);
  if (!parent) return parent.error();
  const std::string name = parentAndName(s.target).second;
  switch (s.kind) {
    case StepKind::kMkdir:
      return makeDir(*parent, name, s);
    case StepKind::kTouch: {
      auto fd = createFile(*parent, name, s.target, s.mode);
      if (!fd) return fd.error();
      return {};
    }
    case StepKind::kSymlink:
      return makeSymlink(*parent, name, s);
    case StepKind::kCopyFile:
      return copyHostFile(s, *parent, name);
    case StepKind::kWriteFile:
      return writeNewFile(*parent, name, s.target, s.contents, s.mode);
    case StepKind::kAccounts:
      return mergeAccountsFile(*parent, name, s);
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
  // Modes are set at creation, exactly: only special bits get a chmod after (kSpecialBits).
  struct ZeroUmask {
    mode_t saved = ::umask(0);
    ~ZeroUmask() { ::umask(saved); }
  } zero_umask;
  UniqueFd root;
  ParentCache parents;
  for (const MountStep& step : steps) {
    // The root is whatever is mounted at staging once the first step attached it.
    if (!root && !(step.kind == StepKind::kAttach && step.target == "/")) {
      root.reset(::open(staging.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) return ErrnoError() << "open the new root";
    }
    if (auto r = applyStep(step, staging, root.get(), root_fds, parents); !r) {
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
