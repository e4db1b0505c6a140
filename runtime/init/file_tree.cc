#include "runtime/init/file_tree.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/unique_fd.h"
#include "runtime/init/dir_stream.h"

namespace declaw::runtime::init {

namespace {

constexpr int kOpenDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// The names in a directory, without "." and "..". The stream is read to the end before anything
// is changed, so removals cannot confuse readdir.
Result<std::vector<std::string>> readNames(DIR* dir, const std::string& path) {
  std::vector<std::string> names;
  errno = 0;
  while (dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  if (errno != 0) return ErrnoError() << "readdir " << path;
  return names;
}

// Recursion bounded by levels_left, at most kMaxListDepth.
Result<void> listLevel(UniqueFd fd, const std::string& path,  // NOLINT(misc-no-recursion)
                       uint32_t levels_left, std::vector<Entry>& out) {
  DirStream dir = openDirStream(std::move(fd));
  if (!dir) return ErrnoError() << "opendir " << path;
  auto names = readNames(dir.get(), path);
  if (!names) return names.error();
  const int dfd = ::dirfd(dir.get());
  for (const std::string& name : *names) {
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (out.size() >= kMaxListEntries) {
      return ErrnoError(E2BIG) << "more than " << kMaxListEntries << " entries";
    }
    const std::string child = join(path, name);
    out.push_back(makeEntry(st, dfd, name, child));
    if (!S_ISDIR(st.st_mode) || levels_left <= 1) continue;
    UniqueFd sub(::openat(dfd, name.c_str(), kOpenDirFlags));
    if (!sub) continue;  // listed, not entered (no permission, or replaced meanwhile)
    if (auto r = listLevel(std::move(sub), child, levels_left - 1, out); !r) return r;
  }
  return {};
}

// Recursion as deep as the tree, which the sandbox's user makes; every level holds its directory
// open, so the helper's fd limit ends a deeper walk with EMFILE first, and a walk that exhausted
// the stack would only end this helper, inside the sandbox, and fail the request.
Result<void> removeContents(UniqueFd fd, const std::string& path) {  // NOLINT(misc-no-recursion)
  DirStream dir = openDirStream(std::move(fd));
  if (!dir) return ErrnoError() << "opendir " << path;
  auto names = readNames(dir.get(), path);
  if (!names) return names.error();
  const int dfd = ::dirfd(dir.get());
  for (const std::string& name : *names) {
    const std::string child = join(path, name);
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoError() << "lstat " << child;
    }
    if (S_ISDIR(st.st_mode)) {
      // O_NOFOLLOW: if the directory was swapped for a symlink since fstatat, this fails
      // instead of descending into the link's target.
      UniqueFd sub(::openat(dfd, name.c_str(), kOpenDirFlags));
      if (!sub) return ErrnoError() << "open " << child;
      if (auto r = removeContents(std::move(sub), child); !r) return r;
      if (::unlinkat(dfd, name.c_str(), AT_REMOVEDIR) != 0)
        return ErrnoError() << "rmdir " << child;
    } else if (::unlinkat(dfd, name.c_str(), 0) != 0) {
      return ErrnoError() << "unlink " << child;
    }
  }
  return {};
}

}  // namespace

std::string trimTrailingSlashes(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  return path.substr(0, end);
}

std::string baseName(const std::string& path) {
  if (path == "/") return "/";
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Entry makeEntry(const struct stat& st, int dirfd, const std::string& name,
                const std::string& path) {
  Entry e;
  e.name = name;
  e.path = path;
  e.size = static_cast<uint64_t>(st.st_size);
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime_sec = st.st_mtim.tv_sec;
  if (S_ISREG(st.st_mode)) {
    e.type = EntryType::kFile;
  } else if (S_ISDIR(st.st_mode)) {
    e.type = EntryType::kDir;
  } else if (S_ISLNK(st.st_mode)) {
    e.type = EntryType::kSymlink;
    char target[4096];
    ssize_t n = ::readlinkat(dirfd, name.c_str(), target, sizeof target);
    if (n > 0) e.symlink_target.assign(target, static_cast<size_t>(n));
  } else {
    e.type = EntryType::kOther;
  }
  return e;
}

Result<std::vector<Entry>> listTree(const std::string& raw_path, uint32_t depth) {
  const std::string path = trimTrailingSlashes(raw_path);
  // The named directory may be reached through a symlink (O_DIRECTORY without O_NOFOLLOW);
  // nothing below it is.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << path;
  std::vector<Entry> entries;
  uint32_t levels = std::clamp<uint32_t>(depth, 1, kMaxListDepth);
  if (auto r = listLevel(std::move(fd), path, levels, entries); !r) return r.error();
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return entries;
}

Result<void> removeTree(const std::string& raw_path) {
  const std::string path = trimTrailingSlashes(raw_path);
  const std::string name = baseName(path);
  if (name == "." || name == "..") return ErrnoError(EINVAL) << "refusing to remove " << path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return ErrnoError() << "lstat " << path;
  struct stat root {};
  if (::stat("/", &root) != 0) return ErrnoError() << "stat /";
  if (st.st_dev == root.st_dev && st.st_ino == root.st_ino) {
    return ErrnoError(EINVAL) << "refusing to remove /";
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0) return ErrnoError() << "unlink " << path;
    return {};
  }
  UniqueFd fd(::open(path.c_str(), kOpenDirFlags));
  if (!fd) return ErrnoError() << "open " << path;
  struct stat opened {};
  if (::fstat(fd.get(), &opened) != 0) return ErrnoError() << "fstat " << path;
  if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
    return ErrnoError(EAGAIN) << path << " changed while being removed";
  }
  if (auto r = removeContents(std::move(fd), path); !r) return r;
  if (::rmdir(path.c_str()) != 0) return ErrnoError() << "rmdir " << path;
  return {};
}

}  // namespace declaw::runtime::init
