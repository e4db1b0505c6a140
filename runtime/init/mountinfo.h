// Reading /proc/self/mountinfo (proc(5)): which mounts a recursive bind brought along, so each
// of them can be remounted read-only (mount(2) remounts one mount at a time; MS_REC is ignored
// with MS_REMOUNT).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace declaw::runtime::init {

// The mount points of the topmost mount at `mount_point` and of every mount below it (by parent
// id, so mounts hidden under another mount with the same path are not confused with ours), in
// mountinfo order. Empty when nothing is mounted there. Octal escapes (\040) are decoded.
std::vector<std::string> mountTreeAt(std::string_view mountinfo, const std::string& mount_point);

}  // namespace declaw::runtime::init
