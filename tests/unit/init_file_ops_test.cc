// declaw-init's file operations, run in-process on a scratch directory with the test's own
// credentials (the sandbox and the uid switch are covered by tests/integration/init_test).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>

#include "common/io.h"
#include "init_scratch_dir.h"
#include "runtime/init/file_ops.h"
#include "runtime/init/file_tree.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::runtime::init;

namespace {

using testing::ScratchDir;

FileOpRequest op(FileOpKind kind, const std::string& path) {
  FileOpRequest r;
  r.request_id = 9;
  r.kind = kind;
  r.path = path;
  return r;
}

void writeText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("kOpenWrite creates parents and the file with the requested mode; kOpenRead reads it") {
  ScratchDir dir;
  ::umask(0);
  FileOpRequest w = op(FileOpKind::kOpenWrite, dir / "a/b/c.txt");
  w.mode = 0640;
  auto wr = performFileOp(w);
  REQUIRE(wr.reply.error == 0);
  CHECK(wr.reply.request_id == 9);
  REQUIRE(writeAll(wr.fd.get(), "data").ok());
  wr.fd.reset();
  struct stat st {};
  REQUIRE(::stat((dir / "a/b/c.txt").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  auto rd = performFileOp(op(FileOpKind::kOpenRead, dir / "a/b/c.txt"));
  REQUIRE(rd.reply.error == 0);
  CHECK(rd.reply.value == 4);
  CHECK((::fcntl(rd.fd.get(), F_GETFL) & O_NONBLOCK) == 0);
  CHECK(*readAll(rd.fd.get(), 100) == "data");
  ::umask(022);
}

TEST_CASE("opening a FIFO, a directory or a device fails at once instead of blocking") {
  ScratchDir dir;
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  auto start = std::chrono::steady_clock::now();
  CHECK(performFileOp(op(FileOpKind::kOpenRead, dir / "fifo")).reply.error == EINVAL);
  int w = performFileOp(op(FileOpKind::kOpenWrite, dir / "fifo")).reply.error;
  CHECK((w == EINVAL || w == ENXIO));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(performFileOp(op(FileOpKind::kOpenRead, dir.path)).reply.error == EISDIR);
  CHECK(performFileOp(op(FileOpKind::kOpenRead, "/dev/null")).reply.error == EINVAL);
  CHECK(performFileOp(op(FileOpKind::kOpenRead, "not/absolute")).reply.error == EINVAL);
}

TEST_CASE("kRemove deletes a tree but not what its symlinks point to") {
  ScratchDir dir;
  REQUIRE(::mkdir((dir / "keep").c_str(), 0755) == 0);
  writeText(dir / "keep/precious", "x");
  REQUIRE(::mkdir((dir / "tree").c_str(), 0755) == 0);
  REQUIRE(::mkdir((dir / "tree/sub").c_str(), 0755) == 0);
  writeText(dir / "tree/sub/f", "y");
  REQUIRE(::symlink((dir / "keep").c_str(), (dir / "tree/dirlink").c_str()) == 0);
  REQUIRE(::symlink((dir / "keep/precious").c_str(), (dir / "tree/sub/filelink").c_str()) == 0);
  auto r = performFileOp(op(FileOpKind::kRemove, dir / "tree"));
  CHECK(r.reply.error == 0);
  CHECK_FALSE(exists(dir / "tree"));
  CHECK(exists(dir / "keep/precious"));
  // A symlink named directly is removed itself.
  REQUIRE(::symlink((dir / "keep").c_str(), (dir / "l").c_str()) == 0);
  CHECK(performFileOp(op(FileOpKind::kRemove, dir / "l")).reply.error == 0);
  CHECK(exists(dir / "keep/precious"));
  CHECK(performFileOp(op(FileOpKind::kRemove, "/")).reply.error == EINVAL);
  CHECK(performFileOp(op(FileOpKind::kRemove, dir / "keep/..")).reply.error == EINVAL);
  CHECK(performFileOp(op(FileOpKind::kRemove, dir / "missing")).reply.error == ENOENT);
}

TEST_CASE("kList walks to the requested depth, sorted, reporting symlinks unfollowed") {
  ScratchDir dir;
  REQUIRE(::mkdir((dir / "b").c_str(), 0755) == 0);
  REQUIRE(::mkdir((dir / "b/c").c_str(), 0755) == 0);
  writeText(dir / "b/c/deep", "z");
  writeText(dir / "a", "12");
  REQUIRE(::symlink("/", (dir / "s").c_str()) == 0);
  auto listAt = [&](uint32_t depth) {
    FileOpRequest r = op(FileOpKind::kList, dir.path + "/");
    r.depth = depth;
    auto res = performFileOp(r);
    REQUIRE(res.reply.error == 0);
    std::string data = *readAll(res.fd.get(), 1 << 20);
    CHECK(res.reply.value == static_cast<int64_t>(data.size()));
    std::vector<Entry> entries;
    REQUIRE(decodeEntries(data, entries));
    std::vector<std::string> rel;
    rel.reserve(entries.size());
    for (const auto& e : entries) rel.push_back(e.path.substr(dir.path.size()));
    return std::make_pair(rel, entries);
  };
  auto [one, entries] = listAt(1);
  CHECK(one == std::vector<std::string>{"/a", "/b", "/s"});
  CHECK(entries[0].size == 2);
  CHECK(entries[0].type == EntryType::kFile);
  CHECK(entries[1].type == EntryType::kDir);
  CHECK(entries[2].type == EntryType::kSymlink);
  CHECK(entries[2].symlink_target == "/");
  CHECK(listAt(0).first == one);
  CHECK(listAt(2).first == std::vector<std::string>{"/a", "/b", "/b/c", "/s"});
  CHECK(listAt(3).first == std::vector<std::string>{"/a", "/b", "/b/c", "/b/c/deep", "/s"});
  CHECK(performFileOp(op(FileOpKind::kList, dir / "a")).reply.error == ENOTDIR);
}

TEST_CASE("kMkdir reports created, existing, and blocked; kStat and kRename work on paths") {
  ScratchDir dir;
  CHECK(performFileOp(op(FileOpKind::kMkdir, dir / "x/y/")).reply.value == 1);
  CHECK(performFileOp(op(FileOpKind::kMkdir, dir / "x/y")).reply.value == 0);
  writeText(dir / "f", "");
  CHECK(performFileOp(op(FileOpKind::kMkdir, dir / "f")).reply.error == EEXIST);
  CHECK(performFileOp(op(FileOpKind::kMkdir, dir / "f/g")).reply.error == ENOTDIR);
  REQUIRE(::symlink("f", (dir / "l").c_str()) == 0);
  auto st = performFileOp(op(FileOpKind::kStat, dir / "l/"));
  Entry e;
  REQUIRE(decodeEntry(st.reply.payload, e));
  CHECK(e.name == "l");
  CHECK(e.type == EntryType::kSymlink);
  CHECK(e.symlink_target == "f");
  FileOpRequest mv = op(FileOpKind::kRename, dir / "x");
  mv.path2 = dir / "z";
  CHECK(performFileOp(mv).reply.error == 0);
  CHECK(exists(dir / "z/y"));
  mv.path2 = "relative";
  CHECK(performFileOp(mv).reply.error == EINVAL);
}

TEST_CASE("paths are trimmed and named as the API expects") {
  CHECK(trimTrailingSlashes("/a/b//") == "/a/b");
  CHECK(trimTrailingSlashes("/") == "/");
  CHECK(trimTrailingSlashes("///") == "/");
  CHECK(baseName("/a/b") == "b");
  CHECK(baseName("/") == "/");
}
