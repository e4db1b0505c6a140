#include "common/fs_at.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

namespace declaw {

Result<UniqueFd> openAt2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve,
                         uint64_t mode) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = resolve;
  const char* p = path.empty() ? "." : path.c_str();
  long fd = ::syscall(SYS_openat2, dirfd, p, &how, sizeof how);
  if (fd < 0) return ErrnoError() << "open " << (path.empty() ? "." : path);
  return UniqueFd(static_cast<int>(fd));
}

namespace {

// Empties the directory `dir` (an fd we own), depth first. Iterative over an explicit stack of
// open directories, so a hostile tree thousands of levels deep cannot exhaust the C stack; the
// fds in use are bounded by the depth of the tree, which the kernel bounds by PATH_MAX only for
// paths, not for fds: a frame is closed as soon as its directory is empty.
Result<void> emptyDirectory(UniqueFd dir) {
  struct Frame {
    UniqueFd fd;
    DIR* stream;
  };
  std::vector<Frame> stack;
  auto push = [&](UniqueFd fd) -> Result<void> {
    int dup = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return ErrnoError() << "dup";
    DIR* stream = ::fdopendir(dup);
    if (stream == nullptr) {
      ::close(dup);
      return ErrnoError() << "fdopendir";
    }
    ::rewinddir(stream);  // a dup shares the directory's read position with its original
    stack.push_back(Frame{std::move(fd), stream});
    return {};
  };
  if (auto r = push(std::move(dir)); !r) return r;
  Result<void> result;
  while (!stack.empty()) {
    Frame& top = stack.back();
    errno = 0;
    dirent* e = ::readdir(top.stream);
    if (e == nullptr) {
      int err = errno;
      ::closedir(top.stream);
      stack.pop_back();
      if (err != 0) {
        result = ErrnoError(err) << "readdir";
        break;
      }
      // The parent's entry for this directory is removed when the parent reads it again.
      if (!stack.empty()) ::rewinddir(stack.back().stream);
      continue;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (::unlinkat(top.fd.get(), name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR) {
      result = ErrnoError() << "unlink " << name;
      break;
    }
    if (::unlinkat(top.fd.get(), name.c_str(), AT_REMOVEDIR) == 0) continue;
    if (errno != ENOTEMPTY && errno != EEXIST) {
      result = ErrnoError() << "rmdir " << name;
      break;
    }
    UniqueFd child(
        ::openat(top.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      result = ErrnoError() << "open " << name;
      break;
    }
    if (auto r = push(std::move(child)); !r) {
      result = r;
      break;
    }
  }
  for (Frame& f : stack) ::closedir(f.stream);
  return result;
}

}  // namespace

Result<void> removeTreeAt(int dirfd, const std::string& name) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return {};
  if (errno != EISDIR) return ErrnoError() << "unlink " << name;
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return {};
  UniqueFd dir(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return ErrnoError() << "open " << name;
  if (auto r = emptyDirectory(std::move(dir)); !r) {
    return ErrnoError(r.error().code) << name << ": " << r.error().message;
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoError() << "rmdir " << name;
  }
  return {};
}

std::pair<std::string, std::string> splitParent(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace declaw
