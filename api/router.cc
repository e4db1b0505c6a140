#include "api/router.h"

#include <new>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/handlers.h"
#include "api/paths.h"
#include "api/routes.h"

namespace declaw::api {

namespace {

// docs/api.md. Literal segments come before "{pid}" so ".../commands/stream" is not taken for a
// pid.
constexpr Route kRoutes[] = {
    {"GET", "/v1/health", getHealth},
    {"GET", "/metrics", daemonMetrics},
    {"GET", "/v1/sandboxes", listSandboxes},
    {"POST", "/v1/sandboxes", createSandbox},
    {"GET", "/v1/sandboxes/{id}", getSandbox},
    {"DELETE", "/v1/sandboxes/{id}", killSandbox},
    {"PATCH", "/v1/sandboxes/{id}/timeout", setSandboxTimeout},
    {"GET", "/v1/sandboxes/{id}/network", getSandboxNetwork},
    {"PATCH", "/v1/sandboxes/{id}/network", updateSandboxNetwork},
    {"POST", "/v1/sandboxes/{id}/pause", pauseSandbox},
    {"POST", "/v1/sandboxes/{id}/resume", resumeSandbox},
    {"GET", "/v1/sandboxes/{id}/metrics", sandboxMetrics},
    {"GET", "/v1/sandboxes/{id}/metrics/history", sandboxMetricsHistory},
    {"POST", "/v1/sandboxes/{id}/commands", runCommand},
    {"GET", "/v1/sandboxes/{id}/commands", listProcesses},
    {"POST", "/v1/sandboxes/{id}/commands/stream", streamCommand},
    {"GET", "/v1/sandboxes/{id}/commands/{pid}", getProcess},
    {"DELETE", "/v1/sandboxes/{id}/commands/{pid}", killProcess},
    {"GET", "/v1/sandboxes/{id}/commands/{pid}/stream", attachProcess},
    {"GET", "/v1/sandboxes/{id}/commands/{pid}/wait", waitProcess},
    {"POST", "/v1/sandboxes/{id}/commands/{pid}/signal", signalProcess},
    {"POST", "/v1/sandboxes/{id}/commands/{pid}/stdin", writeStdin},
    {"DELETE", "/v1/sandboxes/{id}/commands/{pid}/stdin", closeStdin},
    {"POST", "/v1/sandboxes/{id}/commands/{pid}/resize", resizePty},
    {"POST", "/v1/sandboxes/{id}/pty", createPty},
    {"GET", "/v1/sandboxes/{id}/files/raw", readRawFile},
    {"PUT", "/v1/sandboxes/{id}/files/raw", writeRawFileBuffered},
    {"GET", "/v1/sandboxes/{id}/files", readTextFile},
    {"POST", "/v1/sandboxes/{id}/files", writeTextFile},
    {"DELETE", "/v1/sandboxes/{id}/files", removeFile},
    {"PATCH", "/v1/sandboxes/{id}/files", renameFile},
    {"GET", "/v1/sandboxes/{id}/files/list", listDir},
    {"GET", "/v1/sandboxes/{id}/files/info", statFile},
    {"GET", "/v1/sandboxes/{id}/files/exists", fileExists},
    {"POST", "/v1/sandboxes/{id}/files/mkdir", makeDir},
    {"GET", "/v1/sandboxes/{id}/files/watch", watchDir},
    {"POST", "/v1/sandboxes/{id}/snapshots", snapshotSandbox},
    {"GET", "/v1/sandboxes/{id}/ports", listPorts},
    {"GET", "/v1/sandboxes/{id}/ports/{port}", getPort},
    {"POST", "/v1/sandboxes/{id}/ports/{port}", openPort},
    {"DELETE", "/v1/sandboxes/{id}/ports/{port}", closePort},
    {"GET", "/v1/templates", listTemplates},
    {"GET", "/v1/templates/{name}", getTemplate},
    {"PUT", "/v1/templates/{name}", importTemplateBuffered},
    {"DELETE", "/v1/templates/{name}", deleteTemplate},
    {"GET", "/v1/templates/{name}/archive", exportTemplate},
};

bool isTemplateUpload(const Route* route) {
  return route && route->handler == importTemplateBuffered;
}
bool isUploadRoute(const Route* route) {
  return route && (route->handler == writeRawFileBuffered || isTemplateUpload(route));
}

// A request matched to its route, with a valid sandbox id when the route names one.
struct Resolved {
  const Route* route = nullptr;
  Query query;
  std::string sandbox_id;
  std::string pid;
  std::string name;
};

// 404 for an unknown path or a malformed sandbox id, 405 (with Allow) for a wrong method.
// Throws ApiError(400) for a target that cannot be decoded.
std::variant<Resolved, Response> resolve(const Request& request) {
  Target target = parseTarget(request.target);
  RouteLookup lookup = findRoute(kRoutes, request.method, target.segments);
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (!lookup.route && lookup.allowed_methods.empty()) {
    return errorForStatus(kStatusNotFound, "no route for " + quoteInput(path));
  }
  if (!lookup.route) {
    Response response =
        errorForStatus(kStatusMethodNotAllowed, quoteInput(request.method, 16) +
                                                    " is not allowed on " + quoteInput(path) +
                                                    " (allowed: " + lookup.allowed_methods + ")");
    response.headers.emplace_back("Allow", lookup.allowed_methods);
    return response;
  }
  if (lookup.route->pattern.find("{id}") != std::string_view::npos &&
      !isValidSandboxId(lookup.sandbox_id)) {
    return errorForStatus(kStatusNotFound,
                          "sandbox " + quoteInput(lookup.sandbox_id) + " not found");
  }
  return Resolved{lookup.route, std::move(target.query), std::move(lookup.sandbox_id),
                  std::move(lookup.pid), std::move(lookup.name)};
}

// The JSON error for the exception being handled. Call only inside a catch block.
Response currentExceptionResponse(std::string_view sandbox_id) {
  try {
    throw;
  } catch (const ApiError& e) {
    return errorForStatus(e.status(), e.what(), sandbox_id);
  } catch (const nlohmann::json::parse_error& e) {
    return errorForStatus(kStatusBadRequest, std::string("malformed JSON: ") + e.what(),
                          sandbox_id);
  } catch (const nlohmann::json::type_error& e) {
    return errorForStatus(kStatusBadRequest, std::string("invalid JSON value: ") + e.what(),
                          sandbox_id);
  } catch (const nlohmann::json::out_of_range& e) {
    return errorForStatus(kStatusBadRequest, std::string("invalid JSON value: ") + e.what(),
                          sandbox_id);
  } catch (const std::bad_alloc&) {
    return errorForStatus(kStatusInternal, "out of memory", sandbox_id);
  } catch (const std::exception& e) {
    return errorForStatus(kStatusInternal, std::string("internal error: ") + e.what(), sandbox_id);
  } catch (...) {
    return errorForStatus(kStatusInternal, "internal error", sandbox_id);
  }
}

}  // namespace

Response Router::handle(const Caller& caller, const Request& request) {
  std::string sandbox_id;  // once known to be valid, every error names it
  try {
    auto resolved = resolve(request);
    if (auto* response = std::get_if<Response>(&resolved)) return counted(std::move(*response));
    Resolved& route = std::get<Resolved>(resolved);
    sandbox_id = route.sandbox_id;
    // The session enforces body limits too; the router does not rely on it.
    const uint64_t body_limit = isTemplateUpload(route.route) ? limits_.max_template_bytes
                                : isUploadRoute(route.route)  ? limits_.max_upload_bytes
                                                              : limits_.max_json_body_bytes;
    if (request.body.size() > body_limit) {
      throw tooLarge("request body is larger than " + std::to_string(body_limit) + " bytes");
    }
    const Context ctx{services_,   limits_,          caller,    request,
                      route.query, route.sandbox_id, route.pid, route.name};
    return counted(route.route->handler(ctx));
  } catch (...) {
    return counted(currentExceptionResponse(sandbox_id));
  }
}

Response Router::counted(Response response) {
  services_.countResponse(response.status);
  return response;
}

bool Router::isUpload(const std::string& method, const std::string& target) {
  if (method != "PUT") return false;
  try {
    return isUploadRoute(findRoute(kRoutes, method, parseTarget(target).segments).route);
  } catch (...) {
    return false;  // an undecodable target: handle() answers 400
  }
}

std::variant<Upload, Response> Router::beginUpload(const Caller& caller, const Request& request,
                                                   uint64_t declared_size) {
  std::string sandbox_id;
  try {
    auto resolved = resolve(request);
    if (auto* response = std::get_if<Response>(&resolved)) return std::move(*response);
    Resolved& route = std::get<Resolved>(resolved);
    if (!isUploadRoute(route.route)) {
      return errorForStatus(kStatusInternal, "beginUpload called for a request that is no upload");
    }
    sandbox_id = route.sandbox_id;
    const Context ctx{services_,   limits_,          caller,    request,
                      route.query, route.sandbox_id, route.pid, route.name};
    if (isTemplateUpload(route.route)) return openTemplateUpload(ctx, declared_size);
    return openUpload(ctx, declared_size);
  } catch (...) {
    return currentExceptionResponse(sandbox_id);
  }
}

Response Router::finishUpload(const Upload& upload, uint64_t bytes_written) {
  try {
    if (upload.import) {
      return counted(finishTemplateUpload(services_, limits_, upload, bytes_written));
    }
    return describeUpload(services_, limits_, upload, bytes_written);
  } catch (...) {
    return currentExceptionResponse(upload.sandbox_id);
  }
}

}  // namespace declaw::api
