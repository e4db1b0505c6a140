// Small I/O helpers over raw fds: full reads and writes that retry on EINTR, and passing fds over
// Unix sockets (SCM_RIGHTS). Async-signal-safe where marked, so the post-clone child may use them.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw {

// Writes all of data. Async-signal-safe.
Result<void> writeAll(int fd, const void* data, size_t size);
inline Result<void> writeAll(int fd, std::string_view data) {
  return writeAll(fd, data.data(), data.size());
}

// Reads until EOF, at most max_bytes (more is an E2BIG error).
Result<std::string> readAll(int fd, size_t max_bytes);

// Reads a whole file by path.
Result<std::string> readFile(const std::string& path, size_t max_bytes);
// Writes (creates or truncates) a whole file by path, mode 0644.
Result<void> writeFile(const std::string& path, std::string_view data);

// A message received on a SOCK_SEQPACKET socket with the fds that came along.
struct Packet {
  std::string data;
  std::vector<UniqueFd> fds;
};

// Sends one packet (data + fds). Retries EINTR. Async-signal-safe. `flags` are added to
// sendmsg's (MSG_DONTWAIT: EAGAIN instead of blocking when the peer does not read).
Result<void> sendPacket(int sock, std::string_view data, std::span<const int> fds = {},
                        int flags = 0);

// Receives one packet of at most max_bytes; fds arrive O_CLOEXEC. An orderly shutdown by the
// peer is an error with code 0 and message "peer closed". A truncated message is EMSGSIZE.
Result<Packet> recvPacket(int sock, size_t max_bytes);

// A SOCK_SEQPACKET Unix socket (O_CLOEXEC) and the address of `path` for its bind or connect;
// ENAMETOOLONG when the path does not fit.
Result<UniqueFd> seqpacketSocket(const std::string& path, sockaddr_un& addr);

// pipe2(O_CLOEXEC) as two owned ends.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
Result<Pipe> makePipe(int extra_flags = 0);

}  // namespace declaw
