#include "image/layer_diff.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>

#include "common/io.h"
#include "image/layer_entry.h"

namespace declaw::image {

namespace {

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;
using EntryPtr = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;
constexpr size_t kCopyChunk = 256 * 1024;
constexpr uint32_t kNobody = 65534;
constexpr size_t kMaxXattrListBytes = 64 * 1024;
constexpr size_t kMaxXattrValueBytes = 64 * 1024;

struct Output {
  int fd;
  Sha256 hash;
  uint64_t size = 0;
  int error = 0;
};

la_ssize_t outputWrite(archive*, void* data, const void* buf, size_t n) {
  auto* out = static_cast<Output*>(data);
  if (auto r = writeAll(out->fd, buf, n); !r) {
    out->error = r.error().code;
    return -1;
  }
  out->hash.update(buf, n);
  out->size += n;
  return static_cast<la_ssize_t>(n);
}

bool keptXattr(const std::string& name) {
  return name.rfind("user.", 0) == 0 || name == "security.capability";
}

std::vector<std::string> sortedNames(int dirfd) {
  std::vector<std::string> names;
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return names;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return names;
  }
  ::rewinddir(d);  // a dup shares the directory's read position with its original
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

class DiffWriter {
 public:
  DiffWriter(int out_fd, uint32_t base, uint32_t count, const DiffLimits& limits)
      : out_{out_fd, {}, 0, 0},
        a_(archive_write_new(), archive_write_free),
        base_(base),
        count_(count),
        limits_(limits) {}
  // Freeing the archive flushes it through outputWrite into out_: the archive goes first.
  ~DiffWriter() { a_.reset(); }
  DiffWriter(const DiffWriter&) = delete;
  DiffWriter& operator=(const DiffWriter&) = delete;

  Result<void> open() {
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    if (archive_write_open(a_.get(), &out_, nullptr, outputWrite, nullptr) != ARCHIVE_OK) {
      return failure("open");
    }
    return {};
  }

  Result<void> upper(const UpperDir& u) {
    if (!u.prefix.empty()) {
      // The mount point's own metadata: the upper dir's, as the overlay shows it.
      struct stat st {};
      if (::fstat(u.fd, &st) != 0) return ErrnoError() << "stat the upper dir of " << u.prefix;
      EntryPtr e = entryFor(u.prefix, st);
      if (auto r = header(e.get(), u.prefix); !r) return r;
    }
    // An explicit stack of open directories: depth is the sandbox's to choose.
    struct Frame {
      UniqueFd fd;
      std::string path;
      std::vector<std::string> names;
      size_t next = 0;
    };
    std::vector<Frame> stack;
    int dup = ::fcntl(u.fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return ErrnoError() << "dup";
    UniqueFd root(dup);
    std::vector<std::string> names = sortedNames(root.get());
    stack.push_back(Frame{std::move(root), u.prefix, std::move(names), 0});
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next == top.names.size()) {
        stack.pop_back();
        continue;
      }
      const std::string name = top.names[top.next++];
      const std::string path = top.path.empty() ? name : top.path + "/" + name;
      if (limits_.cancel != nullptr && limits_.cancel->load()) {
        return ErrnoError(ECANCELED) << "the sandbox ended during the snapshot";
      }
      if (name.rfind(".wh.", 0) == 0) {
        return ErrnoError(EINVAL) << "the sandbox has /" << path << ": a name starting with "
                                  << "'.wh.' means a deletion in an image layer, so it cannot "
                                     "be snapshotted (rename it)";
      }
      if (stack.size() > kMaxMemberDepth) {
        return ErrnoError(EINVAL) << "/" << top.path << " nests more than " << kMaxMemberDepth
                                  << " directories deep, more than an image layer may";
      }
      auto child = member(top.fd.get(), name, path);
      if (!child) return child.error();
      if (child->has_value()) {
        UniqueFd fd = std::move(**child);
        std::vector<std::string> child_names = sortedNames(fd.get());
        stack.push_back(Frame{std::move(fd), path, std::move(child_names), 0});
      }
    }
    return {};
  }

  Result<DiffResult> finish() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return failure("close");
    return DiffResult{out_.hash.finish(), out_.size, entries_};
  }

 private:
  Error failure(const std::string& what) {
    int err = out_.error != 0 ? out_.error : archive_errno(a_.get());
    return ErrnoError(err > 0 ? err : EIO)
           << "writing the layer (" << what
           << "): " << (archive_error_string(a_.get()) ? archive_error_string(a_.get()) : "");
  }

  uint32_t shift(uint32_t id) const {
    return id >= base_ && id - base_ < count_ ? id - base_ : kNobody;
  }

  EntryPtr entryFor(const std::string& path, const struct stat& st) {
    EntryPtr e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), shift(st.st_uid));
    archive_entry_set_gid(e.get(), shift(st.st_gid));
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    return e;
  }

  Result<void> header(archive_entry* e, const std::string& path) {
    if (archive_write_header(a_.get(), e) != ARCHIVE_OK) return failure(path);
    ++entries_;
    return {};
  }

  void addXattrs(int fd, archive_entry* e) {
    std::string list(kMaxXattrListBytes, '\0');
    ssize_t n = ::flistxattr(fd, list.data(), list.size());
    if (n <= 0) return;
    list.resize(static_cast<size_t>(n));
    for (size_t at = 0; at < list.size();) {
      std::string name = list.c_str() + at;
      at += name.size() + 1;
      if (!keptXattr(name)) continue;
      std::string value(kMaxXattrValueBytes, '\0');
      ssize_t v = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
      if (v < 0) continue;
      archive_entry_xattr_add_entry(e, name.c_str(), value.data(), static_cast<size_t>(v));
    }
  }

  bool isOpaque(int fd) {
    char value[2] = {};
    return ::fgetxattr(fd, "trusted.overlay.opaque", value, sizeof value) == 1 && value[0] == 'y';
  }

  // Writes one member; for a directory, returns its fd to descend into.
  Result<std::optional<UniqueFd>> member(int dirfd, const std::string& name,
                                         const std::string& path) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError() << "stat " << path;
    }
    if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
      const auto slash = path.rfind('/');
      const std::string wh = slash == std::string::npos
                                 ? ".wh." + path
                                 : path.substr(0, slash + 1) + ".wh." + path.substr(slash + 1);
      struct stat empty {};
      empty.st_mode = S_IFREG | 0;
      EntryPtr e = entryFor(wh, empty);
      archive_entry_set_size(e.get(), 0);
      if (auto r = header(e.get(), wh); !r) return r.error();
      return std::optional<UniqueFd>();
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return ErrnoError() << "open " << path;
      EntryPtr e = entryFor(path, st);
      addXattrs(fd.get(), e.get());
      if (auto r = header(e.get(), path); !r) return r.error();
      if (isOpaque(fd.get())) {
        struct stat empty {};
        empty.st_mode = S_IFREG | 0;
        const std::string opq = path + "/.wh..wh..opq";
        EntryPtr o = entryFor(opq, empty);
        archive_entry_set_size(o.get(), 0);
        if (auto r = header(o.get(), opq); !r) return r.error();
      }
      return std::optional<UniqueFd>(std::move(fd));
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(PATH_MAX, '\0');
      ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
      if (n < 0) return ErrnoError() << "readlink " << path;
      target.resize(static_cast<size_t>(n));
      EntryPtr e = entryFor(path, st);
      archive_entry_set_symlink(e.get(), target.c_str());
      if (auto r = header(e.get(), path); !r) return r.error();
      return std::optional<UniqueFd>();
    }
    if (S_ISFIFO(st.st_mode)) {
      EntryPtr e = entryFor(path, st);
      if (auto r = header(e.get(), path); !r) return r.error();
      return std::optional<UniqueFd>();
    }
    if (!S_ISREG(st.st_mode)) return std::optional<UniqueFd>();  // sockets: nothing to keep
    EntryPtr e = entryFor(path, st);
    if (st.st_nlink > 1) {
      auto [it, fresh] = links_.emplace(std::make_pair(st.st_dev, st.st_ino), path);
      if (!fresh) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        if (auto r = header(e.get(), path); !r) return r.error();
        return std::optional<UniqueFd>();
      }
    }
    if (static_cast<uint64_t>(st.st_size) > limits_.max_file_bytes - file_bytes_) {
      return ErrnoError(EFBIG) << "the sandbox's files hold more than " << limits_.max_file_bytes
                               << " bytes, its disk size (sparse files count whole: /" << path
                               << " is " << st.st_size << " bytes)";
    }
    file_bytes_ += static_cast<uint64_t>(st.st_size);
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return ErrnoError() << "open " << path;
    archive_entry_set_size(e.get(), st.st_size);
    addXattrs(fd.get(), e.get());
    if (auto r = header(e.get(), path); !r) return r.error();
    std::vector<char> buf(kCopyChunk);
    const auto chunk = static_cast<int64_t>(buf.size());
    int64_t left = st.st_size;
    while (left > 0) {
      ssize_t n = ::read(fd.get(), buf.data(), static_cast<size_t>(std::min(left, chunk)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError() << "read " << path;
      if (n == 0) {  // shrank under us (the sandbox is frozen, so it should not): pad
        std::fill(buf.begin(), buf.end(), '\0');
        n = static_cast<ssize_t>(std::min(left, chunk));
      }
      if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) != n) {
        return failure(path);
      }
      left -= n;
    }
    return std::optional<UniqueFd>();
  }

  Output out_;  // declared before a_, so it outlives it
  ArchivePtr a_;
  uint32_t base_;
  uint32_t count_;
  DiffLimits limits_;
  uint64_t entries_ = 0;
  uint64_t file_bytes_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

Result<DiffResult> writeLayerDiff(const std::vector<UpperDir>& uppers, uint32_t id_base,
                                  uint32_t id_count, int out_fd, const DiffLimits& limits) {
  DiffWriter writer(out_fd, id_base, id_count, limits);
  if (auto r = writer.open(); !r) return r.error();
  for (const UpperDir& u : uppers) {
    if (auto r = writer.upper(u); !r) return r.error();
  }
  return writer.finish();
}

}  // namespace declaw::image
