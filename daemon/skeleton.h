// A built-in's skeleton written ahead (docs/architecture.md, "Inits launched ahead"): an init
// launched ahead also gets a disk of its own, into whose upper dir it writes the built-in's
// skeleton (its directories, links and /etc copies: runtime/init/mount_plan.h, planSkeleton)
// while it waits. A create of a plain built-in that takes it finds that part of its setup done.
//
// What the skeleton was made from is kept, to tell at the take whether it still is what the
// host has: the host facts (the same object while unchanged: host_facts_cache.h) and a stamp of
// each host file it copied (device, inode, size, modification and change times). A file edited
// in place after the skeleton was written changes its stamp, and the create then builds as one
// without a skeleton would (unless the edit kept the size and fell in the same tick of the
// kernel's coarse clock as the stamp: the window HostFactsCache has for /etc itself).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/host_facts.h"
#include "runtime/rootfs.h"

namespace declaw::daemon {

struct FileStamp {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  struct timespec mtime {};
  struct timespec ctime {};
};

// The stamp of what lstat() says of `st`. Pure.
FileStamp stampOf(const std::string& path, const struct stat& st);
// Whether `now` (an lstat()) is the file `was` stamped. Pure.
bool sameFile(const FileStamp& was, const struct stat& now);

struct Skeleton {
  runtime::PreparedDisk disk;
  std::shared_ptr<const runtime::HostFacts> facts;
  std::vector<FileStamp> copied;  // the host files its plan copies, as they were before
};

// The host files a built-in's skeleton copies, planned from `facts`, stamped now (before the
// copy: a change during it shows at the take).
Result<std::vector<FileStamp>> stampSkeletonFiles(const runtime::HostFacts& facts,
                                                  uint32_t user_uid, uint32_t user_gid);

// Whether `skeleton` was made from `facts` and each file it copied is still as stamped.
bool skeletonCurrent(const Skeleton& skeleton,
                     const std::shared_ptr<const runtime::HostFacts>& facts);

}  // namespace declaw::daemon
