#include "api/errors.h"

#include <cerrno>
#include <nlohmann/json.hpp>

namespace declaw::api {

int statusForErrno(int err) {
  switch (err) {
    case ENOENT:
      return kStatusNotFound;
    case EPERM:
    case EACCES:
      return kStatusForbidden;
    case EINVAL:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
    case ENOTEMPTY:
    case EXDEV:
    case EBADF:
    case ENXIO:  // a FIFO without a reader, a device without a driver: not a regular file
    case EROFS:  // a read-only part of the sandbox (/usr)
      return kStatusBadRequest;
    case EEXIST:
    case EBUSY:       // a template in use, or a built-in one
    case EOPNOTSUPP:  // an export of a template that has no image of its own
    case ENOTCONN:    // internet access asked of a sandbox without a network link
    case ESRCH:       // the sandbox is not running
      return kStatusConflict;
    case ETIMEDOUT:
      return kStatusTimeout;
    case E2BIG:
    case EFBIG:
      return kStatusTooLarge;
    case EDQUOT:  // over a configured limit (sandboxes, ...)
    case EAGAIN:  // fork in the sandbox at its pids limit
    case ENOMEM:  // ... or at its memory limit
      return kStatusRateLimited;
    case ENOSPC:
      return kStatusNotEnoughSpace;
    case ENOSYS:
      return kStatusNotImplemented;
    default:
      return kStatusInternal;
  }
}

std::string_view codeForStatus(int status) {
  switch (status) {
    case kStatusBadRequest:
      return "invalid_argument";
    case kStatusForbidden:
      return "forbidden";
    case kStatusNotFound:
      return "not_found";
    case kStatusMethodNotAllowed:
      return "method_not_allowed";
    case kStatusTimeout:
      return "timeout";
    case kStatusConflict:
      return "conflict";
    case kStatusTooLarge:
      return "too_large";
    case kStatusRateLimited:
      return "rate_limited";
    case kStatusNotImplemented:
      return "not_implemented";
    case kStatusNotEnoughSpace:
      return "not_enough_space";
    default:
      return "internal";
  }
}

Response errorResponse(int status, std::string_view code, std::string_view message,
                       std::string_view sandbox_id) {
  nlohmann::json detail = {{"code", code}, {"message", message}};
  if (!sandbox_id.empty()) detail["sandbox_id"] = sandbox_id;
  Response response;
  response.status = status;
  // Messages may quote user input or file names that are not UTF-8: replace, never throw.
  response.body = nlohmann::json{{"error", detail}}.dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace);
  return response;
}

Response errorForStatus(int status, std::string_view message, std::string_view sandbox_id) {
  return errorResponse(status, codeForStatus(status), message, sandbox_id);
}

Response errorResponse(const Error& error, std::string_view sandbox_id) {
  return errorForStatus(statusForErrno(error.code), error.describe(), sandbox_id);
}

std::string quoteInput(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, max_bytes)) + "...'";
}

}  // namespace declaw::api
