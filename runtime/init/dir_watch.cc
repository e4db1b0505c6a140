#include "runtime/init/dir_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "common/io.h"
#include "runtime/init/dir_stream.h"
#include "runtime/init/file_tree.h"

namespace declaw::runtime::init {

namespace {

constexpr uint32_t kEvents = IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                             IN_ATTRIB | IN_DELETE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR;
// Names longer than this are not watched below (the kernel's PATH_MAX would refuse them soon,
// and a record must hold the name).
constexpr size_t kMaxRelativeName = 4000;
// One read of the inotify fd: many events of the longest name.
constexpr size_t kEventBufferBytes = 64 * 1024;

std::string joinRelative(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool isUnder(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

}  // namespace

Result<DirWatcher> DirWatcher::open(const std::string& path, uint32_t max_dirs) {
  UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return ErrnoError() << "inotify_init1";
  DirWatcher watcher(std::move(fd), trimTrailingSlashes(path), max_dirs == 0 ? 1 : max_dirs);
  if (auto added = watcher.addTree("", nullptr); !added) return added.error();
  return watcher;
}

std::string DirWatcher::fullPath(const std::string& rel) const {
  if (rel.empty()) return root_;
  return root_ == "/" ? "/" + rel : root_ + "/" + rel;
}

Result<void> DirWatcher::addTree(const std::string& top, std::vector<WatchRecord>* created) {
  // Depth-first with an explicit stack, bounded by max_dirs_.
  std::vector<std::string> pending{top};
  while (!pending.empty()) {
    const std::string rel = std::move(pending.back());
    pending.pop_back();
    const std::string full = fullPath(rel);
    // Below the root, a symlink is never followed: the watch stays in the named tree.
    const uint32_t mask = rel.empty() ? kEvents : kEvents | IN_DONT_FOLLOW;
    if (dirs_.size() >= max_dirs_) {
      return ErrnoError(E2BIG) << "more than " << max_dirs_ << " directories to watch under "
                               << root_ << "; watch a smaller tree, or without recursive";
    }
    const int wd = ::inotify_add_watch(inotify_.get(), full.c_str(), mask);
    if (wd < 0) {
      if (rel.empty()) return ErrnoError() << "watch " << root_;
      if (errno == ENOSPC) {
        return ErrnoError(E2BIG) << "the kernel's limit on inotify watches was reached under "
                                 << root_;
      }
      continue;  // gone meanwhile, not a directory any more, or not readable: not watched
    }
    if (rel.empty()) root_wd_ = wd;
    dirs_[wd] = rel;
    if (!recursive() && created == nullptr) continue;
    UniqueFd dfd(
        ::open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (rel.empty() ? 0 : O_NOFOLLOW)));
    if (!dfd) continue;
    DirStream dir = openDirStream(std::move(dfd));
    if (!dir) continue;
    errno = 0;
    while (dirent* ent = ::readdir(dir.get())) {
      const std::string name = ent->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = joinRelative(rel, name);
      if (child.size() > kMaxRelativeName) continue;
      if (created != nullptr) created->push_back({WatchRecordKind::kCreate, child});
      bool is_dir = ent->d_type == DT_DIR;
      if (ent->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(::dirfd(dir.get()), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISDIR(st.st_mode);
      }
      if (is_dir && recursive()) pending.push_back(child);
    }
  }
  return {};
}

void DirWatcher::forgetTree(const std::string& rel) {
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (it->first != root_wd_ && isUnder(it->second, rel)) {
      ::inotify_rm_watch(inotify_.get(), it->first);
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
}

bool DirWatcher::handle(uint32_t mask, int wd, const std::string& name,
                        std::vector<WatchRecord>& records) {
  if ((mask & IN_Q_OVERFLOW) != 0) {
    records.push_back({WatchRecordKind::kLost, ""});
    return true;
  }
  auto dir = dirs_.find(wd);
  if (dir == dirs_.end()) return true;  // a watch already forgotten
  if ((mask & (IN_IGNORED | IN_DELETE_SELF)) != 0) {
    if (wd == root_wd_) {
      records.push_back({WatchRecordKind::kEndRemoved, ""});
      return false;
    }
    if ((mask & IN_IGNORED) != 0) dirs_.erase(dir);
    return true;
  }
  if (name.empty()) return true;
  const std::string rel = joinRelative(dir->second, name);
  if (rel.size() > kMaxRelativeName) return true;
  const bool is_dir = (mask & IN_ISDIR) != 0;
  if ((mask & (IN_CREATE | IN_MOVED_TO)) != 0) {
    records.push_back({WatchRecordKind::kCreate, rel});
    if (is_dir && recursive()) {
      if (auto added = addTree(rel, &records); !added) {
        records.push_back({WatchRecordKind::kEndError, added.error().message});
        return false;
      }
    }
  } else if ((mask & IN_MODIFY) != 0) {
    // A write loop makes many: one record per read of the queue is enough.
    const WatchRecord write{WatchRecordKind::kWrite, rel};
    if (records.empty() || !(records.back() == write)) records.push_back(write);
  } else if ((mask & IN_DELETE) != 0) {
    records.push_back({WatchRecordKind::kRemove, rel});
  } else if ((mask & IN_MOVED_FROM) != 0) {
    records.push_back({WatchRecordKind::kRename, rel});
    if (is_dir) forgetTree(rel);
  } else if ((mask & IN_ATTRIB) != 0) {
    records.push_back({WatchRecordKind::kChmod, rel});
  }
  return true;
}

void DirWatcher::run(int out) {
  alignas(inotify_event) std::array<char, kEventBufferBytes> buffer{};
  std::vector<WatchRecord> records;
  for (;;) {
    // The pipe's write end reports POLLERR once the daemon closed its end.
    std::array<pollfd, 2> fds{{{inotify_.get(), POLLIN, 0}, {out, 0, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((fds[1].revents & (POLLERR | POLLHUP)) != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const ssize_t n = ::read(inotify_.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      (void)writeAll(out, encodeWatchRecord({WatchRecordKind::kEndError, "inotify read failed"}));
      return;
    }
    records.clear();
    bool going = true;
    for (ssize_t pos = 0; going && pos + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      inotify_event event{};
      std::memcpy(&event, buffer.data() + pos, sizeof event);
      const char* name_start = buffer.data() + pos + sizeof event;
      const std::string name(name_start, ::strnlen(name_start, event.len));
      pos += static_cast<ssize_t>(sizeof event + event.len);
      going = handle(event.mask, event.wd, name, records);
    }
    std::string bytes;
    for (const WatchRecord& record : records) bytes += encodeWatchRecord(record);
    // A full pipe blocks here: the kernel queues events meanwhile (and reports an overflow).
    if (!bytes.empty() && !writeAll(out, bytes)) return;
    if (!going) return;
  }
}

}  // namespace declaw::runtime::init
