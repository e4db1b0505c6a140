#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fs_at.h"
#include "image/layer_entry.h"

namespace declaw::image {

namespace {

// One path component at a time, never a symlink, never out of the layer (RESOLVE_BENEATH from
// each directory we already hold).
constexpr uint64_t kStepResolve =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";
// Directory fds kept for the paths members are written under (a tar lists a directory's
// members together, so a few dozen cover the common case; a miss walks from the deepest hit).
constexpr size_t kDirCacheEntries = 64;

bool keptXattr(std::string_view name) {
  return name.substr(0, 5) == "user." || name == "security.capability";
}

mode_t expectedType(EntryKind kind) {
  switch (kind) {
    case EntryKind::kDir:
      return S_IFDIR;
    case EntryKind::kSymlink:
      return S_IFLNK;
    case EntryKind::kFifo:
      return S_IFIFO;
    case EntryKind::kWhiteout:
      return S_IFCHR;
    default:
      return S_IFREG;
  }
}

const char* typeName(mode_t type) {
  switch (type & S_IFMT) {
    case S_IFDIR:
      return "directory";
    case S_IFLNK:
      return "symlink";
    case S_IFIFO:
      return "fifo";
    case S_IFCHR:
      return "whiteout";
    case S_IFREG:
      return "file";
    default:
      return "special file";
  }
}

class Unpacker {
 public:
  Unpacker(archive* a, int root, UnpackBudget& budget) : a_(a), root_(root), budget_(budget) {}

  Result<UnpackStats> run() {
    for (;;) {
      archive_entry* entry = nullptr;
      int rc = archive_read_next_header(a_, &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return archiveError("reading the layer");
      if (budget_.entries_left == 0) {
        return ErrnoError(EFBIG) << "the image has more entries than this daemon unpacks";
      }
      --budget_.entries_left;
      ++stats_.entries;
      if (auto r = member(entry); !r) return r.error();
    }
    if (auto r = finishDirectories(); !r) return r.error();
    return stats_;
  }

 private:
  Error archiveError(const char* doing) {
    const char* what = archive_error_string(a_);
    int err = archive_errno(a_);
    // libarchive's own errno for bad data is ARCHIVE_ERRNO_FILE_FORMAT (EILSEQ) or
    // ARCHIVE_ERRNO_MISC (-1); a short read of a truncated stream has none.
    if (err == ENOSPC || err == EIO || err == ENOMEM) {
      return ErrnoError(err) << doing << ": " << (what ? what : "read error");
    }
    return ErrnoError(EINVAL) << doing << ": " << (what ? what : "not a readable tar archive");
  }

  // The directory `path` ("" = the root), walking one component at a time from the deepest
  // directory of the cache that is a prefix of it (the root at worst).
  // create: make missing components (0755, root's), as Docker does for members whose parents
  // the tar omits; one of this layer's whiteouts in the way is replaced by the directory.
  Result<UniqueFd> directory(const std::string& path, bool create, const std::string& member) {
    std::string walked = path;
    auto hit = cache_.end();
    for (;;) {
      hit = cache_.find(walked);
      if (hit != cache_.end() || walked.empty()) break;
      walked = splitParent(walked).first;
    }
    UniqueFd dir;
    if (hit != cache_.end()) {
      dir.reset(::fcntl(hit->second.get(), F_DUPFD_CLOEXEC, 0));
      if (!dir) return ErrnoError() << "dup";
    } else {
      auto root = openAt2(root_, "", O_PATH | O_DIRECTORY, kStepResolve);
      if (!root) return root.error();
      dir = std::move(*root);
    }
    size_t start = walked.empty() ? 0 : walked.size() + 1;
    while (start < path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      const std::string part = path.substr(start, end - start);
      start = end + 1;
      walked += (walked.empty() ? "" : "/") + part;
      auto next = openAt2(dir.get(), part, O_PATH | O_DIRECTORY, kStepResolve);
      if (!next && next.error().code == ENOENT && create) {
        if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
          return ErrnoError() << "mkdir " << walked;
        }
        next = openAt2(dir.get(), part, O_PATH | O_DIRECTORY, kStepResolve);
      } else if (!next && next.error().code == ENOTDIR && create && isWhiteout(dir.get(), part)) {
        if (::unlinkat(dir.get(), part.c_str(), 0) != 0) return ErrnoError() << "unlink " << walked;
        if (::mkdirat(dir.get(), part.c_str(), 0755) != 0)
          return ErrnoError() << "mkdir " << walked;
        next = openAt2(dir.get(), part, O_PATH | O_DIRECTORY, kStepResolve);
      }
      if (!next) {
        switch (next.error().code) {
          case ELOOP:
          case EXDEV:
            return ErrnoError(EINVAL) << "member '" << member << "' is written through '" << walked
                                      << "', a symlink in the layer";
          case ENOTDIR:
            return ErrnoError(EINVAL) << "member '" << member << "' is written under '" << walked
                                      << "', which is not a directory";
          case ENOENT:
            return ErrnoError(EINVAL) << "member '" << member << "' needs '" << walked
                                      << "', which the layer does not have";
          default:
            return ErrnoError(next.error().code) << "open " << walked;
        }
      }
      dir = std::move(*next);
    }
    remember(path, dir.get());
    return dir;
  }

  // Directories are never removed or replaced once made (a change of type is refused), so an
  // fd of one stays right for its path. The cache is bounded; the oldest entry goes first.
  void remember(const std::string& path, int fd) {
    if (cache_.count(path)) return;
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return;
    if (cache_order_.size() >= kDirCacheEntries) {
      cache_.erase(cache_order_.front());
      cache_order_.pop_front();
    }
    cache_.emplace(path, UniqueFd(dup));
    cache_order_.push_back(path);
  }

  // Every device node in the layer is a whiteout this unpack made (members that are devices
  // are refused): a 0:0 character device.
  static bool isWhiteout(int dirfd, const std::string& name) {
    struct stat st {};
    return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
           st.st_rdev == makedev(0, 0);
  }

  // Makes room for a new member at (parent, base): refuses a change of type, removes an
  // entry of the same type (a later member wins, as in tar) and this layer's own whiteouts.
  // Returns false when nothing was there.
  Result<bool> clearFor(int parent, const std::string& base, const LayerEntry& e) {
    struct stat st {};
    if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      return ErrnoError() << "stat " << e.path;
    }
    if (S_ISCHR(st.st_mode)) {                          // one of our whiteouts (see isWhiteout)
      if (e.kind == EntryKind::kWhiteout) return true;  // hidden twice: nothing to do
      if (::unlinkat(parent, base.c_str(), 0) != 0) return ErrnoError() << "unlink " << e.path;
      return false;
    }
    if (e.kind == EntryKind::kWhiteout) return true;  // the layer's own entry wins over it
    const mode_t want = expectedType(e.kind);
    if ((st.st_mode & S_IFMT) != want) {
      return ErrnoError(EINVAL) << "member '" << e.path << "' appears twice, as a "
                                << typeName(st.st_mode) << " and as a " << typeName(want);
    }
    if (want == S_IFDIR) return true;  // a directory again: only its metadata changes
    if (::unlinkat(parent, base.c_str(), 0) != 0) return ErrnoError() << "unlink " << e.path;
    return false;
  }

  Result<void> setXattrs(int fd, archive_entry* entry, const std::string& path) {
    archive_entry_xattr_reset(entry);
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
      if (name == nullptr || !keptXattr(name)) continue;
      if (::fsetxattr(fd, name, value, size, 0) != 0 && errno != ENOTSUP) {
        return ErrnoError() << "set xattr " << name << " on " << path;
      }
    }
    return {};
  }

  // Owner, then mode (chown clears setuid bits), then xattrs and times, on an open fd.
  Result<void> finishFd(int fd, archive_entry* entry, const std::string& path, bool times) {
    if (::fchown(fd, archive_entry_uid(entry), archive_entry_gid(entry)) != 0) {
      return ErrnoError() << "chown " << path;
    }
    if (::fchmod(fd, archive_entry_perm(entry) & 07777) != 0)
      return ErrnoError() << "chmod " << path;
    if (auto r = setXattrs(fd, entry, path); !r) return r;
    if (times) {
      timespec ts[2] = {{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)},
                        {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
      if (::futimens(fd, ts) != 0) return ErrnoError() << "set times of " << path;
    }
    return {};
  }

  Result<void> writeData(int fd, const std::string& path, int64_t size) {
    for (;;) {
      const void* buf = nullptr;
      size_t n = 0;
      la_int64_t offset = 0;
      int rc = archive_read_data_block(a_, &buf, &n, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return archiveError(("reading " + path).c_str());
      if (offset < 0 || static_cast<int64_t>(offset + n) > size) {
        return ErrnoError(EINVAL) << "member '" << path << "' has more data than its size";
      }
      const char* p = static_cast<const char*>(buf);
      while (n > 0) {
        ssize_t w = ::pwrite(fd, p, n, offset);
        if (w < 0) {
          if (errno == EINTR) continue;
          return ErrnoError() << "write " << path;
        }
        p += w;
        offset += w;
        n -= static_cast<size_t>(w);
      }
    }
    if (::ftruncate(fd, size) != 0) return ErrnoError() << "truncate " << path;
    return {};
  }

  Result<void> member(archive_entry* entry) {
    RawMember raw;
    const char* name = archive_entry_pathname(entry);
    raw.name = name ? name : "";
    raw.type = archive_entry_filetype(entry);
    if (const char* h = archive_entry_hardlink(entry)) raw.hardlink = h;
    if (const char* s = archive_entry_symlink(entry)) raw.symlink = s;
    raw.rdev_major = archive_entry_rdevmajor(entry);
    raw.rdev_minor = archive_entry_rdevminor(entry);
    auto classified = classifyMember(raw);
    if (!classified) return classified.error();
    const LayerEntry& e = *classified;
    if (e.kind == EntryKind::kSkip) return {};
    if (e.kind == EntryKind::kOpaque) return opaque(e);
    if (e.path.empty()) return rootDirectory(entry);

    auto [parent_path, base] = splitParent(e.path);
    auto parent = directory(parent_path, /*create=*/true, e.path);
    if (!parent) return parent.error();
    const int pfd = parent->get();
    auto existed = clearFor(pfd, base, e);
    if (!existed) return existed.error();

    switch (e.kind) {
      case EntryKind::kFile: {
        const int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
        if (size < 0 || static_cast<uint64_t>(size) > budget_.bytes_left) {
          return ErrnoError(EFBIG) << "member '" << e.path << "' (" << size
                                   << " bytes) is past the image's unpacked size limit";
        }
        budget_.bytes_left -= static_cast<uint64_t>(size);
        stats_.file_bytes += static_cast<uint64_t>(size);
        UniqueFd fd(::openat(pfd, base.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) return ErrnoError() << "create " << e.path;
        if (auto r = writeData(fd.get(), e.path, size); !r) return r;
        return finishFd(fd.get(), entry, e.path, /*times=*/true);
      }
      case EntryKind::kDir: {
        if (!*existed && ::mkdirat(pfd, base.c_str(), 0700) != 0) {
          return ErrnoError() << "mkdir " << e.path;
        }
        UniqueFd fd(::openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) return ErrnoError() << "open " << e.path;
        if (auto r = finishFd(fd.get(), entry, e.path, /*times=*/false); !r) return r;
        return rememberTime(fd.get(), entry, e.path);
      }
      case EntryKind::kSymlink: {
        if (::symlinkat(e.link.c_str(), pfd, base.c_str()) != 0) {
          return ErrnoError() << "symlink " << e.path;
        }
        return finishAt(pfd, base, entry, e.path, /*chmod=*/false);
      }
      case EntryKind::kFifo:
        if (::mknodat(pfd, base.c_str(), S_IFIFO | 0600, 0) != 0) {
          return ErrnoError() << "mkfifo " << e.path;
        }
        return finishAt(pfd, base, entry, e.path, /*chmod=*/true);
      case EntryKind::kHardlink:
        return hardlink(pfd, base, e);
      case EntryKind::kWhiteout:
        if (*existed) return {};
        if (::mknodat(pfd, base.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) {
          return ErrnoError() << "whiteout " << e.path;
        }
        return {};
      default:
        return {};
    }
  }

  // Owner, mode and times by name, for entries that cannot be opened (symlinks, fifos).
  Result<void> finishAt(int pfd, const std::string& base, archive_entry* entry,
                        const std::string& path, bool chmod) {
    if (::fchownat(pfd, base.c_str(), archive_entry_uid(entry), archive_entry_gid(entry),
                   AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError() << "chown " << path;
    }
    if (chmod && ::fchmodat(pfd, base.c_str(), archive_entry_perm(entry) & 07777, 0) != 0) {
      return ErrnoError() << "chmod " << path;
    }
    timespec ts[2] = {{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)},
                      {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
    if (::utimensat(pfd, base.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError() << "set times of " << path;
    }
    return {};
  }

  Result<void> hardlink(int pfd, const std::string& base, const LayerEntry& e) {
    auto [tparent_path, tbase] = splitParent(e.link);
    auto tparent = directory(tparent_path, /*create=*/false, e.path);
    if (!tparent) {
      return ErrnoError(EINVAL) << "hard link '" << e.path << "' points to '" << e.link
                                << "', which is not in the layer before it";
    }
    struct stat st {};
    if (::fstatat(tparent->get(), tbase.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISCHR(st.st_mode)) {
      return ErrnoError(EINVAL) << "hard link '" << e.path << "' points to '" << e.link
                                << "', which is not in the layer before it";
    }
    if (S_ISDIR(st.st_mode)) {
      return ErrnoError(EINVAL) << "hard link '" << e.path << "' points to the directory '"
                                << e.link << "'";
    }
    if (::linkat(tparent->get(), tbase.c_str(), pfd, base.c_str(), 0) != 0) {
      return ErrnoError() << "link " << e.path;
    }
    return {};
  }

  Result<void> opaque(const LayerEntry& e) {
    auto dir = directory(e.path, /*create=*/true, e.path + "/.wh..wh..opq");
    if (!dir) return dir.error();
    auto fd = openAt2(dir->get(), "", O_RDONLY | O_DIRECTORY, kStepResolve);
    if (!fd) return fd.error();
    if (::fsetxattr(fd->get(), kOpaqueXattr, "y", 1, 0) != 0) {
      return ErrnoError() << "mark " << (e.path.empty() ? "/" : e.path) << " opaque";
    }
    return {};
  }

  Result<void> rootDirectory(archive_entry* entry) {
    auto fd = openAt2(root_, "", O_RDONLY | O_DIRECTORY, kStepResolve);
    if (!fd) return fd.error();
    if (auto r = finishFd(fd->get(), entry, "/", /*times=*/false); !r) return r;
    return rememberTime(fd->get(), entry, "/");
  }

  // A directory's time, applied at the end (members written into it change it). By inode, so a
  // directory named again and again costs one entry, whatever its path's length.
  Result<void> rememberTime(int fd, archive_entry* entry, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return ErrnoError() << "stat " << path;
    dir_times_[st.st_ino] = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
    return {};
  }

  // Directory times last: every member written into a directory changed its mtime. A walk of
  // the layer by fd, never following a symlink, holding one fd per level (depth is bounded by
  // kMaxMemberDepth). Setting a directory's times does not touch its parent's, so the order
  // does not matter.
  Result<void> finishDirectories() {
    if (dir_times_.empty()) return {};
    struct Frame {
      UniqueFd fd;
      std::vector<std::string> names;
      size_t next = 0;
    };
    std::vector<Frame> stack;
    auto enter = [&](UniqueFd fd) -> Result<void> {
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return ErrnoError() << "stat a directory";
      if (auto time = dir_times_.find(st.st_ino); time != dir_times_.end()) {
        timespec ts[2] = {time->second, time->second};
        if (::futimens(fd.get(), ts) != 0) return ErrnoError() << "set the times of a directory";
      }
      std::vector<std::string> names = namesIn(fd.get());
      stack.push_back(Frame{std::move(fd), std::move(names), 0});
      return {};
    };
    auto root = openAt2(root_, "", O_RDONLY | O_DIRECTORY, kStepResolve);
    if (!root) return root.error();
    if (auto r = enter(std::move(*root)); !r) return r;
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next == top.names.size()) {
        stack.pop_back();
        continue;
      }
      const std::string& name = top.names[top.next++];
      UniqueFd sub(
          ::openat(top.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) {
        if (auto r = enter(std::move(sub)); !r) return r;
      }
    }
    return {};
  }

  static std::vector<std::string> namesIn(int dirfd) {
    std::vector<std::string> out;
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
    if (d == nullptr) {
      if (dup >= 0) ::close(dup);
      return out;
    }
    ::rewinddir(d);  // a dup shares the directory's read position with its original
    while (dirent* e = ::readdir(d)) {
      if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    return out;
  }

  archive* a_;
  int root_;
  UnpackBudget& budget_;
  UnpackStats stats_;
  std::map<ino_t, timespec> dir_times_;
  std::map<std::string, UniqueFd> cache_;  // directory fds (O_PATH) by path
  std::deque<std::string> cache_order_;
};

}  // namespace

Result<UnpackStats> unpackLayer(archive* a, int root_fd, UnpackBudget& budget) {
  return Unpacker(a, root_fd, budget).run();
}

}  // namespace declaw::image
