// The layer walker (image/layer_unpack.h, through image_archive.h's unpackLayerBlob): a layer
// tar, plain or compressed, is written by an attacker and unpacked by root.
//
// Input: the layer blob. It is unpacked into a fresh directory `root` beside an empty one,
// `outside`, under a work dir of this process, with small limits (16 MiB, 5000 members).
//
// Invariants: unpacking succeeds or fails with EINVAL, EFBIG or ENAMETOOLONG (never anything
// else: a bug would show as EIO, ENOENT, ...); whatever happened, nothing exists in the work dir
// but `root` and `outside`, `outside` stays empty, and no device node other than a 0:0 whiteout
// is in `root`. Needs root (chown, mknod of whiteouts, trusted.* xattrs), as the daemon does.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/fs_at.h"
#include "common/io.h"
#include "fuzz/fuzz_check.h"
#include "image/image_archive.h"

namespace {

namespace img = declaw::image;
using declaw::UniqueFd;

constexpr uint64_t kMaxBytes = 16 << 20;
constexpr uint64_t kMaxEntries = 5000;

std::vector<std::string> namesIn(int dirfd) {
  std::vector<std::string> out;
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

// Every device node under dirfd is a 0:0 whiteout; no symlink is followed.
void checkDevices(int dirfd, int depth) {
  if (depth > 64) return;
  for (const std::string& name : namesIn(dirfd)) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISBLK(st.st_mode)) FUZZ_CHECK(false, "a block device was made: " + name);
    if (S_ISCHR(st.st_mode)) {
      FUZZ_CHECK(major(st.st_rdev) == 0 && minor(st.st_rdev) == 0, "a device: " + name);
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) checkDevices(sub.get(), depth + 1);
    }
  }
}

// The work dir, removed when the fuzzer exits (libFuzzer ends with exit(): destructors run).
struct WorkDir {
  std::string path = "/tmp/declaw-fuzz-unpack-" + std::to_string(::getpid());
  WorkDir() { ::mkdir(path.c_str(), 0700); }
  ~WorkDir() {
    UniqueFd tmp(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (tmp) (void)declaw::removeTreeAt(tmp.get(), path.substr(5));
  }
};

const std::string& workDir() {
  static const WorkDir dir;
  return dir.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UniqueFd work(::open(workDir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  FUZZ_CHECK(work.valid(), "cannot open the work dir (run as root)");
  (void)declaw::removeTreeAt(work.get(), "root");
  (void)declaw::removeTreeAt(work.get(), "outside");
  FUZZ_CHECK(::mkdirat(work.get(), "root", 0755) == 0 &&
             ::mkdirat(work.get(), "outside", 0777) == 0);
  UniqueFd root(::openat(work.get(), "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd blob(::memfd_create("layer", MFD_CLOEXEC));
  FUZZ_CHECK(root.valid() && blob.valid());
  FUZZ_CHECK(declaw::writeAll(blob.get(), data, size).ok());
  ::lseek(blob.get(), 0, SEEK_SET);

  img::UnpackBudget budget{kMaxBytes, kMaxEntries, kMaxBytes * 2};
  auto result = img::unpackLayerBlob(blob.get(), root.get(), budget);
  if (!result) {
    const int code = result.error().code;
    FUZZ_CHECK(code == EINVAL || code == EFBIG || code == ENAMETOOLONG,
               std::to_string(code) + " " + result.error().message);
  }
  std::vector<std::string> in_work = namesIn(work.get());
  FUZZ_CHECK(in_work.size() == 2, "something was written beside the layer");
  UniqueFd outside(::openat(work.get(), "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  FUZZ_CHECK(outside.valid() && namesIn(outside.get()).empty(), "written outside the layer");
  checkDevices(root.get(), 0);
  root.reset();
  (void)declaw::removeTreeAt(work.get(), "root");
  return 0;
}
