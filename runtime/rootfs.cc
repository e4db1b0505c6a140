#include "runtime/rootfs.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "common/fs_at.h"
#include "common/io.h"
#include "common/mount_api.h"

namespace declaw::runtime {

namespace {

constexpr mode_t kUpperMode = 0755;
constexpr mode_t kPrivate = 0700;

using Param = std::pair<std::string, std::string>;

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// The temporary attach points of one build, undone in reverse order whatever happens.
class AttachPoints {
 public:
  explicit AttachPoints(std::string base) : base_(std::move(base)) {}
  ~AttachPoints() {
    for (auto it = mounted_.rbegin(); it != mounted_.rend(); ++it) {
      ::umount2(it->c_str(), MNT_DETACH);
    }
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) ::rmdir(it->c_str());
  }
  AttachPoints(const AttachPoints&) = delete;
  AttachPoints& operator=(const AttachPoints&) = delete;

  Result<void> makeBase() {
    if (::mkdir(base_.c_str(), kPrivate) != 0) return ErrnoError() << "mkdir " << base_;
    dirs_.push_back(base_);
    return {};
  }
  Result<std::string> dir(const std::string& name) {
    std::string path = base_ + "/" + name;
    if (::mkdir(path.c_str(), kPrivate) != 0) return ErrnoError() << "mkdir " << path;
    dirs_.push_back(path);
    return path;
  }
  void mounted(const std::string& path) { mounted_.push_back(path); }

 private:
  std::string base_;
  std::vector<std::string> dirs_;
  std::vector<std::string> mounted_;
};

Result<void> makeDiskDir(int disk, const char* name, mode_t mode, uint32_t owner) {
  if (::mkdirat(disk, name, mode) != 0) return ErrnoError() << "mkdir disk/" << name;
  if (::fchmodat(disk, name, mode, 0) != 0) return ErrnoError() << "chmod disk/" << name;
  if (owner != 0 && ::fchownat(disk, name, owner, owner, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoError() << "chown disk/" << name;
  }
  return {};
}

// The layout's directories (rootfs.h): the uppers owned by the sandbox's root.
Result<void> makeDiskDirs(int disk, uint32_t id_base, bool host_usr) {
  if (auto r = makeDiskDir(disk, kDiskUpper, kUpperMode, id_base); !r) return r;
  if (auto r = makeDiskDir(disk, kDiskWork, kPrivate, 0); !r) return r;
  if (auto r = makeDiskDir(disk, kDiskEmpty, kUpperMode, 0); !r) return r;
  if (host_usr) {
    if (auto r = makeDiskDir(disk, kDiskUsrUpper, kUpperMode, id_base); !r) return r;
    if (auto r = makeDiskDir(disk, kDiskUsrWork, kPrivate, 0); !r) return r;
  }
  return {};
}

Result<UniqueFd> openPath(int dirfd, const char* name) {
  UniqueFd fd(::openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << name;
  return fd;
}

// What the kernel logged on a filesystem context (fsconfig's errors say why there, not in
// errno), as ": message", or nothing.
std::string kernelSays(int fs_fd) {
  char buf[256];
  ssize_t n = ::read(fs_fd, buf, sizeof buf - 1);
  if (n <= 2) return "";
  // "e overlayfs: ..." (e/w/i: error, warning, info)
  return ": " + std::string(buf + 2, static_cast<size_t>(n - 2));
}

// A new `type` filesystem with `params`, as a detached mount (fsopen, fsconfig, fsmount): it
// is attached nowhere, in no mount namespace, until someone moves it.
Result<UniqueFd> newDetachedMount(const char* type, const std::vector<Param>& params,
                                  unsigned attrs) {
  UniqueFd fs(fsOpen(type, FSOPEN_CLOEXEC));
  if (!fs) return ErrnoError() << "fsopen " << type;
  for (const auto& [key, value] : params) {
    if (fsConfig(fs.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
      return ErrnoError() << type << " " << key << "=" << value << kernelSays(fs.get());
    }
  }
  if (fsConfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return ErrnoError() << "create " << type << kernelSays(fs.get());
  }
  UniqueFd mnt(fsMount(fs.get(), FSMOUNT_CLOEXEC, attrs));
  if (!mnt) return ErrnoError() << "fsmount " << type;
  return mnt;
}

// `source` cloned, idmapped through `userns_fd`, read-only: a detached mount.
Result<UniqueFd> idmappedTree(const std::string& source, int userns_fd) {
  UniqueFd tree(openTree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!tree) return ErrnoError() << "open_tree " << source;
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (mountSetattr(tree.get(), "", AT_EMPTY_PATH, &attr) != 0) {
    return ErrnoError() << "idmapped mount of " << source;
  }
  return tree;
}

// How one build makes its mounts. Detached (where overlayfs takes detached layers): each mount
// is made detached and stays so, nothing is attached anywhere and nothing is undone after.
// Attached (older kernels): the disk, the lowers and each overlay are attached under the build's
// attach points while overlayfs takes them, then detached again (AttachPoints).
class Mounts {
 public:
  Mounts(bool detached, std::string base) : detached_(detached), points_(std::move(base)) {}

  Result<void> begin() { return detached_ ? Result<void>{} : points_.makeBase(); }

  // A disk made ahead (detached builds): its root directory, O_RDONLY.
  UniqueFd take(PreparedDisk& prepared) {
    held_.push_back(std::move(prepared.mount));
    return std::move(prepared.dir);
  }

  // The disk's root directory, O_RDONLY.
  Result<UniqueFd> disk(uint64_t bytes) {
    const std::vector<Param> params = {{"size", std::to_string(bytes)}, {"mode", "0755"}};
    if (detached_) {
      auto mnt = newDetachedMount("tmpfs", params, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
      if (!mnt) return ErrnoError(mnt.error().code) << "the disk tmpfs: " << mnt.error().message;
      UniqueFd disk(::openat(mnt->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!disk) return ErrnoError() << "open the disk";
      held_.push_back(std::move(*mnt));  // overlayfs takes only mounted uppers
      return disk;
    }
    auto point = points_.dir("disk");
    if (!point) return point.error();
    std::string options;
    for (const auto& [key, value] : params)
      options += (options.empty() ? "" : ",") + key + "=" + value;
    if (::mount("declaw-disk", point->c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) !=
        0) {
      return ErrnoError() << "mount the disk tmpfs";
    }
    points_.mounted(*point);
    UniqueFd disk(::open(point->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!disk) return ErrnoError() << "open the disk";
    return disk;
  }

  // An fd naming `source` idmapped (a lower, as /proc/self/fd/N), held until the build ends.
  Result<int> idmappedLower(const std::string& name, const std::string& source, int userns_fd) {
    auto tree = idmappedTree(source, userns_fd);
    if (!tree) return tree.error();
    if (detached_) return hold(std::move(*tree));
    auto point = points_.dir(name);
    if (!point) return point.error();
    if (moveMount(tree->get(), "", AT_FDCWD, point->c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      return ErrnoError() << "attach " << source;
    }
    points_.mounted(*point);
    UniqueFd fd(::open(point->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return ErrnoError() << "open " << *point;
    return hold(std::move(fd));
  }

  // A detached overlay.
  Result<UniqueFd> overlay(const std::string& name, const std::vector<int>& lowers, int upper,
                           int work) {
    if (detached_) {
      auto mnt = newDetachedMount("overlay", overlayParams(lowers, upper, work),
                                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
      if (!mnt) return ErrnoError(mnt.error().code) << name << ": " << mnt.error().message;
      return mnt;
    }
    auto point = points_.dir(name);
    if (!point) return point.error();
    const std::string options = overlayOptions(lowers, upper, work);
    if (::mount("overlay", point->c_str(), "overlay", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      return ErrnoError() << "mount overlay for " << name;
    }
    points_.mounted(*point);
    UniqueFd tree(openTree(AT_FDCWD, point->c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) return ErrnoError() << "open_tree " << *point;
    return tree;
  }

 private:
  int hold(UniqueFd fd) {
    held_.push_back(std::move(fd));
    return held_.back().get();
  }

  bool detached_;
  AttachPoints points_;
  std::vector<UniqueFd> held_;  // every fd the overlays' options name, until they are made
};

bool probeDetachedLayers() {
  auto disk = newDetachedMount("tmpfs", {{"size", "64k"}}, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
  if (!disk) return false;
  std::vector<UniqueFd> dirs;
  for (const char* name : {"lower", "upper", "work"}) {
    if (::mkdirat(disk->get(), name, kPrivate) != 0) return false;
    auto dir = openPath(disk->get(), name);
    if (!dir) return false;
    dirs.push_back(std::move(*dir));
  }
  // With the options every build passes, so a kernel that takes the layers but not them keeps
  // the attach points rather than failing every create.
  return newDetachedMount("overlay", overlayParams({dirs[0].get()}, dirs[1].get(), dirs[2].get()),
                          MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
      .ok();
}

// The mount namespace this process had before enterPrivateMountNamespace(): (dev, inode).
std::optional<std::pair<dev_t, ino_t>> g_original_mount_ns;

Result<std::pair<dev_t, ino_t>> currentMountNamespace() {
  struct stat st {};
  if (::stat("/proc/self/ns/mnt", &st) != 0) return ErrnoError() << "stat /proc/self/ns/mnt";
  return std::make_pair(st.st_dev, st.st_ino);
}

// True unless this process entered a private mount namespace and is still in it. (PID 1's
// namespace would be the obvious comparison, but /proc/1/ns is not always readable, even to
// root: a container's init may hold capabilities the daemon lacks.)
Result<bool> sharesHostMountNamespace() {
  if (!g_original_mount_ns) return true;
  auto now = currentMountNamespace();
  if (!now) return now.error();
  return *now == *g_original_mount_ns;
}

}  // namespace

std::vector<Param> overlayParams(const std::vector<int>& lower_fds, int upper_fd, int work_fd) {
  std::string lower;
  for (int fd : lower_fds) lower += (lower.empty() ? "" : ":") + fdPath(fd);
  return {{"lowerdir", lower},          {"upperdir", fdPath(upper_fd)},
          {"workdir", fdPath(work_fd)}, {"redirect_dir", "nofollow"},
          {"metacopy", "off"},          {"index", "off"}};
}

std::string overlayOptions(const std::vector<int>& lower_fds, int upper_fd, int work_fd) {
  std::string options;
  for (const auto& [key, value] : overlayParams(lower_fds, upper_fd, work_fd)) {
    options += (options.empty() ? "" : ",") + key + "=" + value;
  }
  return options;
}

bool overlayTakesDetachedLayers() {
  static const bool kTakes = probeDetachedLayers();
  return kTakes;
}

Result<BuiltRootfs> buildRootfs(const RootfsSpec& spec, const std::string& work_dir) {
  const bool detached = spec.build == RootfsBuild::kDetached ||
                        (spec.build == RootfsBuild::kAuto && overlayTakesDetachedLayers());
  if (!detached) {
    auto shared = sharesHostMountNamespace();
    if (!shared) return shared.error();
    if (*shared) {
      return ErrnoError(EPERM) << "building a root needs a private mount namespace (declawd "
                                  "makes one at start): refusing to mount in the host's";
    }
  }
  if (spec.disk_bytes == 0) return ErrnoError(EINVAL) << "the disk size must be set";
  Mounts mounts(detached, work_dir + "/" + spec.sandbox_id);
  if (auto r = mounts.begin(); !r) return r.error();

  BuiltRootfs built;
  if (detached && spec.prepared != nullptr && spec.prepared->dir) {
    built.disk = mounts.take(*spec.prepared);
  } else {
    auto disk_fd = mounts.disk(spec.disk_bytes);
    if (!disk_fd) return disk_fd.error();
    built.disk = std::move(*disk_fd);
    if (auto r = makeDiskDirs(built.disk.get(), spec.id_base, spec.host_usr); !r) {
      return r.error();
    }
  }
  const int disk = built.disk.get();

  auto lowersOf = [&](const std::vector<std::string>& layers, const std::string& prefix,
                      std::vector<int>& out) -> Result<void> {
    for (size_t i = 0; i < layers.size(); ++i) {
      auto fd = mounts.idmappedLower(prefix + std::to_string(i), layers[i], spec.userns_fd);
      if (!fd) return fd.error();
      out.push_back(*fd);
    }
    return {};
  };

  std::vector<int> root_lowers;
  if (auto r = lowersOf(spec.layers, "l", root_lowers); !r) return r.error();
  auto empty = openPath(disk, kDiskEmpty);
  if (!empty) return empty.error();
  root_lowers.push_back(empty->get());
  auto upper = openPath(disk, kDiskUpper);
  auto work = openPath(disk, kDiskWork);
  if (!upper) return upper.error();
  if (!work) return work.error();
  auto root = mounts.overlay("root", root_lowers, upper->get(), work->get());
  if (!root) return root.error();
  built.root = std::move(*root);

  if (spec.host_usr) {
    std::vector<int> usr_lowers;
    if (auto r = lowersOf(spec.usr_layers, "u", usr_lowers); !r) return r.error();
    auto host = mounts.idmappedLower("host-usr", spec.host_usr_path, spec.userns_fd);
    if (!host) return host.error();
    usr_lowers.push_back(*host);
    auto usr_upper = openPath(disk, kDiskUsrUpper);
    auto usr_work = openPath(disk, kDiskUsrWork);
    if (!usr_upper) return usr_upper.error();
    if (!usr_work) return usr_work.error();
    auto usr = mounts.overlay("usr", usr_lowers, usr_upper->get(), usr_work->get());
    if (!usr) return usr.error();
    built.usr = std::move(*usr);
  }
  return built;
}

Result<PreparedDisk> prepareDisk(uint64_t bytes, uint32_t id_base) {
  if (!overlayTakesDetachedLayers()) {
    return ErrnoError(ENOTSUP) << "disks are made ahead only where root builds are detached";
  }
  if (bytes == 0) return ErrnoError(EINVAL) << "the disk size must be set";
  auto mnt = newDetachedMount("tmpfs", {{"size", std::to_string(bytes)}, {"mode", "0755"}},
                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
  if (!mnt) return ErrnoError(mnt.error().code) << "the disk tmpfs: " << mnt.error().message;
  PreparedDisk prepared;
  prepared.dir.reset(::openat(mnt->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!prepared.dir) return ErrnoError() << "open the disk";
  prepared.mount = std::move(*mnt);
  // Both uppers: whether the create's /usr is an overlay is its own (host_usr).
  if (auto r = makeDiskDirs(prepared.dir.get(), id_base, true); !r) return r.error();
  return prepared;
}

Result<void> probeIdmappedMount(const std::string& path) {
  auto sync = makePipe();
  if (!sync) return sync.error();
  // A child in a new user namespace that only waits: its namespace is the idmap to try.
  long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) return ErrnoError() << "clone a user namespace";
  if (pid == 0) {
    // Its copy of the write end closed, the read ends when the parent closes its own.
    ::close(sync->write.get());
    char byte;
    (void)!::read(sync->read.get(), &byte, 1);
    ::_exit(0);
  }
  sync->read.reset();
  auto reap = [&] {
    sync->write.reset();
    ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
  };
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string map = "0 " + std::to_string(kProbeIdBase) + " 1\n";
  Result<void> result;
  if (auto r = writeFile(proc + "/uid_map", map); !r) {
    result = r;
  } else if (auto g = writeFile(proc + "/setgroups", "deny"); !g) {
    result = g;
  } else if (auto m = writeFile(proc + "/gid_map", map); !m) {
    result = m;
  } else {
    UniqueFd userns(::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd tree(openTree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY;
    attr.userns_fd = static_cast<uint64_t>(userns.get());
    if (!userns) {
      result = ErrnoError() << "open the probe's user namespace";
    } else if (!tree) {
      result = ErrnoError() << "open_tree " << path;
    } else if (mountSetattr(tree.get(), "", AT_EMPTY_PATH, &attr) != 0) {
      result = ErrnoError() << "idmapped mount of " << path;
    }
  }
  reap();
  return result;
}

Result<void> enterPrivateMountNamespace() {
  auto original = currentMountNamespace();
  if (!original) return original.error();
  if (::unshare(CLONE_NEWNS) != 0) return ErrnoError() << "unshare a mount namespace";
  if (!g_original_mount_ns) g_original_mount_ns = *original;
  // Slave: the host's later mounts still reach us; ours never reach the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    return ErrnoError() << "make / a slave mount";
  }
  return {};
}

Result<void> resizeDisk(int disk_fd, uint64_t bytes) {
  if (bytes == 0) return ErrnoError(EINVAL) << "the disk size must be set";
  UniqueFd fs(
      static_cast<int>(::syscall(SYS_fspick, disk_fd, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC)));
  if (!fs) return ErrnoError() << "fspick the disk";
  const std::string size = std::to_string(bytes);
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "size", size.c_str(), 0) != 0) {
    return ErrnoError() << "set the disk's size to " << bytes;
  }
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) != 0) {
    return ErrnoError() << "resize the disk to " << bytes << " bytes";
  }
  return {};
}

}  // namespace declaw::runtime
