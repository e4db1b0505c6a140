// The handlers behind the routes of docs/api.md. Each is a function of a Context: it validates,
// calls Services, and returns the Response. Bad input and Services errors are thrown as ApiError
// (see unwrap()); Router::handle() turns them into JSON errors with the request's sandbox id.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>

#include "api/errors.h"
#include "api/http_types.h"
#include "api/paths.h"
#include "api/services.h"

namespace declaw::api {

struct Context {
  Services& services;
  const Limits& limits;
  const Caller& caller;
  const Request& request;
  const Query& query;
  const std::string& sandbox_id;  // valid when the route has {id}, else empty
  const std::string& pid;         // the {pid} segment as sent (parsePid checks it)
  const std::string& name;        // the {name} or {port} segment as sent (checked by handlers)
};

using Handler = Response (*)(const Context&);

// A Services error as the ApiError of its errno (services.h table). The message is
// describe()'s, except for the errnos declawd uses for its own states (not running, paused,
// finished; over a limit; timed out; not built or switched off; without a network link), whose
// strerror text ("No such process", "Function not implemented") would mislead.
inline ApiError apiErrorFrom(const Error& error) {
  const bool own_state = error.code == ESRCH || error.code == EDQUOT || error.code == ETIMEDOUT ||
                         error.code == ENOSYS || error.code == ENOTCONN || error.code == EBUSY ||
                         error.code == EOPNOTSUPP;
  return ApiError(statusForErrno(error.code), own_state ? error.message : error.describe());
}
template <typename T>
T unwrap(Result<T> result) {
  if (!result) throw apiErrorFrom(result.error());
  return std::move(result).value();
}
inline void unwrap(const Result<void>& result) {
  if (!result) throw apiErrorFrom(result.error());
}

// 204 with no body and no Content-Type.
Response noContent();

// sandbox_handlers.cc
Response getHealth(const Context& ctx);
Response listSandboxes(const Context& ctx);
Response createSandbox(const Context& ctx);
Response getSandbox(const Context& ctx);
Response killSandbox(const Context& ctx);
Response setSandboxTimeout(const Context& ctx);
Response getSandboxNetwork(const Context& ctx);
Response updateSandboxNetwork(const Context& ctx);
Response runCommand(const Context& ctx);
Response pauseSandbox(const Context& ctx);
Response resumeSandbox(const Context& ctx);
Response sandboxMetrics(const Context& ctx);
Response sandboxMetricsHistory(const Context& ctx);
Response daemonMetrics(const Context& ctx);
// The body of a JSON request ({} when empty and `empty_is_object`).
nlohmann::json bodyOf(const Context& ctx, bool empty_is_object = false);

// process_handlers.cc
Response streamCommand(const Context& ctx);
Response createPty(const Context& ctx);
Response listProcesses(const Context& ctx);
Response getProcess(const Context& ctx);
Response attachProcess(const Context& ctx);
Response waitProcess(const Context& ctx);
Response killProcess(const Context& ctx);
Response signalProcess(const Context& ctx);
Response writeStdin(const Context& ctx);
Response closeStdin(const Context& ctx);
Response resizePty(const Context& ctx);
// A started background process: its ProcessInfo (runCommand with "background": true).
Response startBackground(const Context& ctx, const nlohmann::json& body);

// file_handlers.cc
Response readRawFile(const Context& ctx);
// PUT .../files/raw when the session buffered the body instead of streaming it.
Response writeRawFileBuffered(const Context& ctx);
Response readTextFile(const Context& ctx);
Response writeTextFile(const Context& ctx);
Response removeFile(const Context& ctx);
Response renameFile(const Context& ctx);
Response listDir(const Context& ctx);
Response statFile(const Context& ctx);
Response fileExists(const Context& ctx);
Response makeDir(const Context& ctx);
Response watchDir(const Context& ctx);

// port_handlers.cc
Response getPort(const Context& ctx);
Response openPort(const Context& ctx);
Response closePort(const Context& ctx);
Response listPorts(const Context& ctx);

// The two halves of a streamed raw upload (Router::beginUpload / finishUpload).
Upload openUpload(const Context& ctx, uint64_t declared_size);
Response describeUpload(Services& services, const Limits& limits, const Upload& upload,
                        uint64_t bytes_written);

// template_handlers.cc
Response listTemplates(const Context& ctx);
Response getTemplate(const Context& ctx);
Response deleteTemplate(const Context& ctx);
Response exportTemplate(const Context& ctx);
Response snapshotSandbox(const Context& ctx);
// PUT /v1/templates/{name} when the session buffered the body (tests, fuzzing).
Response importTemplateBuffered(const Context& ctx);
// The two halves of a streamed import.
Upload openTemplateUpload(const Context& ctx, uint64_t declared_size);
Response finishTemplateUpload(Services& services, const Limits& limits, const Upload& upload,
                              uint64_t bytes_written);

}  // namespace declaw::api
