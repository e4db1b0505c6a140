// A directory stream that owns its fd: readdir() over an fd from open()/openat(), so directory
// walks never re-resolve a path (and so never follow a symlink swapped in meanwhile).
#pragma once

#include <dirent.h>

#include <memory>

#include "common/unique_fd.h"

namespace declaw::runtime::init {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirStream = std::unique_ptr<DIR, DirCloser>;

// Takes ownership of `fd` (a directory); an empty stream on failure (errno set, fd closed).
inline DirStream openDirStream(UniqueFd fd) {
  DIR* d = ::fdopendir(fd.get());
  if (d != nullptr) fd.release();
  return DirStream(d);
}

}  // namespace declaw::runtime::init
