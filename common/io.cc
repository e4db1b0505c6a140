#include "common/io.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace declaw {

namespace {
constexpr size_t kMaxFdsPerPacket = 16;
}

Result<void> writeAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError() << "write";
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Result<std::string> readAll(int fd, size_t max_bytes) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError() << "read";
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return ErrnoError(E2BIG) << "read: more than " << max_bytes << " bytes";
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> readFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << path;
  auto data = readAll(fd.get(), max_bytes);
  if (!data) return ErrnoError(data.error().code) << "read " << path;
  return data;
}

Result<void> writeFile(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError() << "open " << path;
  if (auto r = writeAll(fd.get(), data); !r) return ErrnoError(r.error().code) << "write " << path;
  return {};
}

Result<UniqueFd> seqpacketSocket(const std::string& path, sockaddr_un& addr) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ErrnoError(ENAMETOOLONG) << "socket " << path;
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoError() << "socket";
  return sock;
}

Result<void> sendPacket(int sock, std::string_view data, std::span<const int> fds, int flags) {
  if (fds.size() > kMaxFdsPerPacket) return PlainError() << "sendPacket: too many fds";
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerPacket)];
  if (!fds.empty()) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
    if (n >= 0) return {};
    if (errno != EINTR) return ErrnoError() << "sendmsg";
  }
}

Result<Packet> recvPacket(int sock, size_t max_bytes) {
  Packet packet;
  // One receive buffer per thread, filled once: a flood of small packets then costs a copy of
  // each packet, not a fresh max_bytes allocation and memset apiece.
  thread_local std::vector<char> scratch;
  if (scratch.size() < max_bytes + 1) scratch.resize(max_bytes + 1);
  iovec iov{scratch.data(), max_bytes + 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerPacket)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError() << "recvmsg";
  // Take ownership of any fds first, so they are closed on every error path below.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      packet.fds.emplace_back(fd);
    }
  }
  if (n == 0 && packet.fds.empty()) return PlainError() << "peer closed";
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || static_cast<size_t>(n) > max_bytes) {
    return ErrnoError(EMSGSIZE) << "recvmsg: message truncated";
  }
  packet.data.assign(scratch.data(), static_cast<size_t>(n));
  return packet;
}

Result<Pipe> makePipe(int extra_flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | extra_flags) < 0) return ErrnoError() << "pipe2";
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace declaw
