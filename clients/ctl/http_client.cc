#include "clients/ctl/http_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "clients/ctl/io_util.h"
#include "common/unique_fd.h"

namespace declaw::ctl {
namespace {

constexpr size_t kIoChunkBytes = size_t{256} * 1024;

bool retryable(int err) { return err == EINTR && g_interrupted == 0; }

Error interruptedError() { return PlainError() << "interrupted"; }

Result<UniqueFd> connectUnix(const std::string& path) {
  auto unreachable = [&](int err) {
    return PlainError() << "cannot reach declawd at " << path << ": " << std::strerror(err)
                        << " (is the service running?)";
  };
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return unreachable(ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.data(), path.size());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError() << "socket";
  while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (retryable(errno)) continue;
    if (errno == EINTR) return interruptedError();
    return unreachable(errno);
  }
  return fd;
}

// The connection a request goes over, and whether SIGINT/SIGTERM end its waits (see
// HttpClient::setInterruptible()).
struct Link {
  int fd;
  bool interruptible;
};

// For an interruptible request, waits until fd is ready for events or the user wants out. The
// signal handlers write to interruptWakeFd() after setting g_interrupted, so a signal that lands
// between two system calls still ends the wait; EINTR alone would miss it, and the next recv()
// would wait for the daemon's answer (a whole build step).
Result<void> waitReady(Link link, short events) {
  if (!link.interruptible) return Ok{};
  for (;;) {
    if (g_interrupted != 0) return interruptedError();
    pollfd fds[2] = {{link.fd, events, 0}, {interruptWakeFd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoError() << "poll";
    }
    if (fds[0].revents != 0) return Ok{};
  }
}

// Flags for send/recv after waitReady(): an interruptible request never blocks in them.
int ioFlags(Link link) { return link.interruptible ? MSG_DONTWAIT : 0; }

bool wouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// Sends all of data. MSG_NOSIGNAL: a daemon that hangs up early is an EPIPE, not a SIGPIPE.
Result<void> sendAll(Link link, std::string_view data) {
  while (!data.empty()) {
    if (auto r = waitReady(link, POLLOUT); !r) return r;
    ssize_t n = ::send(link.fd, data.data(), data.size(), MSG_NOSIGNAL | ioFlags(link));
    if (n < 0) {
      if (retryable(errno) || (link.interruptible && wouldBlock(errno))) continue;
      if (errno == EINTR) return interruptedError();
      return ErrnoError() << "send to declawd";
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok{};
}

// One piece of a chunked body: its size in hex, the bytes, CRLF. Never empty: an empty chunk
// ends the body.
Result<void> sendChunk(Link link, std::string_view data) {
  char size_line[24];
  (void)std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
  if (auto r = sendAll(link, size_line); !r) return r;
  if (auto r = sendAll(link, data); !r) return r;
  return sendAll(link, "\r\n");
}

Result<void> sendBody(Link link, const RequestBody& body) {
  if (body.fd < 0) return sendAll(link, body.data);
  std::vector<char> buf(kIoChunkBytes);
  uint64_t left = body.fd_size;
  uint64_t sent = 0;
  while (body.chunked || left > 0) {
    size_t want =
        body.chunked ? buf.size() : static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    // A pipe's writer may be slow: wait for it as for the socket.
    if (auto r = waitReady(Link{body.fd, link.interruptible}, POLLIN); !r) return r;
    ssize_t n = ::read(body.fd, buf.data(), want);
    if (n < 0) {
      if (retryable(errno) || (link.interruptible && wouldBlock(errno))) continue;
      if (errno == EINTR) return interruptedError();
      // Not a socket failure: say so, so the caller does not look for a daemon answer.
      return ErrnoError(0) << "read upload source: " << std::strerror(errno);
    }
    if (n == 0) {
      if (body.chunked) return sendAll(link, "0\r\n\r\n");
      return ErrnoError(0) << "upload source shrank while it was being sent";
    }
    std::string_view piece(buf.data(), static_cast<size_t>(n));
    if (auto r = body.chunked ? sendChunk(link, piece) : sendAll(link, piece); !r) return r;
    sent += static_cast<uint64_t>(n);
    if (!body.chunked) left -= static_cast<uint64_t>(n);
    if (body.progress) body.progress(sent);
  }
  return Ok{};
}

// Reads whatever is available; 0 means the daemon closed the connection.
Result<size_t> recvSome(Link link, char* buf, size_t size) {
  for (;;) {
    if (auto r = waitReady(link, POLLIN); !r) return r.error();
    ssize_t n = ::recv(link.fd, buf, size, ioFlags(link));
    if (n >= 0) return static_cast<size_t>(n);
    if (retryable(errno) || (link.interruptible && wouldBlock(errno))) continue;
    if (errno == EINTR) return interruptedError();
    return ErrnoError() << "read from declawd";
  }
}

Error badResponse(const Error& e) {
  return PlainError() << "bad response from declawd: " << e.describe();
}

Result<HttpResponse> readResponse(Link sock, std::string_view method, const BodySink* sink) {
  std::vector<char> chunk(kIoChunkBytes);
  std::string buf;
  HttpResponse response;

  // The head; interim 1xx answers (100 Continue) are skipped.
  for (;;) {
    size_t end;
    while ((end = findHeadEnd(buf)) == std::string::npos) {
      if (buf.size() > kMaxResponseHeadBytes) return PlainError() << "response head too large";
      auto n = recvSome(sock, chunk.data(), chunk.size());
      if (!n) return n.error();
      if (*n == 0) {
        return PlainError() << (buf.empty() ? "declawd closed the connection without answering"
                                            : "declawd closed the connection mid-response");
      }
      buf.append(chunk.data(), *n);
    }
    auto head = parseResponseHead(std::string_view(buf).substr(0, end));
    if (!head) return badResponse(head.error());
    buf.erase(0, end);
    if (head->status >= 100 && head->status < 200) continue;
    response.head = std::move(*head);
    break;
  }

  auto framing = bodyFraming(response.head, method);
  if (!framing) return badResponse(framing.error());
  const bool to_sink = sink != nullptr && response.head.status >= 200 && response.head.status < 300;
  if (to_sink && sink->open) {
    if (auto r = sink->open(); !r) return r.error();
  }

  auto deliver = [&](std::string_view bytes) -> Result<void> {
    if (bytes.empty()) return Ok{};
    if (to_sink) return sink->write(bytes);
    if (response.body.size() + bytes.size() > kMaxBufferedBodyBytes) {
      return PlainError() << "response body over " << kMaxBufferedBodyBytes << " bytes";
    }
    response.body.append(bytes);
    return Ok{};
  };

  uint64_t remaining = framing->length;
  ChunkedDecoder decoder;
  std::string decoded;
  auto consume = [&](std::string_view bytes) -> Result<bool> {  // true when the body is complete
    switch (framing->kind) {
      case BodyKind::kNone:
        return true;
      case BodyKind::kLength: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(remaining, bytes.size()));
        if (auto r = deliver(bytes.substr(0, take)); !r) return r.error();
        remaining -= take;
        return remaining == 0;
      }
      case BodyKind::kChunked: {
        decoded.clear();
        if (auto r = decoder.feed(bytes, decoded); !r) return badResponse(r.error());
        if (auto r = deliver(decoded); !r) return r.error();
        return decoder.done();
      }
      case BodyKind::kUntilClose:
        if (auto r = deliver(bytes); !r) return r.error();
        return false;
    }
    return true;
  };

  auto caller_done = [&] { return to_sink && sink->complete && sink->complete(); };
  auto complete = consume(buf);
  if (!complete) return complete.error();
  bool done = *complete || caller_done();
  while (!done) {
    auto n = recvSome(sock, chunk.data(), chunk.size());
    if (!n) return n.error();
    if (*n == 0) {
      if (framing->kind == BodyKind::kUntilClose) break;
      return PlainError() << "declawd closed the connection mid-response";
    }
    auto r = consume(std::string_view(chunk.data(), *n));
    if (!r) return r.error();
    done = *r || caller_done();
  }
  return response;
}

}  // namespace

std::string formatRequestHead(std::string_view method, std::string_view target,
                              std::string_view content_type,
                              std::optional<uint64_t> content_length) {
  std::string head;
  head.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  head += "Host: declaw\r\n";
  head += "User-Agent: declawctl\r\n";
  if (!content_type.empty()) head.append("Content-Type: ").append(content_type).append("\r\n");
  if (!content_length) {
    head += "Transfer-Encoding: chunked\r\n";
  } else if (*content_length > 0 || method == "POST" || method == "PUT" || method == "PATCH") {
    head += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  }
  head += "Connection: close\r\n\r\n";
  return head;
}

Result<HttpResponse> HttpClient::send(std::string_view method, std::string_view target,
                                      const RequestBody& body, const BodySink* sink) const {
  if (interruptible_ && g_interrupted != 0) return interruptedError();
  auto sock = connectUnix(socket_path_);
  if (!sock) return sock.error();

  std::optional<uint64_t> length = body.fd >= 0 ? body.fd_size : body.data.size();
  if (body.fd >= 0 && body.chunked) length = std::nullopt;
  const Link link{sock->get(), interruptible_};
  auto sent = sendAll(link, formatRequestHead(method, target, body.content_type, length));
  if (sent) sent = sendBody(link, body);
  if (!sent) {
    if (g_interrupted != 0) return interruptedError();
    // A local read failure is ours to report. A socket failure may mean the daemon refused the
    // body early (413, 404) and hung up: its answer, if any, explains better than EPIPE.
    if (sent.error().code == 0) return sent.error();
    auto early = readResponse(link, method, nullptr);
    if (early && early->head.status >= 300) return early;
    return sent.error();
  }
  return readResponse(link, method, sink);
}

}  // namespace declaw::ctl
