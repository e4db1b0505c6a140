// The file API's operations, performed by declaw-init's helpers inside real sandboxes: paths are
// resolved by the kernel in the sandbox root, as the requesting user. Each escape test performs
// the attack and checks that it failed and that nothing changed.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "init_test_support.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::init_test;

namespace {

constexpr uint32_t kUser = 1000;

const char* const kSandboxPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "user:x:1000:1000:user:/home/user:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

FileOpRequest op(FileOpKind kind, const std::string& path, uint32_t uid = kUser) {
  FileOpRequest r;
  r.kind = kind;
  r.path = path;
  r.uid = uid;
  r.gid = uid;
  return r;
}

// The contents behind a kOpenRead reply (its fd), or "" with the errno left in the reply.
std::string readReply(ReplyWithFds& r) {
  if (r.reply.error != 0) return "";
  REQUIRE(r.fds.size() == 1);
  return readWhole(r.fds[0].get());
}

std::vector<Entry> listing(ReplyWithFds& r) {
  INFO("list: " << r.reply.message);
  REQUIRE(r.reply.error == 0);
  REQUIRE(r.fds.size() == 1);
  std::string data = readWhole(r.fds[0].get());
  CHECK(r.reply.value == static_cast<int64_t>(data.size()));
  std::vector<Entry> entries;
  REQUIRE(decodeEntries(data, entries));
  return entries;
}

}  // namespace

TEST_CASE("a file written through kOpenWrite reads back through kOpenRead and inside") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto w = sbx.fileOp(op(FileOpKind::kOpenWrite, "/home/user/new/dir/f.txt"));
  INFO(w.reply.message);
  REQUIRE(w.reply.error == 0);
  REQUIRE(w.fds.size() == 1);
  REQUIRE(writeAll(w.fds[0].get(), "hello from the host").ok());
  w.fds.clear();
  auto r = sbx.fileOp(op(FileOpKind::kOpenRead, "/home/user/new/dir/f.txt"));
  CHECK(r.reply.value == 19);
  CHECK(readReply(r) == "hello from the host");
  auto inside = sbx.run(
      "cat /home/user/new/dir/f.txt; echo; stat -c '%a %U:%G' "
      "/home/user/new/dir/f.txt /home/user/new");
  CHECK(inside.out == "hello from the host\n644 user:user\n755 user:user\n");
  // Rewriting truncates.
  auto again = sbx.fileOp(op(FileOpKind::kOpenWrite, "/home/user/new/dir/f.txt"));
  REQUIRE(again.reply.error == 0);
  REQUIRE(writeAll(again.fds[0].get(), "short").ok());
  again.fds.clear();
  auto reread = sbx.fileOp(op(FileOpKind::kOpenRead, "/home/user/new/dir/f.txt"));
  CHECK(readReply(reread) == "short");
}

TEST_CASE("kOpenRead and kOpenWrite refuse directories and FIFOs without blocking") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.run("mkfifo /home/user/fifo").exitCode() == 0);
  auto started = std::chrono::steady_clock::now();
  CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "/home/user/fifo")).reply.error == EINVAL);
  int write_error = sbx.fileOp(op(FileOpKind::kOpenWrite, "/home/user/fifo")).reply.error;
  CHECK((write_error == EINVAL || write_error == ENXIO));  // no reader: open itself refuses
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "/home/user")).reply.error == EISDIR);
  CHECK(sbx.fileOp(op(FileOpKind::kOpenWrite, "/home/user")).reply.error == EISDIR);
  CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "/dev/zero")).reply.error == EINVAL);
  CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "relative/path")).reply.error == EINVAL);
}

TEST_CASE("a symlink to /etc/passwd is not followed out of the sandbox") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.run("ln -s /etc/passwd /home/user/x && "
                  "ln -s ../../../../../../../../etc/passwd /home/user/rel && "
                  "ln -s ../../../../../../../../etc/shadow /home/user/shadow")
              .exitCode() == 0);
  for (uint32_t uid : {kUser, 0u}) {
    INFO("uid " << uid);
    for (const char* path :
         {"/home/user/x", "/home/user/rel", "/../../../../etc/passwd",
          "/home/user/../../../../../etc/passwd", "/proc/self/root/etc/passwd"}) {
      INFO(path);
      auto r = sbx.fileOp(op(FileOpKind::kOpenRead, path, uid));
      INFO(r.reply.message);
      CHECK(readReply(r) == kSandboxPasswd);
    }
    CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "/home/user/shadow", uid)).reply.error == ENOENT);
    CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "/etc/shadow", uid)).reply.error == ENOENT);
    // init's own root is reachable only through init, which is not dumpable.
    CHECK(sbx.fileOp(op(FileOpKind::kOpenRead, "/proc/1/root/etc/passwd", uid)).reply.error ==
          EACCES);
  }
}

TEST_CASE("kOpenWrite through a symlink cannot change a file the user may not write") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.run("ln -s /etc/passwd /home/user/w").exitCode() == 0);
  CHECK(sbx.fileOp(op(FileOpKind::kOpenWrite, "/home/user/w")).reply.error == EACCES);
  CHECK(sbx.fileOp(op(FileOpKind::kOpenWrite, "/root/x")).reply.error == EACCES);
  CHECK(sbx.fileOp(op(FileOpKind::kOpenWrite, "/usr/bin/declaw-x")).reply.error == EACCES);
  // Root writes into its own /usr (the overlay's upper), never the host's.
  const std::string in_usr = "/usr/bin/declaw-init-test-" + std::to_string(::getpid());
  CHECK(sbx.fileOp(op(FileOpKind::kOpenWrite, in_usr, 0)).reply.error == 0);
  CHECK(::access(in_usr.c_str(), F_OK) != 0);
  auto passwd = sbx.fileOp(op(FileOpKind::kOpenRead, "/etc/passwd"));
  CHECK(readReply(passwd) == kSandboxPasswd);
  // As namespace root the same write lands on the sandbox's own /etc/passwd, nowhere else.
  auto w = sbx.fileOp(op(FileOpKind::kOpenWrite, "/root/owned", 0));
  REQUIRE(w.reply.error == 0);
  CHECK(sbx.run("stat -c %U:%G /root/owned", 0, true).out == "root:root\n");
}

TEST_CASE("kRemove removes a tree without following the symlinks inside it") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.run("mkdir -p ~/keep ~/tree/a/b/c && echo precious > ~/keep/file && "
                  "touch ~/tree/f ~/tree/a/b/c/g && ln -s /home/user/keep ~/tree/dirlink && "
                  "ln -s /home/user/keep/file ~/tree/a/filelink && ln -s /etc ~/tree/etc")
              .exitCode() == 0);
  auto r = sbx.fileOp(op(FileOpKind::kRemove, "/home/user/tree"));
  INFO(r.reply.message);
  CHECK(r.reply.error == 0);
  auto after = sbx.run(
      "test -e ~/tree && echo TREE; cat ~/keep/file; test -f /etc/passwd && "
      "echo etc-ok");
  CHECK(after.out == "precious\netc-ok\n");
  CHECK(sbx.fileOp(op(FileOpKind::kRemove, "/home/user/tree")).reply.error == ENOENT);
  CHECK(sbx.fileOp(op(FileOpKind::kRemove, "/", 0)).reply.error == EINVAL);
  CHECK(sbx.fileOp(op(FileOpKind::kRemove, "/home/user/..", 0)).reply.error == EINVAL);
  CHECK(sbx.fileOp(op(FileOpKind::kRemove, "/home/user/keep/..", 0)).reply.error == EINVAL);
  CHECK(sbx.fileOp(op(FileOpKind::kRemove, "/etc/passwd")).reply.error == EACCES);
  CHECK(sbx.run("test -d /home/user && test -f /etc/passwd && echo ok").out == "ok\n");
}

TEST_CASE("kList to depth 2 lists sorted entries and does not follow symlinks") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.run("mkdir -p ~/l/a/deeper ~/l/b && printf 12345 > ~/l/f && touch ~/l/a/x "
                  "~/l/a/deeper/y && ln -s /etc ~/l/s && ln -s l ~/to-l")
              .exitCode() == 0);
  FileOpRequest req = op(FileOpKind::kList, "/home/user/l/");
  req.depth = 2;
  auto r = sbx.fileOp(req);
  std::vector<Entry> entries = listing(r);
  std::vector<std::string> paths;
  paths.reserve(entries.size());
  for (const auto& e : entries) paths.push_back(e.path);
  CHECK(paths == std::vector<std::string>{"/home/user/l/a", "/home/user/l/a/deeper",
                                          "/home/user/l/a/x", "/home/user/l/b", "/home/user/l/f",
                                          "/home/user/l/s"});
  REQUIRE(entries.size() == 6);
  CHECK(entries[0].type == EntryType::kDir);
  CHECK(entries[0].name == "a");
  CHECK(entries[4].type == EntryType::kFile);
  CHECK(entries[4].size == 5);
  CHECK(entries[4].uid == 1000);
  CHECK(entries[4].mode == 0644);
  CHECK(entries[5].type == EntryType::kSymlink);
  CHECK(entries[5].symlink_target == "/etc");
  // depth 1, reached through a symlink at the top
  FileOpRequest one = op(FileOpKind::kList, "/home/user/to-l");
  one.depth = 1;
  auto r1 = sbx.fileOp(one);
  CHECK(listing(r1).size() == 4);
  CHECK(sbx.fileOp(op(FileOpKind::kList, "/home/user/l/f")).reply.error == ENOTDIR);
  CHECK(sbx.fileOp(op(FileOpKind::kList, "/root")).reply.error == EACCES);
}

TEST_CASE("kMkdir, kStat and kRename do what they say") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  CHECK(sbx.fileOp(op(FileOpKind::kMkdir, "/home/user/m/n/o")).reply.value == 1);
  CHECK(sbx.fileOp(op(FileOpKind::kMkdir, "/home/user/m/n/o")).reply.value == 0);
  REQUIRE(sbx.run("touch ~/file && ln -s file ~/link").exitCode() == 0);
  CHECK(sbx.fileOp(op(FileOpKind::kMkdir, "/home/user/file")).reply.error == EEXIST);
  CHECK(sbx.fileOp(op(FileOpKind::kMkdir, "/etc/nope")).reply.error == EACCES);

  auto st = sbx.fileOp(op(FileOpKind::kStat, "/home/user/link"));
  Entry e;
  REQUIRE(decodeEntry(st.reply.payload, e));
  CHECK(e.type == EntryType::kSymlink);
  CHECK(e.name == "link");
  CHECK(e.symlink_target == "file");
  CHECK(sbx.fileOp(op(FileOpKind::kStat, "/nope")).reply.error == ENOENT);

  FileOpRequest mv = op(FileOpKind::kRename, "/home/user/m");
  mv.path2 = "/home/user/moved";
  CHECK(sbx.fileOp(mv).reply.error == 0);
  CHECK(sbx.run("test -d ~/moved/n/o && test ! -e ~/m && echo ok").out == "ok\n");
  FileOpRequest out = op(FileOpKind::kRename, "/home/user/moved");
  out.path2 = "/etc/moved";
  CHECK(sbx.fileOp(out).reply.error == EACCES);
}
