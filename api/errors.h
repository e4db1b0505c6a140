// HTTP errors of the API: the errno -> status table of services.h, the JSON error body of
// docs/api.md, and ApiError, the exception handlers throw for bad input. ApiError never leaves
// the api/ layer: Router::handle() turns it (and any other exception) into a Response.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "api/http_types.h"
#include "common/result.h"

namespace declaw::api {

// The HTTP statuses the API answers with (docs/api.md, "Errors").
inline constexpr int kStatusOk = 200;
inline constexpr int kStatusCreated = 201;
inline constexpr int kStatusNoContent = 204;
inline constexpr int kStatusBadRequest = 400;
inline constexpr int kStatusForbidden = 403;
inline constexpr int kStatusNotFound = 404;
inline constexpr int kStatusMethodNotAllowed = 405;
inline constexpr int kStatusTimeout = 408;
inline constexpr int kStatusConflict = 409;
inline constexpr int kStatusTooLarge = 413;
inline constexpr int kStatusRateLimited = 429;
inline constexpr int kStatusInternal = 500;
inline constexpr int kStatusNotImplemented = 501;
inline constexpr int kStatusNotEnoughSpace = 507;

// The errno table of services.h: ENOENT -> 404, EACCES -> 403, ... anything else -> 500.
int statusForErrno(int err);

// The machine-readable code of a status: 404 -> "not_found". Unknown statuses -> "internal".
std::string_view codeForStatus(int status);

// {"error": {"code": ..., "message": ..., "sandbox_id": ...}}; sandbox_id only when not empty.
Response errorResponse(int status, std::string_view code, std::string_view message,
                       std::string_view sandbox_id = {});
// The same with the code that belongs to the status.
Response errorForStatus(int status, std::string_view message, std::string_view sandbox_id = {});
// A Services error: status from its errno, message from Error::describe().
Response errorResponse(const Error& error, std::string_view sandbox_id = {});

// Thrown by parsers and handlers for a request that cannot be served; caught by the Router.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

inline ApiError badRequest(const std::string& message) {
  return ApiError(kStatusBadRequest, message);
}
inline ApiError notFound(const std::string& message) { return ApiError(kStatusNotFound, message); }
inline ApiError tooLarge(const std::string& message) { return ApiError(kStatusTooLarge, message); }
inline ApiError notImplemented(const std::string& message) {
  return ApiError(kStatusNotImplemented, message);
}

// User input quoted for an error message: at most max_bytes, then "...".
std::string quoteInput(std::string_view text, size_t max_bytes = 128);

}  // namespace declaw::api
