// Directory watches for the file API (FileOpKind::kWatch, GET .../files/watch), with inotify.
//
// A watch runs in a file-op helper (file_ops.h) that lives on: it has the requesting user's
// credentials, so it sees only what that user may read, and its paths resolve in the sandbox's
// root. Once its watches are set it sends the daemon the read end of a pipe, closes the control
// socket (a watch that sandbox code takes over can say nothing to the daemon but records), and
// writes a record (runtime/watch_wire.h) per change. It ends when the daemon closes the pipe,
// when the watched directory is removed, or at an error, which it writes as the last record.
//
// Recursive watches add a watch for every directory below, never through a symlink, and for
// each directory that appears later (reporting what the new directory already holds as
// created, so `mkdir -p a/b/c` is seen whole). The number of directories is bounded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/watch_wire.h"

namespace declaw::runtime::init {

class DirWatcher {
 public:
  // Watches the directory `path` (a symlink naming it is followed, as for a listing) and, with
  // max_dirs > 1, the directories below it, up to max_dirs in all. ENOENT, ENOTDIR, EACCES as
  // the kernel says; E2BIG when the tree has more directories than max_dirs.
  static Result<DirWatcher> open(const std::string& path, uint32_t max_dirs);

  // Turns the kernel's events into records and writes them to `out` until the watch ends (see
  // above). Returns when it has.
  void run(int out);

  // One kernel event (exposed for unit tests): appends its records; returns false when the
  // watch is over (its last record appended).
  bool handle(uint32_t mask, int wd, const std::string& name, std::vector<WatchRecord>& records);

  size_t watchedDirs() const { return dirs_.size(); }

 private:
  DirWatcher(UniqueFd inotify, std::string root, uint32_t max_dirs)
      : inotify_(std::move(inotify)), root_(std::move(root)), max_dirs_(max_dirs) {}

  // Watches the directory `rel` (relative to the root; "" is the root) and, when recursive,
  // every directory below it. With `created`, also appends a kCreate for each entry found.
  Result<void> addTree(const std::string& rel, std::vector<WatchRecord>* created);
  // Stops watching `rel` and everything below it (it moved away).
  void forgetTree(const std::string& rel);
  std::string fullPath(const std::string& rel) const;
  bool recursive() const { return max_dirs_ > 1; }

  UniqueFd inotify_;
  std::string root_;
  uint32_t max_dirs_;
  int root_wd_ = -1;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory relative to the root
};

}  // namespace declaw::runtime::init
