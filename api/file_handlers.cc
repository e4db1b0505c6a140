// Handlers of /v1/sandboxes/{id}/files[/raw|/list|/info|/exists|/mkdir]. Paths come in the
// `path` query parameter and are normalised here; Services runs the operation inside the
// sandbox as `user`.
#include <cerrno>

#include "api/handlers.h"
#include "api/json_fields.h"
#include "api/process_wire.h"  // sseEvent
#include "api/text.h"
#include "api/wire.h"
#include "common/io.h"

namespace declaw::api {

namespace {

constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr size_t kMaxDepthDigits = 9;  // keeps the parsed value far from overflow

struct FileTarget {
  std::string path;  // normalised
  std::string user;  // "user" | "root"
};

FileTarget fileTarget(const Query& query) {
  auto path = query.single("path");
  if (!path) throw badRequest("query parameter 'path' is required");
  return {normaliseSandboxPath(*path), validateUser(query.single("user").value_or("user"))};
}

uint32_t listDepth(const Query& query, const Limits& limits) {
  auto text = query.single("depth");
  if (!text) return 1;
  const bool digits = !text->empty() && text->size() <= kMaxDepthDigits &&
                      text->find_first_not_of("0123456789") == std::string::npos;
  const uint64_t depth = digits ? std::stoull(*text) : 0;
  if (depth < 1 || depth > limits.max_list_depth) {
    throw badRequest("'depth' must be an integer between 1 and " +
                     std::to_string(limits.max_list_depth));
  }
  return static_cast<uint32_t>(depth);
}

// A directory watch as Server-Sent Events: start, the changes, then end.
class WatchEventSource : public BodySource {
 public:
  WatchEventSource(std::string path, std::unique_ptr<DirWatch> watch)
      : path_(std::move(path)), watch_(std::move(watch)) {}

  std::string keepAlive() const override { return std::string(kSseKeepAlive); }

  std::optional<std::string> next(std::chrono::milliseconds idle) override {
    if (!started_) {
      started_ = true;
      return sseEvent("start", {{"path", path_}});
    }
    if (ended_) return std::nullopt;
    auto event = watch_->next(idle);
    if (!event) return std::string();
    switch (event->kind) {
      case WatchEvent::Kind::kChange:
        return sseEvent("fs", {{"type", event->type}, {"name", event->name}});
      case WatchEvent::Kind::kLost:
        return sseEvent("lost", {{"reason", "overflow"}});
      case WatchEvent::Kind::kEnd:
        break;
    }
    ended_ = true;
    return sseEvent("end", {{"reason", event->reason}, {"message", event->message}});
  }

 private:
  std::string path_;
  std::unique_ptr<DirWatch> watch_;
  bool started_ = false;
  bool ended_ = false;
};

// Creates or truncates the file (parents too), writes the bytes, and describes the result.
FileEntry writeWholeFile(const Context& ctx, const FileTarget& target, std::string_view bytes) {
  UniqueFd fd =
      unwrap(ctx.services.openForWrite(ctx.caller, ctx.sandbox_id, target.path, target.user));
  unwrap(writeAll(fd.get(), bytes));
  return unwrap(ctx.services.statPath(ctx.caller, ctx.sandbox_id, target.path, target.user));
}

}  // namespace

Response readRawFile(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  OpenedFile opened =
      unwrap(ctx.services.openForRead(ctx.caller, ctx.sandbox_id, target.path, target.user));
  Response response;
  response.content_type = kOctetStream;
  response.file = std::move(opened.fd);
  response.file_size = opened.size;
  return response;
}

Response writeRawFileBuffered(const Context& ctx) {
  // Router::handle() already held the body to max_upload_bytes.
  const FileTarget target = fileTarget(ctx.query);
  return jsonResponse(kStatusOk, toJson(writeWholeFile(ctx, target, ctx.request.body)));
}

Response readTextFile(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  OpenedFile opened =
      unwrap(ctx.services.openForRead(ctx.caller, ctx.sandbox_id, target.path, target.user));
  const std::string too_large = "file is larger than " +
                                std::to_string(ctx.limits.max_text_read_bytes) +
                                " bytes; read it with GET .../files/raw";
  if (opened.size > ctx.limits.max_text_read_bytes) throw tooLarge(too_large);
  // The size was a snapshot: the file may grow while we read, so the cap applies again here.
  auto bytes = readAll(opened.fd.get(), ctx.limits.max_text_read_bytes);
  if (!bytes && bytes.error().code == E2BIG) throw tooLarge(too_large);
  nlohmann::json out = {{"path", target.path}};
  putBytes(out, "content", unwrap(std::move(bytes)));
  return jsonResponse(kStatusOk, out);
}

Response writeTextFile(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  const std::string content =
      parseFileContent(parseJsonObject(ctx.request.body, ctx.limits.max_json_body_bytes, false));
  return jsonResponse(kStatusOk, toJson(writeWholeFile(ctx, target, content)));
}

Response removeFile(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  if (target.path == "/") throw badRequest("'/' cannot be removed");
  unwrap(ctx.services.removePath(ctx.caller, ctx.sandbox_id, target.path, target.user));
  return noContent();
}

Response renameFile(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  const std::string new_path =
      parseNewPath(parseJsonObject(ctx.request.body, ctx.limits.max_json_body_bytes, false));
  return jsonResponse(kStatusOk,
                      toJson(unwrap(ctx.services.renamePath(ctx.caller, ctx.sandbox_id, target.path,
                                                            new_path, target.user))));
}

Response listDir(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  const uint32_t depth = listDepth(ctx.query, ctx.limits);
  nlohmann::json entries = nlohmann::json::array();
  for (const FileEntry& entry :
       unwrap(ctx.services.listDir(ctx.caller, ctx.sandbox_id, target.path, depth, target.user))) {
    entries.push_back(toJson(entry));
  }
  return jsonResponse(kStatusOk, {{"entries", entries}});
}

Response statFile(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  return jsonResponse(
      kStatusOk,
      toJson(unwrap(ctx.services.statPath(ctx.caller, ctx.sandbox_id, target.path, target.user))));
}

Response fileExists(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  auto entry = ctx.services.statPath(ctx.caller, ctx.sandbox_id, target.path, target.user);
  // ENOTDIR: a parent is a file, so the path does not exist either (as os.path.exists says).
  if (!entry && (entry.error().code == ENOENT || entry.error().code == ENOTDIR)) {
    // ENOENT also means an unknown sandbox, which is a 404, not a path that does not exist.
    unwrap(ctx.services.getSandbox(ctx.caller, ctx.sandbox_id));
    return jsonResponse(kStatusOk, {{"exists", false}});
  }
  unwrap(std::move(entry));
  return jsonResponse(kStatusOk, {{"exists", true}});
}

Response makeDir(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  const bool created =
      unwrap(ctx.services.makeDir(ctx.caller, ctx.sandbox_id, target.path, target.user));
  return jsonResponse(created ? kStatusCreated : kStatusOk, {{"created", created}});
}

Response watchDir(const Context& ctx) {
  const FileTarget target = fileTarget(ctx.query);
  const bool recursive = ctx.query.flag("recursive").value_or(false);
  auto watch = unwrap(
      ctx.services.watchDir(ctx.caller, ctx.sandbox_id, target.path, recursive, target.user));
  Response response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.stream = std::make_unique<WatchEventSource>(target.path, std::move(watch));
  return response;
}

Upload openUpload(const Context& ctx, uint64_t declared_size) {
  const FileTarget target = fileTarget(ctx.query);
  if (declared_size > ctx.limits.max_upload_bytes) {
    throw tooLarge("upload is larger than " + std::to_string(ctx.limits.max_upload_bytes) +
                   " bytes");
  }
  Upload upload;
  upload.sink =
      unwrap(ctx.services.openForWrite(ctx.caller, ctx.sandbox_id, target.path, target.user));
  upload.sandbox_id = ctx.sandbox_id;
  upload.path = target.path;
  upload.caller = ctx.caller;
  upload.user = target.user;
  return upload;
}

Response describeUpload(Services& services, const Limits& limits, const Upload& upload,
                        uint64_t bytes_written) {
  if (bytes_written > limits.max_upload_bytes) {
    throw tooLarge("upload is larger than " + std::to_string(limits.max_upload_bytes) + " bytes");
  }
  return jsonResponse(kStatusOk, toJson(unwrap(services.statPath(upload.caller, upload.sandbox_id,
                                                                 upload.path, upload.user))));
}

}  // namespace declaw::api
