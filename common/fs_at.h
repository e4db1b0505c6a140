// Path operations relative to a directory fd that never leave it: openat2(2) with RESOLVE_*
// flags (the kernel resolves, so a symlink or ".." cannot step out, and a swapped component is
// caught rather than raced), and an fd-based recursive removal that never follows a symlink.
// For trees an attacker wrote: image layers, overlay upper dirs.
#pragma once

#include <linux/openat2.h>

#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw {

// No symlink at all, no magic link, no crossing into another mount: a path inside a tree we
// are building or reading must be exactly what it says.
inline constexpr uint64_t kResolveStrict =
    RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

// openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve}). `path` "" opens dirfd's own
// directory again (as ".").
Result<UniqueFd> openAt2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve,
                         uint64_t mode = 0);

// Removes `name` in `dirfd` (a file, symlink, special file or a whole directory tree) without
// following symlinks; ENOENT is success. Works on trees of any depth and any permissions (the
// caller is root).
Result<void> removeTreeAt(int dirfd, const std::string& name);

// Splits "a/b/c" into ("a/b", "c"); ("", "c") for "c".
std::pair<std::string, std::string> splitParent(const std::string& path);

}  // namespace declaw
