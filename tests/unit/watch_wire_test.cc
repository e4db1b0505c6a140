// The records a directory watch's helper writes for the daemon (runtime/watch_wire.h): what the
// daemon accepts of them, since the helper runs as the sandbox's user.
#include "runtime/watch_wire.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace declaw::runtime;

namespace {

std::string rawRecord(uint32_t length, uint8_t kind, const std::string& name) {
  std::string out(4, '\0');
  std::memcpy(out.data(), &length, 4);
  out.push_back(static_cast<char>(kind));
  return out + name;
}

}  // namespace

TEST_CASE("watch records round-trip, one at a time, however the bytes arrive") {
  const std::vector<WatchRecord> records = {{WatchRecordKind::kCreate, "a.txt"},
                                            {WatchRecordKind::kWrite, "sub/dir/b"},
                                            {WatchRecordKind::kLost, ""},
                                            {WatchRecordKind::kChmod, "x"},
                                            {WatchRecordKind::kEndError, "more than 8 dirs"}};
  std::string bytes;
  for (const auto& r : records) bytes += encodeWatchRecord(r);
  // Fed a byte at a time: each record comes out once it is complete, not before.
  std::string buffer;
  std::vector<WatchRecord> got;
  for (char c : bytes) {
    buffer.push_back(c);
    WatchRecord r;
    WatchTake take = takeWatchRecord(buffer, r);
    REQUIRE(take != WatchTake::kMalformed);
    if (take == WatchTake::kRecord) got.push_back(r);
  }
  CHECK(got == records);
  CHECK(buffer.empty());
  CHECK(std::string(watchChangeName(WatchRecordKind::kRename)) == "rename");
  CHECK(std::string(watchChangeName(WatchRecordKind::kLost)).empty());
}

TEST_CASE("a record the daemon cannot trust is malformed, not passed on") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"zero length", rawRecord(0, 1, "")},
      {"over the bound", rawRecord(kMaxWatchRecordBytes + 1, 1, "a")},
      {"unknown kind", rawRecord(2, 9, "a")},
      {"kind zero", rawRecord(2, 0, "a")},
      {"absolute name", rawRecord(5, 1, "/etc")},
      {"dot-dot", rawRecord(6, 1, "a/../")},
      {"dot-dot alone", rawRecord(3, 3, "..")},
      {"dot component", rawRecord(4, 2, "./a")},
      {"empty component", rawRecord(5, 1, "a//b")},
      {"trailing slash", rawRecord(3, 1, "a/")},
      {"empty change name", rawRecord(1, 1, "")},
      {"NUL in the name", rawRecord(4, 1, std::string("a\0b", 3))},
      {"a name on lost", rawRecord(2, 10, "a")},
      {"a name on removed", rawRecord(2, 11, "a")},
  };
  for (const auto& [what, bytes] : cases) {
    INFO(what);
    std::string buffer = bytes;
    WatchRecord r;
    CHECK(takeWatchRecord(buffer, r) == WatchTake::kMalformed);
  }
  std::string partial = rawRecord(10, 1, "abc");  // says 10, has 4
  WatchRecord r;
  CHECK(takeWatchRecord(partial, r) == WatchTake::kNeedMore);
}
