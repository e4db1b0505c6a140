#include "image/layer_entry.h"

#include <sys/stat.h>

#include <vector>

namespace declaw::image {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";

std::string shown(std::string_view name) {
  constexpr size_t kShown = 120;
  return name.size() <= kShown ? std::string(name) : std::string(name.substr(0, kShown)) + "...";
}

}  // namespace

const char* kindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile:
      return "file";
    case EntryKind::kDir:
      return "directory";
    case EntryKind::kSymlink:
      return "symlink";
    case EntryKind::kHardlink:
      return "hard link";
    case EntryKind::kFifo:
      return "fifo";
    case EntryKind::kWhiteout:
      return "whiteout";
    case EntryKind::kOpaque:
      return "opaque marker";
    case EntryKind::kSkip:
      return "skipped";
  }
  return "?";
}

Result<std::string> normalizeMemberPath(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) {
    return ErrnoError(EINVAL) << "member '" << shown(name) << "' has a NUL in its name";
  }
  if (!name.empty() && name.front() == '/') {
    return ErrnoError(EINVAL) << "member '" << shown(name) << "' has an absolute name";
  }
  if (name.size() > kMaxMemberPathBytes) {
    return ErrnoError(ENAMETOOLONG)
           << "member '" << shown(name) << "' has a name of " << name.size() << " bytes (at most "
           << kMaxMemberPathBytes << ")";
  }
  std::string out;
  size_t depth = 0;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view part = name.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return ErrnoError(EINVAL) << "member '" << shown(name) << "' has a '..' component";
    }
    if (part.size() > kMaxMemberNameBytes) {
      return ErrnoError(ENAMETOOLONG)
             << "member '" << shown(name) << "' has a component of " << part.size()
             << " bytes (at most " << kMaxMemberNameBytes << ")";
    }
    if (!out.empty()) out += '/';
    out += part;
    if (++depth > kMaxMemberDepth) {
      return ErrnoError(ENAMETOOLONG) << "member '" << shown(name) << "' is nested more than "
                                      << kMaxMemberDepth << " directories deep";
    }
  }
  return out;
}

Result<LayerEntry> classifyMember(const RawMember& m) {
  auto path = normalizeMemberPath(m.name);
  if (!path) return path.error();
  LayerEntry e;
  e.path = std::move(*path);
  const auto slash = e.path.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
  const std::string base = slash == std::string::npos ? e.path : e.path.substr(slash + 1);

  if (std::string_view(base).substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    if (base == kOpaqueMarker) {
      e.kind = EntryKind::kOpaque;
      e.path = parent;
      return e;
    }
    if (std::string_view(base).substr(0, kAufsMetaPrefix.size()) == kAufsMetaPrefix) {
      e.kind = EntryKind::kSkip;
      return e;
    }
    const std::string hidden = base.substr(kWhiteoutPrefix.size());
    if (hidden.empty() || hidden == "." || hidden == "..") {
      return ErrnoError(EINVAL) << "member '" << shown(m.name) << "' is a whiteout of nothing";
    }
    e.kind = EntryKind::kWhiteout;
    e.path = parent.empty() ? hidden : parent + "/" + hidden;
    return e;
  }

  if (m.type != S_IFDIR && e.path.empty()) {
    return ErrnoError(EINVAL) << "member '" << shown(m.name)
                              << "' names the layer's root but is not a directory";
  }
  if (!m.hardlink.empty()) {
    auto target = normalizeMemberPath(m.hardlink);
    if (!target) {
      return ErrnoError(target.error().code)
             << "hard link '" << shown(m.name) << "': target " << target.error().message;
    }
    if (target->empty() || *target == e.path) {
      return ErrnoError(EINVAL) << "member '" << shown(m.name) << "' is a hard link to '"
                                << shown(m.hardlink) << "'";
    }
    e.kind = EntryKind::kHardlink;
    e.link = std::move(*target);
    return e;
  }
  switch (m.type) {
    case S_IFREG:
      e.kind = EntryKind::kFile;
      return e;
    case S_IFDIR:
      e.kind = EntryKind::kDir;
      return e;
    case S_IFLNK:
      if (m.symlink.empty() || m.symlink.size() > kMaxMemberPathBytes ||
          m.symlink.find('\0') != std::string::npos) {
        return ErrnoError(EINVAL) << "symlink '" << shown(m.name) << "' has an invalid target";
      }
      e.kind = EntryKind::kSymlink;
      e.link = m.symlink;
      return e;
    case S_IFIFO:
      e.kind = EntryKind::kFifo;
      return e;
    case S_IFCHR:
      // overlayfs writes a whiteout as a 0:0 character device; some tools export it so.
      if (m.rdev_major == 0 && m.rdev_minor == 0) {
        e.kind = EntryKind::kWhiteout;
        return e;
      }
      return ErrnoError(EINVAL) << "member '" << shown(m.name) << "' is a character device ("
                                << m.rdev_major << ":" << m.rdev_minor
                                << "): device nodes are not allowed in a layer (declaw makes "
                                   "/dev itself; mmdebstrap: --skip=output/dev)";
    case S_IFBLK:
      return ErrnoError(EINVAL) << "member '" << shown(m.name)
                                << "' is a block device: device nodes are not allowed in a layer";
    case S_IFSOCK:
      return ErrnoError(EINVAL) << "member '" << shown(m.name) << "' is a socket";
    default:
      return ErrnoError(EINVAL) << "member '" << shown(m.name) << "' has an unknown type";
  }
}

}  // namespace declaw::image
