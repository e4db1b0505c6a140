// Targets, queries, filters and sandbox path normalisation (api/paths.h).
#include <catch2/catch.hpp>

#include "api/errors.h"
#include "api/paths.h"

namespace declaw::api {
namespace {

int statusOf(void (*action)()) {
  try {
    action();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST_CASE("percent-decoding turns escapes into bytes and refuses broken ones", "[api][paths]") {
  CHECK(percentDecode("a%20b%2fc", false) == "a b/c");
  CHECK(percentDecode("a+b", false) == "a+b");
  CHECK(percentDecode("a+b", true) == "a b");
  CHECK(percentDecode("%00", false) == std::string("\0", 1));
  CHECK(percentDecode("%ff", false) == "\xff");
  CHECK_FALSE(percentDecode("%", false));
  CHECK_FALSE(percentDecode("%4", false));
  CHECK_FALSE(percentDecode("%zz", false));
}

TEST_CASE("a target splits into decoded segments and a query", "[api][paths]") {
  Target target = parseTarget("/v1/sandboxes/a%62c/files?path=%2Ftmp%2Fx&user=root#frag");
  CHECK(target.segments == std::vector<std::string>{"v1", "sandboxes", "abc", "files"});
  CHECK(target.query.single("path") == "/tmp/x");
  CHECK(target.query.single("user") == "root");
  CHECK_FALSE(target.query.single("depth"));
  CHECK(parseTarget("/").segments.empty());
  CHECK(parseTarget("/v1/").segments == std::vector<std::string>{"v1"});
  CHECK(parseTarget("/a//b").segments == std::vector<std::string>{"a", "", "b"});
}

TEST_CASE("a query keeps repeated values and refuses a repeated single value", "[api][paths]") {
  Query query = Query::parse("state=running&&state=killed&flag&x=1");
  CHECK(query.all("state") == std::vector<std::string>{"running", "killed"});
  CHECK(query.single("flag") == "");
  CHECK(query.single("x") == "1");
  CHECK_THROWS_AS(query.single("state"), ApiError);
  CHECK_THROWS_AS(Query::parse("a=%z"), ApiError);
}

TEST_CASE("a flag parameter is true, 1, false or 0, absent as nullopt", "[api][paths]") {
  Query query = Query::parse("a=true&b=1&c=false&d=0&e=yes&f=");
  CHECK(query.flag("a") == true);
  CHECK(query.flag("b") == true);
  CHECK(query.flag("c") == false);
  CHECK(query.flag("d") == false);
  CHECK_FALSE(query.flag("absent").has_value());
  CHECK_THROWS_AS(query.flag("e"), ApiError);
  CHECK_THROWS_AS(query.flag("f"), ApiError);
  CHECK_THROWS_AS(Query::parse("a=1&a=0").flag("a"), ApiError);
}

TEST_CASE("a sandbox id is sbx- and twelve lowercase letters or digits", "[api][paths]") {
  CHECK(isValidSandboxId("sbx-0123456789ab"));
  CHECK(isValidSandboxId("sbx-zzzzzzzzzzzz"));
  CHECK_FALSE(isValidSandboxId("sbx-0123456789a"));
  CHECK_FALSE(isValidSandboxId("sbx-0123456789abc"));
  CHECK_FALSE(isValidSandboxId("sbx-0123456789aB"));
  CHECK_FALSE(isValidSandboxId("abc-0123456789ab"));
  CHECK_FALSE(isValidSandboxId(""));
}

TEST_CASE("sandbox paths become absolute and lexically clean", "[api][paths]") {
  CHECK(normaliseSandboxPath("/") == "/");
  CHECK(normaliseSandboxPath("/a/b") == "/a/b");
  CHECK(normaliseSandboxPath("~") == "/home/user");
  CHECK(normaliseSandboxPath("~/") == "/home/user");
  CHECK(normaliseSandboxPath("~/x/../y") == "/home/user/y");
  CHECK(normaliseSandboxPath("~root") == "/home/user/~root");
  CHECK(normaliseSandboxPath("notes.txt") == "/home/user/notes.txt");
  CHECK(normaliseSandboxPath(".") == "/home/user");
  CHECK(normaliseSandboxPath("..") == "/home");
  CHECK(normaliseSandboxPath("a/./b//c/") == "/home/user/a/b/c");
  CHECK(normaliseSandboxPath("/a/b/../../..") == "/");
}

TEST_CASE("'..' never climbs above the sandbox root", "[api][paths]") {
  CHECK(normaliseSandboxPath("/../../etc/passwd") == "/etc/passwd");
  CHECK(normaliseSandboxPath("../../../../../etc") == "/etc");
  CHECK(normaliseSandboxPath("/..") == "/");
}

TEST_CASE("empty, NUL-holding and over-long paths are refused naming the field", "[api][paths]") {
  CHECK_THROWS_WITH(normaliseSandboxPath("", "new_path"), Catch::Contains("'new_path'"));
  CHECK_THROWS_WITH(normaliseSandboxPath(std::string("/a\0b", 4)), Catch::Contains("NUL"));
  CHECK_THROWS_AS(normaliseSandboxPath("/" + std::string(4095, 'a')), ApiError);
  CHECK(normaliseSandboxPath("/" + std::string(4094, 'a')).size() == 4095);
  // Relative names grow by the home directory; the result must fit too.
  CHECK_THROWS_AS(normaliseSandboxPath(std::string(4090, 'a')), ApiError);
  CHECK(statusOf([] { (void)normaliseSandboxPath(""); }) == 400);
}

TEST_CASE("the user is user or root", "[api][paths]") {
  CHECK(validateUser("user") == "user");
  CHECK(validateUser("root") == "root");
  CHECK_THROWS_WITH(validateUser("Root"), Catch::Contains("'user'"));
  CHECK_THROWS_AS(validateUser(""), ApiError);
}

TEST_CASE("the metadata filter is k=v pairs joined by &, each percent-decoded", "[api][paths]") {
  CHECK(parseMetadataFilter("").empty());
  CHECK(parseMetadataFilter("a=1&b=2") == StringMap{{"a", "1"}, {"b", "2"}});
  CHECK(parseMetadataFilter("k%3D=v%26w&e=") == StringMap{{"k=", "v&w"}, {"e", ""}});
  CHECK(parseMetadataFilter("a=b=c") == StringMap{{"a", "b=c"}});
  CHECK_THROWS_AS(parseMetadataFilter("novalue"), ApiError);
  CHECK_THROWS_AS(parseMetadataFilter("=v"), ApiError);
}

TEST_CASE("the state filter accepts repeated and comma-separated states", "[api][paths]") {
  CHECK(parseStateFilter({}).empty());
  CHECK(parseStateFilter({"running,killed", "creating"}) ==
        std::vector<std::string>{"running", "killed", "creating"});
  CHECK(parseStateFilter({""}).empty());
  CHECK(parseStateFilter({"paused"}) == std::vector<std::string>{"paused"});
  CHECK_THROWS_WITH(parseStateFilter({"running,asleep"}), Catch::Contains("'state'"));
}

}  // namespace
}  // namespace declaw::api
