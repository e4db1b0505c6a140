// What one member of a layer tar may be, decided before anything touches the disk (plan, then
// apply): its name normalised and checked, its kind, and the whiteout rules of the OCI image
// spec (layer.md, "Whiteouts") and of Docker. Pure; unit-tested and fuzzed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace declaw::image {

// Longest path and name a layer member may have (PATH_MAX and NAME_MAX, counting no NUL).
inline constexpr size_t kMaxMemberPathBytes = 4095;
inline constexpr size_t kMaxMemberNameBytes = 255;
// Directories a member may be nested in. Walking and removing a tree holds an fd per level, so
// depth is bounded well below the fd limit (real images go a few dozen levels deep).
inline constexpr size_t kMaxMemberDepth = 256;

enum class EntryKind {
  kFile,
  kDir,
  kSymlink,
  kHardlink,  // `link` is the normalised path of an earlier member of the same layer
  kFifo,
  kWhiteout,  // `path` is what it hides in the layers below
  kOpaque,    // `path` is the directory whose lower contents it hides
  kSkip,      // AUFS bookkeeping (.wh..wh.*), which Docker also ignores
};

const char* kindName(EntryKind kind);

// A member as libarchive reports it, before any decision.
struct RawMember {
  std::string name;
  mode_t type = 0;       // S_IFREG, S_IFDIR, ... (archive_entry_filetype)
  std::string hardlink;  // non-empty for a hard link
  std::string symlink;   // the target of a symlink
  unsigned rdev_major = 0;
  unsigned rdev_minor = 0;
};

struct LayerEntry {
  EntryKind kind = EntryKind::kFile;
  std::string path;  // relative, no "." or ".." components, no leading or trailing '/'; "" = root
  std::string link;  // kSymlink: the target as written; kHardlink: the normalised target path
};

// "./usr//bin/" -> "usr/bin"; "." or "./" -> "". EINVAL for an absolute name or a ".."
// component, ENAMETOOLONG past the limits (bytes, a component's bytes, depth), each with a
// message naming the member.
Result<std::string> normalizeMemberPath(std::string_view name);

// The decision for one member. Refused (EINVAL, naming the member): device nodes other than a
// whiteout (a 0:0 character device, overlayfs's own whiteout form), sockets, a whiteout of ""
// or of the root, a hard link to the root or to itself, a symlink target past the limit.
Result<LayerEntry> classifyMember(const RawMember& member);

}  // namespace declaw::image
