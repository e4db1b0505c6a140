#include "runtime/init/mountinfo.h"

#include <charconv>
#include <set>

#include "common/mountinfo_text.h"

namespace declaw::runtime::init {

namespace {

struct MountLine {
  long id = 0;
  long parent = 0;
  std::string mount_point;
};

// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": id, parent, major:minor,
// root, mount point, ...
bool parseLine(std::string_view line, MountLine& out) {
  std::string_view fields[5];
  size_t pos = 0;
  for (auto& field : fields) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end == pos) return false;
    field = line.substr(pos, end - pos);
    pos = end;
  }
  auto number = [](std::string_view s, long& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
  };
  if (!number(fields[0], out.id) || !number(fields[1], out.parent)) return false;
  out.mount_point = unescapeMountinfo(fields[4]);
  return true;
}

}  // namespace

std::vector<std::string> mountTreeAt(std::string_view mountinfo, const std::string& mount_point) {
  std::vector<MountLine> lines;
  size_t pos = 0;
  while (pos < mountinfo.size()) {
    size_t end = mountinfo.find('\n', pos);
    if (end == std::string_view::npos) end = mountinfo.size();
    MountLine line;
    if (parseLine(mountinfo.substr(pos, end - pos), line)) lines.push_back(std::move(line));
    pos = end + 1;
  }
  long top = -1;
  for (const MountLine& l : lines) {
    if (l.mount_point == mount_point) top = l.id;  // the last one is on top
  }
  if (top < 0) return {};
  std::set<long> tree = {top};
  std::vector<std::string> out;
  // Children can appear before their parents only in odd orders; iterate to a fixed point.
  for (bool grew = true; grew;) {
    grew = false;
    for (const MountLine& l : lines) {
      if (tree.count(l.id) == 0 && tree.count(l.parent) != 0) {
        tree.insert(l.id);
        grew = true;
      }
    }
  }
  for (const MountLine& l : lines) {
    if (tree.count(l.id) != 0) out.push_back(l.mount_point);
  }
  return out;
}

}  // namespace declaw::runtime::init
