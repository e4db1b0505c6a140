// image/ against the real filesystem, as root (chown, mknod of whiteouts, trusted.* xattrs):
// the layer walker writes overlayfs's form and refuses what it must, a snapshot's diff reads an
// upper dir back as an OCI layer, and the store publishes, pins and collects. Every test works
// in a temp dir of its own, removed afterwards.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/fs_at.h"
#include "common/io.h"
#include "image/image_archive.h"
#include "image/layer_diff.h"
#include "image/store.h"

using namespace declaw;
using namespace declaw::image;

namespace {

void requireRoot() {
  if (::geteuid() != 0)
    FAIL("image_test must run as root: it chowns, mknods whiteouts and sets trusted.* xattrs");
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/declaw-image-test.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path_ = pattern;
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  ~TempDir() {
    fd_.reset();
    auto [parent, name] = splitParent(path_);
    UniqueFd p(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    (void)removeTreeAt(p.get(), name);
  }
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
  UniqueFd fd_;
};

// A tar in memory, built with libarchive, member by member.
class TarBuilder {
 public:
  struct Member {
    std::string name;
    mode_t type = AE_IFREG;
    mode_t perm = 0644;
    std::string data;
    std::string link;  // symlink target or hardlink target
    bool hard = false;
    uid_t uid = 0;
    gid_t gid = 0;
    dev_t rdev = 0;
    std::map<std::string, std::string> xattrs;
    time_t mtime = 1700000000;
  };
  TarBuilder& add(Member m) {
    members_.push_back(std::move(m));
    return *this;
  }
  static Member member(std::string name, mode_t type, mode_t perm, uid_t uid = 0) {
    Member m;
    m.name = std::move(name);
    m.type = type;
    m.perm = perm;
    m.uid = uid;
    m.gid = uid;
    return m;
  }
  TarBuilder& file(std::string name, std::string data, uid_t uid = 0, mode_t perm = 0644) {
    Member m = member(std::move(name), AE_IFREG, perm, uid);
    m.data = std::move(data);
    return add(std::move(m));
  }
  TarBuilder& dir(std::string name, mode_t perm = 0755, uid_t uid = 0) {
    return add(member(std::move(name), AE_IFDIR, perm, uid));
  }
  TarBuilder& symlink(std::string name, std::string target) {
    Member m = member(std::move(name), AE_IFLNK, 0777);
    m.link = std::move(target);
    return add(std::move(m));
  }
  TarBuilder& hardlink(std::string name, std::string target) {
    Member m = member(std::move(name), AE_IFREG, 0644);
    m.link = std::move(target);
    m.hard = true;
    return add(std::move(m));
  }
  std::string bytes() const {
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    std::vector<char> buffer(64 << 20);
    size_t used = 0;
    REQUIRE(archive_write_open_memory(a, buffer.data(), buffer.size(), &used) == ARCHIVE_OK);
    for (const Member& m : members_) {
      archive_entry* e = archive_entry_new();
      archive_entry_set_pathname(e, m.name.c_str());
      archive_entry_set_filetype(e, m.type);
      archive_entry_set_perm(e, m.perm);
      archive_entry_set_uid(e, m.uid);
      archive_entry_set_gid(e, m.gid);
      archive_entry_set_mtime(e, m.mtime, 0);
      if (m.type == AE_IFLNK) archive_entry_set_symlink(e, m.link.c_str());
      if (m.hard) archive_entry_set_hardlink(e, m.link.c_str());
      if (m.type == AE_IFCHR || m.type == AE_IFBLK) archive_entry_set_rdev(e, m.rdev);
      for (const auto& [k, v] : m.xattrs)
        archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
      archive_entry_set_size(e, m.hard ? 0 : static_cast<la_int64_t>(m.data.size()));
      REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
      if (!m.data.empty()) archive_write_data(a, m.data.data(), m.data.size());
      archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return std::string(buffer.data(), used);
  }

 private:
  std::vector<Member> members_;
};

UniqueFd memFile(const std::string& bytes) {
  UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  REQUIRE(writeAll(fd.get(), bytes).ok());
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

UnpackBudget bigBudget() { return {1ull << 30, 100000, 2ull << 30}; }

Result<LayerUnpackResult> unpackInto(const TempDir& dir, const std::string& tar,
                                     UnpackBudget budget = bigBudget()) {
  ::mkdirat(dir.fd(), "root", 0755);
  UniqueFd root(::openat(dir.fd(), "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd blob = memFile(tar);
  return unpackLayerBlob(blob.get(), root.get(), budget);
}

struct stat lstatOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

std::string xattr(const std::string& path, const char* name) {
  char value[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof value);
  return n < 0 ? "<none>" : std::string(value, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("a layer unpacks with owners, modes, links and times, in overlayfs's form") {
  requireRoot();
  TempDir dir;
  TarBuilder tar;
  tar.dir("./").dir("home").dir("home/user", 0700, 1000).file("home/user/mine", "m", 1000, 0600);
  tar.file("bin/suid", "#!", 0, 04755)
      .symlink("bin/sh", "busybox")
      .hardlink("bin/again", "bin/suid");
  tar.add(TarBuilder::member("etc/fifo", AE_IFIFO, 0640));
  tar.file("etc/.wh.motd", "").dir("data").file("data/.wh..wh..opq", "");
  TarBuilder::Member tagged = TarBuilder::member("tagged", AE_IFREG, 0644);
  tagged.data = "t";
  tagged.xattrs = {
      {"user.note", "kept"}, {"trusted.overlay.opaque", "y"}, {"security.selinux", "x"}};
  tar.add(tagged);
  auto r = unpackInto(dir, tar.bytes());
  INFO((r ? "" : r.error().describe()));
  REQUIRE(r.ok());
  const std::string root = dir / "root";
  CHECK(lstatOf(root + "/home/user").st_uid == 1000);
  CHECK((lstatOf(root + "/home/user").st_mode & 07777) == 0700);
  CHECK(lstatOf(root + "/home/user/mine").st_uid == 1000);
  CHECK((lstatOf(root + "/bin/suid").st_mode & 07777) == 04755);
  CHECK(lstatOf(root + "/bin/suid").st_nlink == 2);
  CHECK(lstatOf(root + "/bin/suid").st_mtime == 1700000000);
  CHECK(lstatOf(root + "/home").st_mtime == 1700000000);  // set after its contents
  CHECK(S_ISLNK(lstatOf(root + "/bin/sh").st_mode));
  CHECK(S_ISFIFO(lstatOf(root + "/etc/fifo").st_mode));
  struct stat wh = lstatOf(root + "/etc/motd");
  CHECK(S_ISCHR(wh.st_mode));
  CHECK(wh.st_rdev == makedev(0, 0));
  CHECK(xattr(root + "/data", "trusted.overlay.opaque") == "y");
  CHECK(xattr(root + "/tagged", "user.note") == "kept");
  CHECK(xattr(root + "/tagged", "trusted.overlay.opaque") == "<none>");
  CHECK(r->stats.file_bytes == 4);
  std::string raw = tar.bytes();
  CHECK(r->diff_id == sha256Of(raw));
}

TEST_CASE("a whiteout and the file it names in the same layer: the file wins, either order") {
  requireRoot();
  for (bool whiteout_first : {true, false}) {
    TempDir dir;
    TarBuilder tar;
    if (whiteout_first) tar.file(".wh.x", "");
    tar.file("x", "kept");
    if (!whiteout_first) tar.file(".wh.x", "");
    REQUIRE(unpackInto(dir, tar.bytes()).ok());
    auto content = readFile(dir / "root/x", 100);
    REQUIRE(content.ok());
    CHECK(*content == "kept");
  }
}

TEST_CASE("hostile members are refused and nothing lands outside the layer") {
  requireRoot();
  struct Case {
    const char* what;
    std::function<void(TarBuilder&, const std::string&)> build;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"through its own symlink",
       [](TarBuilder& t, const std::string& bait) { t.symlink("s", bait).file("s/planted", "x"); },
       "symlink"},
      {"through a relative symlink",
       [](TarBuilder& t, const std::string&) {
         t.dir("a").symlink("a/up", "../..").file("a/up/planted", "x");
       },
       "symlink"},
      {"an opaque marker through a symlink",
       [](TarBuilder& t, const std::string& bait) {
         t.symlink("s", bait).file("s/.wh..wh..opq", "");
       },
       "symlink"},
      {"a hard link to a later member",
       [](TarBuilder& t, const std::string&) { t.hardlink("l", "later").file("later", "x"); },
       "not in the layer"},
      {"a hard link through a symlink",
       [](TarBuilder& t, const std::string& bait) {
         t.symlink("s", bait).hardlink("l", "s/secret");
       },
       "not in the layer"},
      {"a type change", [](TarBuilder& t, const std::string&) { t.dir("x").file("x", "y"); },
       "twice"},
      {"a device",
       [](TarBuilder& t, const std::string&) {
         TarBuilder::Member m = TarBuilder::member("mem", AE_IFCHR, 0600);
         m.rdev = makedev(1, 1);
         t.add(m);
       },
       "device"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    TempDir dir;
    TempDir bait;
    REQUIRE(writeFile(bait / "secret", "secret").ok());
    TarBuilder tar;
    c.build(tar, bait.path());
    auto r = unpackInto(dir, tar.bytes());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == EINVAL);
    CHECK_THAT(r.error().message, Catch::Contains(c.message));
    CHECK(::access((bait / "planted").c_str(), F_OK) != 0);
    CHECK(*readFile(bait / "secret", 100) == "secret");
  }
}

TEST_CASE("the budget stops a layer past its bytes or members with EFBIG") {
  requireRoot();
  TempDir dir;
  auto r = unpackInto(dir, TarBuilder().file("big", std::string(4096, 'x')).bytes(),
                      UnpackBudget{1000, 10, 1 << 20});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == EFBIG);
  TempDir dir2;
  TarBuilder many;
  for (int i = 0; i < 20; ++i) many.file("f" + std::to_string(i), "");
  auto m = unpackInto(dir2, many.bytes(), UnpackBudget{1 << 20, 10, 1 << 20});
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == EFBIG);
}

TEST_CASE("a snapshot's diff turns an upper dir into an OCI layer that unpacks the same way") {
  requireRoot();
  TempDir upper_dir;
  const uint32_t base = 300000;
  const std::string& u = upper_dir.path();
  REQUIRE(::mkdir((u + "/home").c_str(), 0755) == 0);
  REQUIRE(::chown((u + "/home").c_str(), base, base) == 0);
  REQUIRE(writeFile(u + "/home/mine", "mine").ok());
  REQUIRE(::chown((u + "/home/mine").c_str(), base + 1000, base + 1000) == 0);
  REQUIRE(::mknod((u + "/gone").c_str(), S_IFCHR, makedev(0, 0)) == 0);
  REQUIRE(::mkdir((u + "/opaque").c_str(), 0700) == 0);
  REQUIRE(::setxattr((u + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  REQUIRE(::setxattr((u + "/opaque").c_str(), "trusted.overlay.origin", "zz", 2, 0) == 0);
  REQUIRE(::symlink("mine", (u + "/home/link").c_str()) == 0);
  REQUIRE(::link((u + "/home/mine").c_str(), (u + "/home/hard").c_str()) == 0);
  REQUIRE(writeFile(u + "/stranger", "s").ok());
  REQUIRE(::chown((u + "/stranger").c_str(), 12345, 12345) == 0);  // outside the range

  UniqueFd out(::memfd_create("diff", MFD_CLOEXEC));
  DiffLimits limits;
  limits.max_file_bytes = 1 << 20;
  auto diff = writeLayerDiff({{upper_dir.fd(), ""}}, base, 65536, out.get(), limits);
  INFO((diff ? "" : diff.error().describe()));
  REQUIRE(diff.ok());
  CHECK(diff->entries >= 8);
  ::lseek(out.get(), 0, SEEK_SET);
  auto bytes = readAll(out.get(), 64 << 20);
  REQUIRE(bytes.ok());
  CHECK(sha256Of(*bytes) == diff->digest);
  CHECK(bytes->size() == diff->size);

  // Read back: the names and owners as a layer has them.
  std::map<std::string, std::pair<uid_t, std::string>> seen;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  REQUIRE(archive_read_open_memory(a, bytes->data(), bytes->size()) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string xattrs;
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) xattrs += name;
    seen[archive_entry_pathname(e)] = {archive_entry_uid(e), xattrs};
  }
  archive_read_free(a);
  CHECK(seen.count(".wh.gone"));
  CHECK(seen.count("opaque/.wh..wh..opq"));
  CHECK(seen["home/mine"].first == 1000);
  CHECK(seen["home"].first == 0);
  CHECK(seen["stranger"].first == 65534);
  CHECK(seen["opaque"].second.empty());  // trusted.overlay.* stay behind

  TempDir dir;
  auto again = unpackInto(dir, *bytes);
  REQUIRE(again.ok());
  CHECK(again->diff_id == diff->digest);
  CHECK(S_ISCHR(lstatOf(dir / "root/gone").st_mode));
  CHECK(xattr(dir / "root/opaque", "trusted.overlay.opaque") == "y");
  CHECK(lstatOf(dir / "root/home/mine").st_uid == 1000);
  CHECK(lstatOf(dir / "root/home/hard").st_ino == lstatOf(dir / "root/home/mine").st_ino);
}

TEST_CASE("the store publishes whole, keeps what is used or pinned, and collects the rest") {
  requireRoot();
  TempDir data;
  auto opened = TemplateStore::open(data / "store");
  REQUIRE(opened.ok());
  TemplateStore& store = **opened;
  CHECK((lstatOf(data / "store").st_mode & 0777) == 0700);

  auto publish = [&](const std::string& name, const std::string& layer_content) {
    auto ws = store.newWorkspace("test");
    REQUIRE(ws.ok());
    const std::string tar = TarBuilder().file("f", layer_content).bytes();
    Digest id = sha256Of(tar);
    REQUIRE(::mkdirat((*ws)->fd(), "layer", 0700) == 0);
    REQUIRE(::mkdirat((*ws)->fd(), "layer/diff", 0755) == 0);
    REQUIRE(writeFile((*ws)->path() + "/blob", tar).ok());
    REQUIRE(writeFile((*ws)->path() + "/config", "{}").ok());
    PublishRequest req;
    req.record.name = name;
    req.record.source = "import";
    req.record.config_digest = sha256Of("{}");
    req.record.manifest_digest = sha256Of("{}");
    req.record.layers.push_back(StoredLayer{Descriptor{"t", id, tar.size(), ""}, id, 1});
    req.layer_dirs[id] = "layer";
    req.blob_files[id] = "blob";
    req.blob_files[sha256Of("{}")] = "config";
    auto r = store.publish(**ws, std::move(req));
    REQUIRE(r.ok());
    return id;
  };
  const Digest a = publish("a", "one");
  const Digest b = publish("b", "two");
  CHECK(store.hasLayer(a));
  CHECK(store.list().size() == 2);
  CHECK(store.knownDiffId(a) == std::optional<Digest>(a));

  // A name being imported is reserved, until the lease ends.
  {
    auto lease = store.reserveName("c");
    REQUIRE(lease.ok());
    CHECK(store.reserveName("c").error().code == EEXIST);
  }
  CHECK(store.reserveName("c").ok());

  // In use: EBUSY, and nothing removed.
  CHECK(store.remove("a", [] { return true; }).error().code == EBUSY);
  CHECK(store.hasLayer(a));
  // Pinned (a live sandbox): the record goes, the layer stays until unpinned.
  {
    LayerPins pins = store.pin({a});
    REQUIRE(store.remove("a", nullptr).ok());
    CHECK(store.hasLayer(a));
    CHECK(store.get("a").error().code == ENOENT);
  }
  CHECK_FALSE(store.hasLayer(a));
  CHECK(store.hasLayer(b));
  CHECK(store.remove("nope", nullptr).error().code == ENOENT);

  // Nothing of the workspaces is left; a new open removes what a crash left in tmp/.
  REQUIRE(::mkdir((data / "store/tmp/import-crashed").c_str(), 0700) == 0);
  REQUIRE(writeFile(data / "store/tmp/import-crashed/x", "x").ok());
  opened->reset();
  auto reopened = TemplateStore::open(data / "store");
  REQUIRE(reopened.ok());
  CHECK(::access((data / "store/tmp/import-crashed").c_str(), F_OK) != 0);
  CHECK((*reopened)->get("b").ok());
}

TEST_CASE("a diff stops cleanly past its byte limit, at a .wh. name, or when cancelled") {
  requireRoot();
  TempDir upper;
  UniqueFd sparse(::open((upper / "sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  REQUIRE(::ftruncate(sparse.get(), 1LL << 40) == 0);  // 1 TiB of holes, no blocks
  sparse.reset();
  DiffLimits limits;
  limits.max_file_bytes = 16 << 20;
  UniqueFd out(::memfd_create("diff", MFD_CLOEXEC));
  auto big = writeLayerDiff({{upper.fd(), ""}}, 0, 65536, out.get(), limits);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == EFBIG);
  CHECK_THAT(big.error().message, Catch::Contains("sparse"));

  REQUIRE(::unlink((upper / "sparse").c_str()) == 0);
  REQUIRE(writeFile(upper / ".wh.trick", "").ok());
  auto wh = writeLayerDiff({{upper.fd(), ""}}, 0, 65536, out.get(), limits);
  REQUIRE_FALSE(wh.ok());
  CHECK(wh.error().code == EINVAL);
  CHECK_THAT(wh.error().message, Catch::Contains(".wh.trick"));

  REQUIRE(::unlink((upper / ".wh.trick").c_str()) == 0);
  REQUIRE(writeFile(upper / "file", "x").ok());
  std::atomic<bool> cancel{true};
  limits.cancel = &cancel;
  auto cancelled = writeLayerDiff({{upper.fd(), ""}}, 0, 65536, out.get(), limits);
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.error().code == ECANCELED);
}
