#include "runtime/init/file_ops.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "common/io.h"
#include "runtime/init/caps.h"
#include "runtime/init/dir_watch.h"
#include "runtime/init/file_tree.h"

namespace declaw::runtime::init {

namespace {

constexpr mode_t kNewDirMode = 0755;

Result<void> checkPath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) {
    return ErrnoError(EINVAL) << "path must be absolute: '" << path << "'";
  }
  return {};
}

// mkdir -p of every directory above `path`'s last component. Existing ones are fine; a file in
// the way surfaces as ENOTDIR from the next call.
Result<void> makeParents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    if (path[pos - 1] == '/') continue;  // "//"
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), kNewDirMode) != 0 && errno != EEXIST) {
      return ErrnoError() << "mkdir " << prefix;
    }
  }
  return {};
}

Result<void> clearNonBlock(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return ErrnoError() << "fcntl";
  }
  return {};
}

// A regular file, or EISDIR / EINVAL: never a FIFO or device, whose open or read could block
// or reach outside the file API's meaning.
Result<struct stat> requireRegular(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoError() << "fstat " << path;
  if (S_ISDIR(st.st_mode)) return ErrnoError(EISDIR) << path << " is a directory";
  if (!S_ISREG(st.st_mode)) return ErrnoError(EINVAL) << path << " is not a regular file";
  return st;
}

// O_NONBLOCK: opening a FIFO must not wait for a peer; it is cleared once the file is known to
// be regular.
Result<FileOpResult> openRead(const FileOpRequest& r) {
  UniqueFd fd(::open(r.path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << r.path;
  auto st = requireRegular(fd.get(), r.path);
  if (!st) return st.error();
  if (auto c = clearNonBlock(fd.get()); !c) return c.error();
  FileOpResult out;
  out.reply.value = st->st_size;
  out.fd = std::move(fd);
  return out;
}

Result<FileOpResult> openWrite(const FileOpRequest& r) {
  if (auto p = makeParents(r.path); !p) return p.error();
  UniqueFd fd(::open(r.path.c_str(), O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
                     r.mode & 07777));
  if (!fd) return ErrnoError() << "open " << r.path;
  // Checked before truncating: O_TRUNC at open would act on whatever the path named.
  if (auto st = requireRegular(fd.get(), r.path); !st) return st.error();
  if (::ftruncate(fd.get(), 0) != 0) return ErrnoError() << "truncate " << r.path;
  if (auto c = clearNonBlock(fd.get()); !c) return c.error();
  FileOpResult out;
  out.fd = std::move(fd);
  return out;
}

Result<FileOpResult> statPath(const FileOpRequest& r) {
  const std::string path = trimTrailingSlashes(r.path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return ErrnoError() << "lstat " << path;
  FileOpResult out;
  // readlinkat(AT_FDCWD, path) reads the link itself, as lstat saw it.
  Entry e = makeEntry(st, AT_FDCWD, path, path);
  e.name = baseName(path);
  out.reply.payload = encodeEntry(e);
  return out;
}

Result<FileOpResult> list(const FileOpRequest& r) {
  auto entries = listTree(r.path, r.depth);
  if (!entries) return entries.error();
  UniqueFd memfd(::memfd_create("declaw-list", MFD_CLOEXEC));
  if (!memfd) return ErrnoError() << "memfd_create";
  const std::string data = encodeEntries(*entries);
  if (auto w = writeAll(memfd.get(), data); !w) return ErrnoError(w.error().code) << "write list";
  // The fd shares its offset with the daemon's copy: start it at the beginning.
  if (::lseek(memfd.get(), 0, SEEK_SET) != 0) return ErrnoError() << "lseek";
  FileOpResult out;
  out.reply.value = static_cast<int64_t>(data.size());
  out.fd = std::move(memfd);
  return out;
}

Result<FileOpResult> makeDir(const FileOpRequest& r) {
  const std::string path = trimTrailingSlashes(r.path);
  if (auto p = makeParents(path); !p) return p.error();
  FileOpResult out;
  if (::mkdir(path.c_str(), kNewDirMode) == 0) {
    out.reply.value = 1;
    return out;
  }
  if (errno != EEXIST) return ErrnoError() << "mkdir " << path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return ErrnoError(EEXIST) << path << " exists and is not a directory";
  }
  out.reply.value = 0;
  return out;
}

Result<FileOpResult> remove(const FileOpRequest& r) {
  if (auto d = removeTree(r.path); !d) return d.error();
  return FileOpResult{};
}

Result<FileOpResult> rename(const FileOpRequest& r) {
  if (auto c = checkPath(r.path2); !c) return c.error();
  if (::renameat2(AT_FDCWD, r.path.c_str(), AT_FDCWD, r.path2.c_str(), 0) != 0) {
    return ErrnoError() << "rename " << r.path << " to " << r.path2;
  }
  return FileOpResult{};
}

Result<FileOpResult> dispatch(const FileOpRequest& r) {
  if (auto c = checkPath(r.path); !c) return c.error();
  switch (r.kind) {
    case FileOpKind::kOpenRead:
      return openRead(r);
    case FileOpKind::kOpenWrite:
      return openWrite(r);
    case FileOpKind::kStat:
      return statPath(r);
    case FileOpKind::kList:
      return list(r);
    case FileOpKind::kMkdir:
      return makeDir(r);
    case FileOpKind::kRemove:
      return remove(r);
    case FileOpKind::kRename:
      return rename(r);
    case FileOpKind::kWatch:
      break;  // only a helper runs one (runWatch)
  }
  return ErrnoError(EINVAL) << "unknown file op";
}

// A watch's helper, once it is the requesting user: sets the watches, sends the pipe's read end
// as the reply, then lets go of the control socket and writes records until the watch ends.
[[noreturn]] void runWatch(const FileOpRequest& request) {
  Reply reply;
  reply.request_id = request.request_id;
  auto watcher = DirWatcher::open(request.path, request.depth);
  std::array<int, 2> ends{-1, -1};
  if (!watcher) {
    reply.error = watcher.error().code != 0 ? watcher.error().code : EIO;
    reply.message = watcher.error().message;
  } else if (::pipe2(ends.data(), O_CLOEXEC) != 0) {
    reply.error = errno;
    reply.message = "pipe2";
  }
  UniqueFd read_end(ends[0]);
  UniqueFd write_end(ends[1]);
  int fd = read_end.get();
  std::span<const int> fds;
  if (fd >= 0) fds = std::span<const int>(&fd, 1);
  (void)sendPacket(kControlFd, encode(reply), fds);
  ::close(kControlFd);
  if (reply.error != 0) ::_exit(0);
  read_end.reset();
  // A daemon that stops reading closes its end: the write fails with EPIPE, not a signal.
  (void)::signal(SIGPIPE, SIG_IGN);
  watcher->run(write_end.get());
  ::_exit(0);
}

// The helper: a fork of single-threaded init that never execs, so it may allocate.
[[noreturn]] void helperMain(const FileOpRequest& request) {
  FileOpResult result;
  if (::close_range(4, ~0U, 0) != 0) {
    result.reply.error = errno;
    result.reply.message = "close_range";
  } else if (request.uid >= kIdsPerSandbox || request.gid >= kIdsPerSandbox) {
    result.reply.error = EINVAL;
    result.reply.message = "uid/gid outside the sandbox";
  } else if (CredsFailure f = becomeIdentity(Identity{request.uid, request.gid, true})) {
    result.reply.error = f.error;
    result.reply.message = f.what;
  } else if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    // The uid change reset "dumpable" to fs.suid_dumpable (prctl(2)); this holds fd 3.
    result.reply.error = errno;
    result.reply.message = "prctl(PR_SET_DUMPABLE)";
  } else {
    ::umask(0);  // new files get exactly the requested mode
    if (request.kind == FileOpKind::kWatch) runWatch(request);
    result = performFileOp(request);
  }
  result.reply.request_id = request.request_id;
  int fd = result.fd.get();
  std::span<const int> fds;
  if (fd >= 0) fds = std::span<const int>(&fd, 1);
  (void)sendPacket(kControlFd, encode(result.reply), fds);
  ::_exit(0);
}

}  // namespace

FileOpResult performFileOp(const FileOpRequest& request) {
  auto result = dispatch(request);
  if (!result) {
    FileOpResult failed;
    failed.reply.request_id = request.request_id;
    failed.reply.error = result.error().code != 0 ? result.error().code : EIO;
    failed.reply.message = result.error().message;
    return failed;
  }
  result->reply.request_id = request.request_id;
  return std::move(*result);
}

Result<pid_t> startFileOpHelper(const FileOpRequest& request) {
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError() << "fork";
  if (pid == 0) helperMain(request);
  return pid;
}

}  // namespace declaw::runtime::init
