// declaw-init's directory watcher (runtime/init/dir_watch.h), run in-process on a scratch
// directory with the test's own credentials: the events it reports for real changes, its bound,
// and its end. The watch through the API, in a sandbox and as its user, is tests/python/
// test_watch.py.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "common/io.h"
#include "init_scratch_dir.h"
#include "runtime/init/dir_watch.h"
#include "runtime/init/file_tree.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::runtime::init;

namespace {

using testing::ScratchDir;

// Runs the watcher on a pipe in a thread; records() reads what it wrote so far.
struct RunningWatch {
  DirWatcher watcher;
  UniqueFd read_end, write_end;
  std::thread thread;
  std::string buffer;

  explicit RunningWatch(DirWatcher w) : watcher(std::move(w)) {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    read_end = UniqueFd(ends[0]);
    write_end = UniqueFd(ends[1]);
    REQUIRE(::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) == 0);
    thread = std::thread([this] { watcher.run(write_end.get()); });
  }
  ~RunningWatch() {
    read_end.reset();  // the watcher sees its reader gone and returns
    thread.join();
  }

  // Records until `done` says so or about 5 s passed.
  std::vector<WatchRecord> until(const std::function<bool(const std::vector<WatchRecord>&)>& done) {
    std::vector<WatchRecord> out;
    for (int i = 0; i < 500 && !done(out); ++i) {
      char chunk[4096];
      ssize_t n = ::read(read_end.get(), chunk, sizeof chunk);
      if (n > 0) buffer.append(chunk, static_cast<size_t>(n));
      WatchRecord r;
      while (takeWatchRecord(buffer, r) == WatchTake::kRecord) out.push_back(r);
      if (n <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return out;
  }
};

bool has(const std::vector<WatchRecord>& records, WatchRecordKind kind, const std::string& name) {
  return std::find(records.begin(), records.end(), WatchRecord{kind, name}) != records.end();
}

}  // namespace

TEST_CASE("a watch reports creates, writes, chmods, renames and removes by relative name") {
  ScratchDir dir;
  auto watcher = DirWatcher::open(dir.path, 1);
  REQUIRE(watcher.ok());
  RunningWatch watch(std::move(*watcher));
  std::ofstream(dir / "f") << "x";
  REQUIRE(::chmod((dir / "f").c_str(), 0600) == 0);
  REQUIRE(::rename((dir / "f").c_str(), (dir / "g").c_str()) == 0);
  REQUIRE(::unlink((dir / "g").c_str()) == 0);
  REQUIRE(::mkdir((dir / "sub").c_str(), 0755) == 0);
  std::ofstream(dir / "sub/inner") << "y";
  auto records = watch.until([](const auto& r) { return has(r, WatchRecordKind::kCreate, "sub"); });
  CHECK(has(records, WatchRecordKind::kCreate, "f"));
  CHECK(has(records, WatchRecordKind::kWrite, "f"));
  CHECK(has(records, WatchRecordKind::kChmod, "f"));
  CHECK(has(records, WatchRecordKind::kRename, "f"));
  CHECK(has(records, WatchRecordKind::kCreate, "g"));
  CHECK(has(records, WatchRecordKind::kRemove, "g"));
  CHECK_FALSE(has(records, WatchRecordKind::kCreate, "sub/inner"));  // not recursive
}

TEST_CASE("a recursive watch covers the tree and new directories, within its bound") {
  ScratchDir dir;
  REQUIRE(::mkdir((dir / "a").c_str(), 0755) == 0);
  REQUIRE(::mkdir((dir / "a/b").c_str(), 0755) == 0);
  // A symlink to a directory is not followed: the watch stays in the tree.
  REQUIRE(::symlink("/", (dir / "a/root").c_str()) == 0);
  SECTION("the tree at the start counts against the bound") {
    auto small = DirWatcher::open(dir.path, 2);
    REQUIRE_FALSE(small.ok());
    CHECK(small.error().code == E2BIG);
    CHECK(small.error().message.find("more than 2 directories") != std::string::npos);
  }
  SECTION("new directories are watched, with what they hold reported as created") {
    auto watcher = DirWatcher::open(dir.path, 5);
    REQUIRE(watcher.ok());
    CHECK(watcher->watchedDirs() == 3);
    RunningWatch watch(std::move(*watcher));
    std::ofstream(dir / "a/b/deep") << "1";
    REQUIRE(::mkdir((dir / "n").c_str(), 0755) == 0);
    REQUIRE(::mkdir((dir / "n/m").c_str(), 0755) == 0);
    std::ofstream(dir / "n/m/f") << "2";
    auto records =
        watch.until([](const auto& r) { return has(r, WatchRecordKind::kCreate, "n/m/f"); });
    CHECK(has(records, WatchRecordKind::kCreate, "a/b/deep"));
    CHECK(has(records, WatchRecordKind::kCreate, "n"));
    CHECK(has(records, WatchRecordKind::kCreate, "n/m"));
    CHECK(has(records, WatchRecordKind::kCreate, "n/m/f"));
    // Past the bound (5: the root, a, a/b, n, n/m): the watch ends with the reason.
    REQUIRE(::mkdir((dir / "over").c_str(), 0755) == 0);
    records = watch.until(
        [](const auto& r) { return !r.empty() && r.back().kind == WatchRecordKind::kEndError; });
    REQUIRE_FALSE(records.empty());
    CHECK(records.back().kind == WatchRecordKind::kEndError);
    CHECK(records.back().name.find("more than 5 directories") != std::string::npos);
  }
}

TEST_CASE("removing the watched directory ends the watch; a file or nothing cannot be watched") {
  ScratchDir dir;
  REQUIRE(::mkdir((dir / "w").c_str(), 0755) == 0);
  auto watcher = DirWatcher::open(dir / "w", 1);
  REQUIRE(watcher.ok());
  {
    RunningWatch watch(std::move(*watcher));
    REQUIRE(::rmdir((dir / "w").c_str()) == 0);
    auto records = watch.until(
        [](const auto& r) { return !r.empty() && r.back().kind == WatchRecordKind::kEndRemoved; });
    REQUIRE_FALSE(records.empty());
    CHECK(records.back().kind == WatchRecordKind::kEndRemoved);
  }
  std::ofstream(dir / "file") << "x";
  auto on_file = DirWatcher::open(dir / "file", 1);
  CHECK((!on_file.ok() && on_file.error().code == ENOTDIR));
  auto missing = DirWatcher::open(dir / "missing", 1);
  CHECK((!missing.ok() && missing.error().code == ENOENT));
}

TEST_CASE("an inotify overflow is reported as lost events, and unknown watches are ignored") {
  ScratchDir dir;
  auto watcher = DirWatcher::open(dir.path, 1);
  REQUIRE(watcher.ok());
  std::vector<WatchRecord> records;
  CHECK(watcher->handle(IN_Q_OVERFLOW, -1, "", records));
  CHECK(watcher->handle(IN_CREATE, 12345, "ghost", records));
  REQUIRE(records.size() == 1);
  CHECK(records[0].kind == WatchRecordKind::kLost);
}
