#include "runtime/init/host_facts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "runtime/init/dir_stream.h"
#include "runtime/init/mount_plan.h"

namespace declaw::runtime::init {

namespace {

HostEntry lstatEntry(const std::string& path) {
  HostEntry e;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return e;
  e.mode = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode)) {
    e.kind = HostKind::kDirectory;
  } else if (S_ISREG(st.st_mode)) {
    e.kind = HostKind::kFile;
  } else if (S_ISCHR(st.st_mode)) {
    e.kind = HostKind::kCharDevice;
  } else if (S_ISLNK(st.st_mode)) {
    e.kind = HostKind::kSymlink;
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n > 0 && static_cast<size_t>(n) < sizeof buf) {
      e.symlink_target.assign(buf, static_cast<size_t>(n));
    } else {
      e.kind = HostKind::kOther;  // unreadable or absurdly long: treated as absent by the plan
    }
  } else {
    e.kind = HostKind::kOther;
  }
  return e;
}

}  // namespace

HostFacts probeHost() {
  HostFacts facts;
  for (const std::string& path : hostPathsToProbe()) facts.set(path, lstatEntry(path));
  DirStream dir = openDirStream(UniqueFd(::open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  if (!dir) return facts;
  while (dirent* ent = ::readdir(dir.get())) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    std::string path = "/etc/" + name;
    facts.set(path, lstatEntry(path));
  }
  return facts;
}

}  // namespace declaw::runtime::init
