#include "daemon/http_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/beast/core/file_posix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>

#include "api/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "daemon/fd_stream.h"

namespace declaw::daemon {

namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// Writing one piece of a response to a client that does not read.
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr size_t kUploadChunk = 256 * 1024;
// A streamed response with nothing to say sends a keep-alive comment this often, which also
// finds readers that have gone away.
constexpr auto kStreamKeepAlive = std::chrono::seconds(15);
// How long a stream waits for its next piece before it looks whether its client left.
constexpr auto kStreamPoll = std::chrono::seconds(1);
// How long to keep discarding the body of a request we refused (see drainAndClose).
constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr char kServerName[] = "declawd";

// Writes a response; the write deadline restarts with every piece written, so a large file
// goes to a slow but live reader while a reader that stops is cut off.
template <typename Body>
bool writeMessage(FdStream& stream, http::response<Body>& res) {
  http::response_serializer<Body> serializer{res};
  while (!serializer.is_done()) {
    stream.setDeadline(FdStream::Clock::now() + kWriteTimeout);
    error_code ec;
    http::write_some(stream, serializer, ec);
    if (ec) return false;
  }
  return true;
}

template <typename Body>
void setHeaders(http::response<Body>& res, const api::Response& r) {
  res.set(http::field::server, kServerName);
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
}

// Writes all of `bytes` (each write_some under the write deadline).
bool writeRaw(FdStream& stream, std::string_view bytes) {
  while (!bytes.empty()) {
    stream.setDeadline(FdStream::Clock::now() + kWriteTimeout);
    error_code ec;
    size_t n = stream.write_some(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

// The peer closed the connection (or its sending side: HTTP clients do not half-close while
// they wait for an answer).
bool clientLeft(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// A body produced as it goes (Server-Sent Events): chunked for HTTP/1.1, else delimited by the
// end of the connection. A reader that stops reading is cut off by the write deadline; the
// process it watched runs on, unaffected.
bool sendStream(FdStream& stream, api::Response& r, unsigned version, bool keep_alive) {
  const bool chunked = version >= 11;
  http::response<http::empty_body> res{static_cast<http::status>(r.status), version};
  setHeaders(res, r);
  if (chunked) {
    res.chunked(true);
  } else {
    keep_alive = false;
  }
  res.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> serializer{res};
  serializer.split(true);
  while (!serializer.is_header_done()) {
    stream.setDeadline(FdStream::Clock::now() + kWriteTimeout);
    error_code ec;
    http::write_some(stream, serializer, ec);
    if (ec) return false;
  }
  auto last_write = std::chrono::steady_clock::now();
  while (auto piece = r.stream->next(kStreamPoll)) {
    if (piece->empty()) {
      // Nothing to send: a client that hung up ends the stream now (a watch's watcher, say,
      // stops with it), and a silent one gets a keep-alive now and then.
      if (clientLeft(stream.fd())) return false;
      if (std::chrono::steady_clock::now() - last_write < kStreamKeepAlive) continue;
      *piece = r.stream->keepAlive();
      if (piece->empty()) continue;
    }
    last_write = std::chrono::steady_clock::now();
    if (!chunked) {
      if (!writeRaw(stream, *piece)) return false;
      continue;
    }
    char size_line[32];
    int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece->size());
    piece->insert(0, size_line, static_cast<size_t>(n));
    piece->append("\r\n");
    if (!writeRaw(stream, *piece)) return false;
  }
  if (chunked && !writeRaw(stream, "0\r\n\r\n")) return false;
  return keep_alive;
}

bool sendResponse(FdStream& stream, api::Response& r, unsigned version, bool keep_alive) {
  if (r.stream) return sendStream(stream, r, version, keep_alive);
  if (r.file) {
    http::response<http::file_body> res{static_cast<http::status>(r.status), version};
    setHeaders(res, r);
    boost::beast::file_posix file;
    file.native_handle(r.file.release());
    error_code ec;
    res.body().reset(std::move(file), ec);
    if (ec) return false;
    // Exactly the bytes file_body will send (its size as of reset): the file belongs to the
    // sandbox and may have grown since it was opened, and a longer body than declared would
    // let sandbox bytes pass for the next response on this connection.
    res.content_length(res.body().size());
    res.keep_alive(keep_alive);
    return writeMessage(stream, res);
  }
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  setHeaders(res, r);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return writeMessage(stream, res);
}

bool sendError(FdStream& stream, int status, const std::string& code, const std::string& message) {
  api::Response r = api::errorResponse(status, code, message);
  return sendResponse(stream, r, 11, false);
}

api::Request toRequest(const http::request_header<>& h) {
  api::Request req;
  req.method = std::string(h.method_string());
  req.target = std::string(h.target());
  req.content_type = std::string(h[http::field::content_type]);
  return req;
}

// Streams the body of an upload into the sink. Returns bytes written, or an error response.
std::variant<uint64_t, api::Response> streamUpload(FdStream& stream,
                                                   boost::beast::flat_buffer& buffer,
                                                   http::request_parser<http::buffer_body>& parser,
                                                   const api::Upload& upload,
                                                   std::chrono::seconds request_timeout) {
  int sink = upload.sink.get();
  std::vector<char> chunk(kUploadChunk);
  uint64_t total = 0;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.setDeadline(FdStream::Clock::now() + request_timeout);  // per chunk: big uploads
    error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      return api::errorResponse(413, "too_large", "upload is larger than the configured limit",
                                upload.sandbox_id);
    }
    if (ec) {
      return api::errorResponse(400, "invalid_argument", "upload interrupted: " + ec.message(),
                                upload.sandbox_id);
    }
    size_t got = chunk.size() - parser.get().body().size;
    if (auto w = writeAll(sink, chunk.data(), got); !w) {
      return api::errorResponse(ErrnoError(w.error().code) << "write " << upload.path,
                                upload.sandbox_id);
    }
    total += got;
  }
  return total;
}

// After answering a request whose body we will not read: stop sending, then read and drop
// what the client is still sending (bounded in bytes and time), so a client that writes the
// whole body before reading gets the answer rather than a connection reset.
void drainAndClose(int socket, FdStream& stream, boost::beast::flat_buffer& buffer,
                   uint64_t max_bytes) {
  ::shutdown(socket, SHUT_WR);
  stream.setDeadline(FdStream::Clock::now() + kDrainTimeout);
  uint64_t total = buffer.size();
  buffer.consume(buffer.size());
  std::vector<char> scratch(kUploadChunk);
  while (total <= max_bytes) {
    error_code ec;
    size_t n = stream.read_some(boost::asio::buffer(scratch), ec);
    if (ec) return;
    total += n;
  }
}

// Reads the next request's header into `parser`: its first byte under the idle deadline, then
// the whole header under the request deadline. Answers a header that is too large, late or
// malformed itself. False: the connection is over.
bool readHeader(FdStream& stream, boost::beast::flat_buffer& buffer,
                http::request_parser<http::empty_body>& parser, const api::Limits& limits) {
  // Idle: wait for the next request's first bytes; then the whole header must follow soon.
  stream.setDeadline(FdStream::Clock::now() + std::chrono::seconds(limits.idle_timeout_s));
  parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
  // The largest body any route takes: each upload's own limit applies once it is known.
  parser.body_limit(std::max(limits.max_upload_bytes, limits.max_template_bytes));
  error_code ec;
  if (buffer.size() == 0) {
    // Wait for the first byte under the idle deadline, then switch to the request deadline.
    buffer.commit(stream.read_some(buffer.prepare(4096), ec));
    if (ec) return false;  // closed, idle timeout or error: nothing to answer
  }
  // The whole header (and later each upload chunk) must arrive within request_timeout_s.
  stream.setDeadline(FdStream::Clock::now() + std::chrono::seconds(limits.request_timeout_s));
  http::read_header(stream, buffer, parser, ec);
  if (ec == http::error::header_limit) {
    sendError(stream, 431, "too_large", "request header is larger than the configured limit");
    return false;
  }
  if (ec == http::error::body_limit) {  // a declared Content-Length over the upload limit
    sendError(stream, 413, "too_large", "request body is larger than the configured limit");
    return false;
  }
  if (ec == boost::asio::error::timed_out) {
    sendError(stream, 408, "timeout", "request not received in time");
    return false;
  }
  if (ec) {
    if (ec != http::error::end_of_stream && ec != boost::asio::error::eof) {
      sendError(stream, 400, "invalid_argument", "malformed HTTP request: " + ec.message());
    }
    return false;
  }
  return true;
}

}  // namespace

void serveConnection(int socket, const api::Caller& caller, api::Router& router) {
  const api::Limits& limits = router.limits();
  const std::chrono::seconds request_timeout(limits.request_timeout_s);
  FdStream stream(socket);
  // Bounded: Beast keeps unparsed bytes here (a header, a chunk-size line), and a client must
  // not grow it without limit.
  boost::beast::flat_buffer buffer(limits.max_header_bytes + kUploadChunk);
  for (;;) {
    http::request_parser<http::empty_body> header_parser;
    if (!readHeader(stream, buffer, header_parser, limits)) return;
    const auto& header = header_parser.get();
    unsigned version = header.version();
    api::Request request = toRequest(header);
    bool keep_alive = header.keep_alive();
    // "Expect: 100-continue": tell the client to send the body only once we will read it.
    bool expects_continue = header[http::field::expect] == "100-continue";
    auto sendContinue = [&] {
      if (!expects_continue) return;
      http::response<http::empty_body> cont{http::status::continue_, version};
      writeMessage(stream, cont);
    };

    api::Response response;
    if (api::Router::isUpload(request.method, request.target)) {
      uint64_t declared = header_parser.content_length().value_or(0);
      auto begun = router.beginUpload(caller, request, declared);
      if (auto* r = std::get_if<api::Response>(&begun)) {
        // The body was not read: answer, then discard what the client still sends so it sees
        // the answer instead of a reset; the connection is not reused.
        sendResponse(stream, *r, version, false);
        if (!expects_continue) drainAndClose(socket, stream, buffer, limits.max_upload_bytes);
        return;
      }
      sendContinue();
      auto& upload = std::get<api::Upload>(begun);
      http::request_parser<http::buffer_body> body_parser{std::move(header_parser)};
      const uint64_t body_limit =
          upload.max_bytes != 0 ? upload.max_bytes : limits.max_upload_bytes;
      body_parser.body_limit(body_limit);
      auto streamed = streamUpload(stream, buffer, body_parser, upload, request_timeout);
      upload.sink.reset();
      if (auto* r = std::get_if<api::Response>(&streamed)) {
        sendResponse(stream, *r, version, false);
        return;
      }
      response = router.finishUpload(upload, std::get<uint64_t>(streamed));
    } else {
      // Beast checks a Content-Length against body_limit when the header is parsed, which
      // happened under the (larger) upload limit: check the JSON limit here.
      if (header_parser.content_length().value_or(0) > limits.max_json_body_bytes) {
        sendError(stream, 413, "too_large", "request body is larger than the configured limit");
        if (!expects_continue) drainAndClose(socket, stream, buffer, limits.max_upload_bytes);
        return;
      }
      sendContinue();
      http::request_parser<http::string_body> body_parser{std::move(header_parser)};
      body_parser.body_limit(limits.max_json_body_bytes);
      error_code ec;
      http::read(stream, buffer, body_parser, ec);
      if (ec == http::error::body_limit) {
        sendError(stream, 413, "too_large", "request body is larger than the configured limit");
        return;
      }
      if (ec) {
        sendError(stream, ec == boost::asio::error::timed_out ? 408 : 400,
                  ec == boost::asio::error::timed_out ? "timeout" : "invalid_argument",
                  "request body: " + ec.message());
        return;
      }
      request.body = std::move(body_parser.get().body());
      response = router.handle(caller, request);
    }
    if (!sendResponse(stream, response, version, keep_alive) || !keep_alive) return;
  }
}

}  // namespace declaw::daemon
