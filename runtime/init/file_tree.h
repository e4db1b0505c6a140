// Directory walks for the file API (kList, kRemove, and the entries of kStat), done with
// openat/fstatat/unlinkat on directory fds, never following a symlink below the named path.
// They run in a file-op helper with the requesting user's credentials, inside the sandbox root.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

// Limits of one listing: levels below the named directory, and entries in all.
inline constexpr uint32_t kMaxListDepth = 64;
inline constexpr size_t kMaxListEntries = 1 << 20;

// The Entry for what lstat() said about `path` (whose last component is `name`); `dirfd` and
// `name` are used to read a symlink's target.
Entry makeEntry(const struct stat& st, int dirfd, const std::string& name, const std::string& path);

// "/a/b/" -> "/a/b"; "/" stays "/".
std::string trimTrailingSlashes(const std::string& path);
// The last component of a trimmed path ("/" for "/").
std::string baseName(const std::string& path);

// Everything under the directory `path` (a symlink naming it is followed) down to `depth`
// levels (1 = its entries; 0 counts as 1; capped at kMaxListDepth), sorted by path. Symlinks
// below are reported, not followed; subdirectories that cannot be opened are listed, not
// entered. ENOTDIR if `path` is not a directory, E2BIG past kMaxListEntries.
Result<std::vector<Entry>> listTree(const std::string& path, uint32_t depth);

// Removes `path`: a file or symlink is unlinked, a directory is emptied depth-first with
// unlinkat (never following symlinks, so a link to /etc removes the link only) and removed.
// EINVAL for the root itself or a path ending in "." or "..". Stops at the first error.
Result<void> removeTree(const std::string& path);

}  // namespace declaw::runtime::init
