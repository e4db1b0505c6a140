// GET /v1/sandboxes a page at a time: the query (filters, limit, next_token) as a plain value,
// the page token, and the paging itself as a pure function over the registry's listing, so
// every rule here is unit-tested without a daemon.
//
// Order is newest first by (started_at, sandbox_id), a total order. A token names the last
// sandbox of its page by that key, not by an index, so sandboxes created or killed between two
// requests neither repeat nor skip others: a page holds those strictly after the token's key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/paths.h"
#include "api/services.h"

namespace declaw::api {

// The most sandboxes one page holds, and the default (the hosted API's).
constexpr uint32_t kMaxListLimit = 1000;

// Where a page ends: the key of its last sandbox.
struct ListCursor {
  int64_t started_ns = 0;  // started_at, nanoseconds since the epoch
  std::string sandbox_id;
  bool operator==(const ListCursor&) const = default;
};

struct ListQuery {
  // Empty: the live states (creating, running, paused), unless `all`.
  std::vector<std::string> states;
  bool all = false;  // every remembered sandbox, killed ones too
  StringMap metadata;
  uint32_t limit = kMaxListLimit;
  std::optional<ListCursor> after;  // from next_token
};

struct ListPage {
  std::vector<SandboxInfo> sandboxes;
  std::optional<std::string> next_token;  // absent on the last page
};

// The opaque token clients pass back: versioned, base64url without padding.
std::string encodeListToken(const ListCursor& cursor);
// ApiError(400) with a message saying the token is malformed, for anything encodeListToken
// did not make.
ListCursor decodeListToken(std::string_view token);

// state, all, metadata, limit and next_token of the query; ApiError(400) for a bad one.
ListQuery parseListQuery(const Query& query);

// The page of `listing` (any order) that `query` asks for.
ListPage pageSandboxes(std::vector<SandboxInfo> listing, const ListQuery& query);

}  // namespace declaw::api
