// Writes one layer tar into an empty directory, in the form overlayfs reads as a lower layer:
// a whiteout becomes a 0:0 character device, an opaque marker the trusted.overlay.opaque
// xattr (overlayfs(5) "whiteouts and opaque directories"; the mount is made by declawd in the
// initial user namespace, so trusted.* is the xattr namespace it reads).
//
// The tar is hostile. Every member is classified first (layer_entry.h), and every path is
// resolved by the kernel inside the layer directory with RESOLVE_NO_SYMLINKS (common/fs_at.h):
// a member cannot be written through a symlink an earlier member made, nor outside the layer by
// any name. Owners, modes (setuid included: the store is root-only, 0700), times, user.* and
// security.capability xattrs are kept; other xattrs (trusted.*, security.selinux) are dropped.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

struct archive;

namespace declaw::image {

// Bounds one import across all of its layers: what it may write, in bytes (declared file sizes)
// and in entries. EFBIG past either: a decompression bomb is refused, not written.
struct UnpackBudget {
  uint64_t bytes_left = 0;         // declared sizes of regular files
  uint64_t entries_left = 0;       // members
  uint64_t stream_bytes_left = 0;  // uncompressed tar bytes (headers, padding, data)
};

struct UnpackStats {
  uint64_t entries = 0;
  uint64_t file_bytes = 0;  // sum of regular files' sizes
};

// Reads every member of `a` (a libarchive reader at its first header) into the directory
// `root_fd`, which must be empty. EINVAL for a member that is refused (the message names it),
// EFBIG past the budget, EIO for a tar libarchive cannot read (truncated, not a tar).
Result<UnpackStats> unpackLayer(struct archive* a, int root_fd, UnpackBudget& budget);

}  // namespace declaw::image
