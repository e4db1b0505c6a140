// Templates: list, inspect, delete, import (a streamed upload), export (a streamed download)
// and snapshots of sandboxes. docs/api.md "Templates".
#include <fcntl.h>
#include <unistd.h>

#include "api/handlers.h"
#include "api/template_wire.h"
#include "api/wire.h"
#include "common/io.h"

namespace declaw::api {

namespace {
constexpr const char* kTarContentType = "application/x-tar";

std::string tooLargeMessage(const Limits& limits) {
  return "an image archive may have at most " + std::to_string(limits.max_template_bytes) +
         " bytes (max_template_bytes)";
}

Response importFrom(Services& services, const Caller& caller, const ImportSpec& spec, int fd) {
  if (::lseek(fd, 0, SEEK_SET) != 0) throw apiErrorFrom(ErrnoError() << "rewind the upload");
  return jsonResponse(kStatusCreated, toJson(unwrap(services.importTemplate(caller, spec, fd))));
}
}  // namespace

Response listTemplates(const Context& ctx) {
  nlohmann::json list = nlohmann::json::array();
  for (const TemplateInfo& t : ctx.services.listTemplates(ctx.caller)) list.push_back(toJson(t));
  return jsonResponse(kStatusOk, {{"templates", list}});
}

Response getTemplate(const Context& ctx) {
  const std::string name = validateTemplateName(ctx.name);
  return jsonResponse(kStatusOk, toJson(unwrap(ctx.services.getTemplate(ctx.caller, name))));
}

Response deleteTemplate(const Context& ctx) {
  const std::string name = validateTemplateName(ctx.name);
  unwrap(ctx.services.deleteTemplate(ctx.caller, name));
  return noContent();
}

Response exportTemplate(const Context& ctx) {
  const std::string name = validateTemplateName(ctx.name);
  OpenedFile archive = unwrap(ctx.services.exportTemplate(ctx.caller, name));
  Response response;
  response.content_type = kTarContentType;
  response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + ".tar\"");
  response.file = std::move(archive.fd);
  response.file_size = archive.size;
  return response;
}

Response snapshotSandbox(const Context& ctx) {
  const ImportSpec spec = parseSnapshotSpec(bodyOf(ctx));
  return jsonResponse(
      kStatusCreated,
      toJson(unwrap(ctx.services.snapshotSandbox(ctx.caller, ctx.sandbox_id, spec))));
}

Response importTemplateBuffered(const Context& ctx) {
  const ImportSpec spec = parseImportSpec(ctx.name, ctx.query);
  UniqueFd spool = unwrap(ctx.services.openImportSpool(ctx.caller));
  unwrap(writeAll(spool.get(), ctx.request.body));
  return importFrom(ctx.services, ctx.caller, spec, spool.get());
}

Upload openTemplateUpload(const Context& ctx, uint64_t declared_size) {
  const ImportSpec spec = parseImportSpec(ctx.name, ctx.query);
  if (declared_size > ctx.limits.max_template_bytes) throw tooLarge(tooLargeMessage(ctx.limits));
  Upload upload;
  upload.spool = unwrap(ctx.services.openImportSpool(ctx.caller));
  int sink = ::fcntl(upload.spool.get(), F_DUPFD_CLOEXEC, 0);
  if (sink < 0) throw apiErrorFrom(ErrnoError() << "dup the upload's spool");
  upload.sink.reset(sink);
  upload.path = "/v1/templates/" + spec.name;
  upload.caller = ctx.caller;
  upload.max_bytes = ctx.limits.max_template_bytes;
  upload.import = spec;
  return upload;
}

Response finishTemplateUpload(Services& services, const Limits& limits, const Upload& upload,
                              uint64_t bytes_written) {
  if (bytes_written > limits.max_template_bytes) throw tooLarge(tooLargeMessage(limits));
  return importFrom(services, upload.caller, *upload.import, upload.spool.get());
}

}  // namespace declaw::api
