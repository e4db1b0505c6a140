// image/layer_entry.h: what a layer member may be, decided before anything touches the disk.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>

#include "image/layer_entry.h"
#include "runtime/rootfs.h"

using namespace declaw::image;

namespace {
RawMember member(std::string name, mode_t type = S_IFREG) {
  RawMember m;
  m.name = std::move(name);
  m.type = type;
  return m;
}
}  // namespace

TEST_CASE("member names are made relative and plain, and '..' or absolute ones are refused") {
  CHECK(*normalizeMemberPath("./usr//bin/") == "usr/bin");
  CHECK(*normalizeMemberPath("usr/./bin") == "usr/bin");
  CHECK(*normalizeMemberPath(".") == "");
  CHECK(*normalizeMemberPath("./") == "");
  CHECK(normalizeMemberPath("/etc/passwd").error().code == EINVAL);
  CHECK(normalizeMemberPath("a/../../b").error().code == EINVAL);
  CHECK(normalizeMemberPath("..").error().code == EINVAL);
  CHECK(normalizeMemberPath(std::string("a\0b", 3)).error().code == EINVAL);
  CHECK(normalizeMemberPath(std::string(256, 'x')).error().code == ENAMETOOLONG);
  CHECK(normalizeMemberPath(std::string(255, 'x')).ok());
  std::string deep;
  while (deep.size() <= kMaxMemberPathBytes) deep += "dir/";
  CHECK(normalizeMemberPath(deep).error().code == ENAMETOOLONG);
}

TEST_CASE("whiteouts and opaque markers name what they hide; AUFS bookkeeping is skipped") {
  auto wh = classifyMember(member("etc/.wh.motd"));
  REQUIRE(wh.ok());
  CHECK(wh->kind == EntryKind::kWhiteout);
  CHECK(wh->path == "etc/motd");
  auto top = classifyMember(member(".wh.bin"));
  REQUIRE(top.ok());
  CHECK(top->path == "bin");
  auto opq = classifyMember(member("./data/.wh..wh..opq"));
  REQUIRE(opq.ok());
  CHECK(opq->kind == EntryKind::kOpaque);
  CHECK(opq->path == "data");
  CHECK(classifyMember(member(".wh..wh.plnk/1")).ok());
  CHECK(classifyMember(member(".wh..wh.plnk"))->kind == EntryKind::kSkip);
  CHECK_FALSE(classifyMember(member("a/.wh.")).ok());
  CHECK_FALSE(classifyMember(member("a/.wh...")).ok());
  RawMember dev = member("gone", S_IFCHR);
  CHECK(classifyMember(dev)->kind == EntryKind::kWhiteout);  // overlayfs's own form
}

TEST_CASE("device nodes, sockets and odd roots are refused, naming the member") {
  RawMember mem = member("dev/mem", S_IFCHR);
  mem.rdev_major = 1;
  mem.rdev_minor = 1;
  auto r = classifyMember(mem);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("dev/mem") && Catch::Contains("device"));
  CHECK_FALSE(classifyMember(member("sda", S_IFBLK)).ok());
  CHECK_FALSE(classifyMember(member("s", S_IFSOCK)).ok());
  CHECK_FALSE(classifyMember(member("./", S_IFREG)).ok());
  CHECK(classifyMember(member("./", S_IFDIR))->path.empty());
}

TEST_CASE("hard links name an earlier member, never the root, themselves or outside") {
  RawMember link = member("bin/b");
  link.hardlink = "./bin/a";
  auto r = classifyMember(link);
  REQUIRE(r.ok());
  CHECK(r->kind == EntryKind::kHardlink);
  CHECK(r->link == "bin/a");
  link.hardlink = "../etc/shadow";
  CHECK_FALSE(classifyMember(link).ok());
  link.hardlink = "/etc/shadow";
  CHECK_FALSE(classifyMember(link).ok());
  link.hardlink = "bin/b";
  CHECK_FALSE(classifyMember(link).ok());
  link.hardlink = ".";
  CHECK_FALSE(classifyMember(link).ok());
}

TEST_CASE("a symlink's target is kept as written: it is resolved inside the sandbox") {
  RawMember s = member("etc/alt", S_IFLNK);
  s.symlink = "../../../../etc/shadow";
  auto r = classifyMember(s);
  REQUIRE(r.ok());
  CHECK(r->kind == EntryKind::kSymlink);
  CHECK(r->link == "../../../../etc/shadow");
  s.symlink = "";
  CHECK_FALSE(classifyMember(s).ok());
}

TEST_CASE(
    "overlay options name the layers by fd, top first, and turn off what snapshots cannot read") {
  CHECK(declaw::runtime::overlayOptions({12, 13, 7}, 20, 21) ==
        "lowerdir=/proc/self/fd/12:/proc/self/fd/13:/proc/self/fd/7,upperdir=/proc/self/fd/20,"
        "workdir=/proc/self/fd/21,redirect_dir=nofollow,metacopy=off,index=off");
}
