// GET /v1/sandboxes a page at a time (api/list_paging.h): the token, the query, and paging
// over a listing that changes between requests.
#include <catch2/catch.hpp>

#include "api/errors.h"
#include "api/list_paging.h"

namespace declaw::api {
namespace {

SandboxInfo sandboxAt(int64_t started_s, const std::string& id, const std::string& state) {
  SandboxInfo info;
  info.sandbox_id = id;
  info.state = state;
  info.started_at = Clock::time_point(std::chrono::seconds(started_s));
  return info;
}

std::vector<std::string> idsOf(const ListPage& page) {
  std::vector<std::string> ids;
  for (const SandboxInfo& sandbox : page.sandboxes) ids.push_back(sandbox.sandbox_id);
  return ids;
}

ListQuery queryOf(const std::string& text) { return parseListQuery(Query::parse(text)); }

int statusOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST_CASE("a token decodes to the position it was made from", "[api][list]") {
  const ListCursor cursor{1767323045123456789, "sbx-0123456789ab"};
  const std::string token = encodeListToken(cursor);
  CHECK(decodeListToken(token) == cursor);
  // Nothing in it needs escaping in a query string, and it does not show the id in clear.
  CHECK(token.find_first_of("+/=&% ") == std::string::npos);
  CHECK(token.find("sbx-") == std::string::npos);
}

TEST_CASE("a token that was not made by the daemon is a 400 saying it is malformed",
          "[api][list]") {
  const std::string good = encodeListToken({42, "sbx-0123456789ab"});
  for (const std::string& bad :
       {std::string(), std::string("x"), std::string("!!!!"), good + "=", good.substr(1),
        good + "AAAA", std::string(200, 'A'),
        // Well-formed base64url of the wrong contents.
        std::string("MjpmOnNieC0wMTIzNDU2Nzg5YWI"), std::string("MTotNDI6c2J4LTAxMjM0NTY3ODlhYg"),
        std::string("MTo0MjpzYngtMDEy")}) {
    INFO(bad);
    try {
      (void)decodeListToken(bad);
      FAIL("accepted");
    } catch (const ApiError& e) {
      CHECK(e.status() == 400);
      CHECK(std::string(e.what()).find("'next_token' is malformed") != std::string::npos);
    }
  }
}

TEST_CASE("limit is 1 to 1000 and defaults to 1000", "[api][list]") {
  CHECK(queryOf("").limit == kMaxListLimit);
  CHECK(queryOf("limit=1").limit == 1);
  CHECK(queryOf("limit=1000").limit == 1000);
  for (const char* bad : {"limit=0", "limit=1001", "limit=-1", "limit=ten", "limit=", "limit=1e3",
                          "limit=00001", "limit=1&limit=2"}) {
    INFO(bad);
    CHECK(statusOf([&] { queryOf(bad); }) == 400);
  }
}

TEST_CASE("all is true or false", "[api][list]") {
  CHECK_FALSE(queryOf("").all);
  CHECK(queryOf("all=true").all);
  CHECK(queryOf("all=1").all);
  CHECK_FALSE(queryOf("all=false").all);
  CHECK(statusOf([&] { queryOf("all=yes"); }) == 400);
}

TEST_CASE("without a state only live sandboxes are listed; all=true or a state shows killed ones",
          "[api][list]") {
  const std::vector<SandboxInfo> listing = {
      sandboxAt(4, "sbx-000000000004", "killed"), sandboxAt(3, "sbx-000000000003", "paused"),
      sandboxAt(2, "sbx-000000000002", "creating"), sandboxAt(1, "sbx-000000000001", "running")};
  CHECK(idsOf(pageSandboxes(listing, queryOf(""))) ==
        std::vector<std::string>{"sbx-000000000003", "sbx-000000000002", "sbx-000000000001"});
  CHECK(idsOf(pageSandboxes(listing, queryOf("all=true"))).size() == 4);
  CHECK(idsOf(pageSandboxes(listing, queryOf("state=killed"))) ==
        std::vector<std::string>{"sbx-000000000004"});
  CHECK(idsOf(pageSandboxes(listing, queryOf("state=running&all=true"))) ==
        std::vector<std::string>{"sbx-000000000001"});
}

TEST_CASE("pages are newest first, ties broken by id, and the last page has no token",
          "[api][list]") {
  std::vector<SandboxInfo> listing = {
      sandboxAt(1, "sbx-00000000000a", "running"), sandboxAt(3, "sbx-00000000000b", "running"),
      sandboxAt(2, "sbx-00000000000c", "running"), sandboxAt(2, "sbx-00000000000d", "running"),
      sandboxAt(5, "sbx-00000000000e", "running")};
  ListQuery query = queryOf("limit=2");
  ListPage first = pageSandboxes(listing, query);
  CHECK(idsOf(first) == std::vector<std::string>{"sbx-00000000000e", "sbx-00000000000b"});
  REQUIRE(first.next_token);
  query.after = decodeListToken(*first.next_token);
  ListPage second = pageSandboxes(listing, query);
  CHECK(idsOf(second) == std::vector<std::string>{"sbx-00000000000d", "sbx-00000000000c"});
  REQUIRE(second.next_token);
  query.after = decodeListToken(*second.next_token);
  ListPage last = pageSandboxes(listing, query);
  CHECK(idsOf(last) == std::vector<std::string>{"sbx-00000000000a"});
  CHECK_FALSE(last.next_token);
  // Exactly a page's worth left: no token promising an empty page.
  CHECK_FALSE(pageSandboxes(listing, queryOf("limit=5")).next_token);
}

TEST_CASE("creates and kills between pages neither repeat nor skip a sandbox", "[api][list]") {
  std::vector<SandboxInfo> listing;
  for (int i = 1; i <= 6; ++i) {
    listing.push_back(sandboxAt(i, "sbx-00000000000" + std::to_string(i), "running"));
  }
  ListQuery query = queryOf("limit=2");
  ListPage first = pageSandboxes(listing, query);
  CHECK(idsOf(first) == std::vector<std::string>{"sbx-000000000006", "sbx-000000000005"});
  // Meanwhile: a new sandbox, the last one listed and the next one killed (and so not live).
  listing.push_back(sandboxAt(7, "sbx-000000000007", "running"));
  listing[4].state = "killed";
  listing[3].state = "killed";
  query.after = decodeListToken(*first.next_token);
  ListPage second = pageSandboxes(listing, query);
  CHECK(idsOf(second) == std::vector<std::string>{"sbx-000000000003", "sbx-000000000002"});
  query.after = decodeListToken(*second.next_token);
  CHECK(idsOf(pageSandboxes(listing, query)) == std::vector<std::string>{"sbx-000000000001"});
}

TEST_CASE("a token whose sandbox is gone still pages on from its position", "[api][list]") {
  const std::vector<SandboxInfo> listing = {sandboxAt(3, "sbx-000000000003", "running"),
                                            sandboxAt(1, "sbx-000000000001", "running")};
  ListQuery query = queryOf("");
  query.after = ListCursor{2'000'000'000, "sbx-000000000002"};
  CHECK(idsOf(pageSandboxes(listing, query)) == std::vector<std::string>{"sbx-000000000001"});
}

}  // namespace
}  // namespace declaw::api
