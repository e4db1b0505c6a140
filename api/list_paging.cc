#include "api/list_paging.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

#include "api/errors.h"
#include "api/text.h"

namespace declaw::api {

namespace {

// A token is "1:<started_ns>:<sandbox_id>" in base64url; the leading version lets a later
// daemon change the key and still refuse (not misread) an old token.
constexpr std::string_view kTokenVersion = "1:";
// Far longer than any token encodeListToken makes; longer ones are refused before decoding.
constexpr size_t kMaxTokenChars = 128;
constexpr size_t kMaxLimitDigits = 4;
constexpr std::array<std::string_view, 3> kLiveStates = {"creating", "running", "paused"};

int64_t startedNs(const SandboxInfo& sandbox) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(sandbox.started_at.time_since_epoch())
      .count();
}

// Newest first; among sandboxes started in the same nanosecond, the greater id first.
bool comesBefore(int64_t a_ns, const std::string& a_id, int64_t b_ns, const std::string& b_id) {
  if (a_ns != b_ns) return a_ns > b_ns;
  return a_id > b_id;
}

bool matchesFilters(const SandboxInfo& sandbox, const ListQuery& query) {
  auto in = [&](const auto& states) {
    return std::find(states.begin(), states.end(), sandbox.state) != states.end();
  };
  if (!query.states.empty() ? !in(query.states) : !query.all && !in(kLiveStates)) return false;
  return std::all_of(query.metadata.begin(), query.metadata.end(), [&](const auto& pair) {
    auto it = sandbox.metadata.find(pair.first);
    return it != sandbox.metadata.end() && it->second == pair.second;
  });
}

ApiError malformedToken() {
  return badRequest("'next_token' is malformed: pass back the next_token of a previous answer");
}

bool parseBool(const Query& query, std::string_view name) {
  auto text = query.single(name);
  if (!text) return false;
  if (*text == "true" || *text == "1") return true;
  if (*text == "false" || *text == "0") return false;
  throw badRequest("query parameter '" + std::string(name) + "' must be true or false, not " +
                   quoteInput(*text));
}

uint32_t parseLimit(const Query& query) {
  auto text = query.single("limit");
  if (!text) return kMaxListLimit;
  uint32_t limit = 0;
  const char* end = text->data() + text->size();
  auto [stop, ec] = std::from_chars(text->data(), end, limit);
  if (text->size() > kMaxLimitDigits || ec != std::errc() || stop != end || limit < 1 ||
      limit > kMaxListLimit) {
    throw badRequest("'limit' must be an integer between 1 and " + std::to_string(kMaxListLimit) +
                     ", not " + quoteInput(*text));
  }
  return limit;
}

}  // namespace

std::string encodeListToken(const ListCursor& cursor) {
  std::string token = base64Encode(std::string(kTokenVersion) + std::to_string(cursor.started_ns) +
                                   ":" + cursor.sandbox_id);
  // base64url (RFC 4648 section 5), unpadded: nothing in it needs escaping in a query.
  while (!token.empty() && token.back() == '=') token.pop_back();
  std::replace(token.begin(), token.end(), '+', '-');
  std::replace(token.begin(), token.end(), '/', '_');
  return token;
}

ListCursor decodeListToken(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenChars ||
      token.find_first_of("+/=") != std::string_view::npos) {
    throw malformedToken();
  }
  std::string standard(token);
  std::replace(standard.begin(), standard.end(), '-', '+');
  std::replace(standard.begin(), standard.end(), '_', '/');
  standard.append((4 - standard.size() % 4) % 4, '=');
  const std::optional<std::string> text = base64Decode(standard);
  if (!text || !text->starts_with(kTokenVersion)) throw malformedToken();
  const std::string_view rest = std::string_view(*text).substr(kTokenVersion.size());
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0) throw malformedToken();
  ListCursor cursor;
  const char* end = rest.data() + colon;
  auto [stop, ec] = std::from_chars(rest.data(), end, cursor.started_ns);
  if (ec != std::errc() || stop != end || cursor.started_ns < 0) throw malformedToken();
  cursor.sandbox_id = std::string(rest.substr(colon + 1));
  if (!isValidSandboxId(cursor.sandbox_id)) throw malformedToken();
  return cursor;
}

ListQuery parseListQuery(const Query& query) {
  ListQuery out;
  out.states = parseStateFilter(query.all("state"));
  out.all = parseBool(query, "all");
  out.metadata = parseMetadataFilter(query.single("metadata").value_or(""));
  out.limit = parseLimit(query);
  if (auto token = query.single("next_token")) out.after = decodeListToken(*token);
  return out;
}

ListPage pageSandboxes(std::vector<SandboxInfo> listing, const ListQuery& query) {
  std::erase_if(listing, [&](const SandboxInfo& sandbox) {
    if (!matchesFilters(sandbox, query)) return true;
    return query.after && !comesBefore(query.after->started_ns, query.after->sandbox_id,
                                       startedNs(sandbox), sandbox.sandbox_id);
  });
  std::sort(listing.begin(), listing.end(), [](const SandboxInfo& a, const SandboxInfo& b) {
    return comesBefore(startedNs(a), a.sandbox_id, startedNs(b), b.sandbox_id);
  });
  ListPage page;
  if (listing.size() > query.limit) {
    listing.resize(query.limit);
    const SandboxInfo& last = listing.back();
    page.next_token = encodeListToken({startedNs(last), last.sandbox_id});
  }
  page.sandboxes = std::move(listing);
  return page;
}

}  // namespace declaw::api
