#include "clients/ctl/io_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace declaw::ctl {

volatile std::sig_atomic_t g_interrupted = 0;

namespace {

constexpr size_t kCopyBufferBytes = size_t{256} * 1024;

// The write end of the wake-up pipe (-1 until installInterruptHandlers()); the read end is for
// interruptWakeFd(). Process-wide, like the handlers that write to it.
int g_wake_write = -1;
int g_wake_read = -1;

void onInterrupt(int signo) {
  g_interrupted = signo;
  // After the flag, so a poll() that wakes for this byte sees the flag set. write(2) is
  // async-signal-safe; a full pipe already holds a wake-up, so its EAGAIN is fine.
  if (g_wake_write >= 0) {
    int saved = errno;
    (void)!::write(g_wake_write, "i", 1);
    errno = saved;
  }
}

bool retryable(int err) { return err == EINTR && g_interrupted == 0; }

// An unlinked read-write file: O_TMPFILE where the filesystem has it, else mkstemp + unlink.
Result<UniqueFd> makeSpoolFile() {
  const char* env = std::getenv("TMPDIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "/tmp";
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  std::string templ = dir + "/declawctl-XXXXXX";
  fd.reset(::mkostemp(templ.data(), O_CLOEXEC));
  if (!fd) return ErrnoError() << "create a temporary file in " << dir;
  ::unlink(templ.c_str());
  return fd;
}

}  // namespace

void installInterruptHandlers() {
  if (g_wake_read < 0) {
    // Kept for the life of the process: the handlers may run until it exits.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      g_wake_read = fds[0];
      g_wake_write = fds[1];
    }
  }
  struct sigaction sa = {};
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocked reads must return EINTR
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

int interruptWakeFd() { return g_wake_read; }

Result<void> writeFully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (retryable(errno)) continue;
      return ErrnoError() << "write";
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok{};
}

Result<std::string> readFully(int fd, size_t max_bytes) {
  std::string out;
  std::vector<char> buf(kCopyBufferBytes);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (retryable(errno)) continue;
      return ErrnoError() << "read";
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return ErrnoError(E2BIG) << "input over " << max_bytes << " bytes";
    }
    out.append(buf.data(), static_cast<size_t>(n));
  }
}

Result<SizedFile> openUploadSource(const std::string& path) {
  UniqueFd fd;
  if (path == "-") {
    fd.reset(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!fd) return ErrnoError() << "dup stdin";
  } else {
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoError() << path;
  }
  struct stat st = {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError() << "stat " << path;
  if (S_ISDIR(st.st_mode)) return ErrnoError(EISDIR) << path;
  if (S_ISREG(st.st_mode)) {
    // stdin redirected from a file may be positioned mid-file; send what is left.
    off_t pos = ::lseek(fd.get(), 0, SEEK_CUR);
    uint64_t left = pos > 0 && pos <= st.st_size ? static_cast<uint64_t>(st.st_size - pos)
                                                 : static_cast<uint64_t>(st.st_size);
    return SizedFile{std::move(fd), left};
  }

  auto spool = makeSpoolFile();
  if (!spool) return spool.error();
  std::vector<char> buf(kCopyBufferBytes);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (retryable(errno)) continue;
      return ErrnoError() << "read " << path;
    }
    if (n == 0) break;
    if (auto r = writeFully(spool->get(), std::string_view(buf.data(), static_cast<size_t>(n)));
        !r) {
      return PlainError() << "spool " << path << " to a temporary file: " << r.error().describe();
    }
    total += static_cast<uint64_t>(n);
  }
  if (::lseek(spool->get(), 0, SEEK_SET) != 0) return ErrnoError() << "rewind temporary file";
  return SizedFile{std::move(*spool), total};
}

Result<StreamSource> openStreamSource(const std::string& path) {
  StreamSource source;
  if (path == "-") {
    source.fd.reset(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!source.fd) return ErrnoError() << "dup stdin";
  } else {
    source.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!source.fd) return ErrnoError() << path;
  }
  struct stat st = {};
  if (::fstat(source.fd.get(), &st) != 0) return ErrnoError() << "stat " << path;
  if (S_ISDIR(st.st_mode)) return ErrnoError(EISDIR) << path;
  if (S_ISREG(st.st_mode)) {
    off_t pos = ::lseek(source.fd.get(), 0, SEEK_CUR);
    source.size = pos > 0 && pos <= st.st_size ? static_cast<uint64_t>(st.st_size - pos)
                                               : static_cast<uint64_t>(st.st_size);
  }
  return source;
}

}  // namespace declaw::ctl
