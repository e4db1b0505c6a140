#include "daemon/skeleton.h"

#include <fcntl.h>

#include "runtime/init/mount_plan.h"

namespace declaw::daemon {

FileStamp stampOf(const std::string& path, const struct stat& st) {
  return FileStamp{path, st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

bool sameFile(const FileStamp& was, const struct stat& now) {
  auto same = [](const struct timespec& a, const struct timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
  };
  return was.dev == now.st_dev && was.ino == now.st_ino && was.size == now.st_size &&
         same(was.mtime, now.st_mtim) && same(was.ctime, now.st_ctim);
}

Result<std::vector<FileStamp>> stampSkeletonFiles(const runtime::HostFacts& facts,
                                                  uint32_t user_uid, uint32_t user_gid) {
  runtime::InitConfig config;
  config.root_kind = runtime::RootKind::kHost;
  config.user_uid = user_uid;
  config.user_gid = user_gid;
  auto steps = runtime::init::planSkeleton(config, facts);
  if (!steps) return steps.error();
  std::vector<FileStamp> stamps;
  for (const runtime::init::MountStep& step : *steps) {
    if (step.kind != runtime::init::StepKind::kCopyFile) continue;
    struct stat st {};
    if (::fstatat(AT_FDCWD, step.source.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoError() << "stat " << step.source;
    }
    stamps.push_back(stampOf(step.source, st));
  }
  return stamps;
}

bool skeletonCurrent(const Skeleton& skeleton,
                     const std::shared_ptr<const runtime::HostFacts>& facts) {
  if (!facts || skeleton.facts != facts) return false;
  for (const FileStamp& was : skeleton.copied) {
    struct stat st {};
    if (::fstatat(AT_FDCWD, was.path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (!sameFile(was, st)) return false;
  }
  return true;
}

}  // namespace declaw::daemon
