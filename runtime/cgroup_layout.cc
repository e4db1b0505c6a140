#include "runtime/cgroup_layout.h"

#include <algorithm>
#include <charconv>

#include "common/io.h"
#include "common/mountinfo_text.h"

namespace declaw::runtime {

namespace {

constexpr size_t kMaxProcFileBytes = 1 << 20;
constexpr std::string_view kCgroupMountDir = "/sys/fs/cgroup";

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::string_view line : split(text, '\n')) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Super options of a v1 cgroup mount mix flags with controller names: "rw,nsdelegate",
// "rw,cpu,cpuacct", "rw,xattr,name=systemd", "rw,release_agent=/x,memory". Everything that is
// not a known flag is a controller.
bool isCgroupFlag(std::string_view opt) {
  static constexpr std::string_view kFlags[] = {"rw",
                                                "ro",
                                                "xattr",
                                                "noprefix",
                                                "clone_children",
                                                "cpuset_v2_mode",
                                                "favordynmods",
                                                "nsdelegate",
                                                "memory_localevents",
                                                "memory_recursiveprot",
                                                "memory_hugetlb_accounting"};
  if (std::find(std::begin(kFlags), std::end(kFlags), opt) != std::end(kFlags)) return true;
  return opt.rfind("release_agent=", 0) == 0;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The filesystem path of `cgroup_path` (from /proc/self/cgroup) through a mount of `mount_root`
// at `mount_point`; empty when the cgroup lies outside the mounted subtree.
std::string dirThroughMount(const std::string& mount_point, const std::string& mount_root,
                            const std::string& cgroup_path) {
  std::string rel;
  if (mount_root == "/") {
    rel = cgroup_path;
  } else if (cgroup_path == mount_root) {
    rel = "";
  } else if (cgroup_path.rfind(mount_root + "/", 0) == 0) {
    rel = cgroup_path.substr(mount_root.size());
  } else {
    return "";
  }
  // A cgroup namespace shows cgroups outside it as "/../x": not reachable.
  if (rel.find("/..") != std::string::npos) return "";
  if (rel == "/") rel = "";
  return mount_point + rel;
}

const ProcCgroupEntry* v1EntryFor(const std::vector<ProcCgroupEntry>& entries,
                                  const std::vector<std::string>& controllers) {
  for (const ProcCgroupEntry& e : entries) {
    if (e.hierarchy == 0) continue;
    for (const std::string& c : controllers) {
      if (contains(e.controllers, c)) return &e;
    }
  }
  return nullptr;
}

}  // namespace

const V1Hierarchy* CgroupLayout::v1HierarchyOf(std::string_view controller) const {
  for (const V1Hierarchy& h : v1) {
    if (contains(h.controllers, controller)) return &h;
  }
  return nullptr;
}

bool CgroupLayout::hasController(std::string_view controller) const {
  if (version == CgroupVersion::kV1) return v1HierarchyOf(controller) != nullptr;
  return contains(v2.controllers, controller);
}

std::vector<CgroupMount> parseCgroupMounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (std::string_view line : lines(mountinfo)) {
    // "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTS"
    size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::vector<std::string_view> head = split(line.substr(0, dash), ' ');
    std::vector<std::string_view> tail = split(line.substr(dash + 3), ' ');
    if (head.size() < 6 || tail.size() < 3) continue;
    CgroupMount m;
    if (tail[0] == "cgroup2") {
      m.v2 = true;
    } else if (tail[0] != "cgroup") {
      continue;
    }
    m.root = unescapeMountinfo(head[3]);
    m.mount_point = unescapeMountinfo(head[4]);
    if (!m.v2) {
      for (std::string_view opt : split(tail[2], ',')) {
        if (!opt.empty() && !isCgroupFlag(opt)) m.controllers.emplace_back(opt);
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<ProcCgroupEntry> parseProcCgroup(std::string_view proc_self_cgroup) {
  std::vector<ProcCgroupEntry> out;
  for (std::string_view line : lines(proc_self_cgroup)) {
    // The path may itself contain ':', so split on the first two only.
    size_t first = line.find(':');
    if (first == std::string_view::npos) continue;
    size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    ProcCgroupEntry e;
    std::string_view id = line.substr(0, first);
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), e.hierarchy);
    if (ec != std::errc() || p != id.data() + id.size()) continue;
    for (std::string_view c : split(line.substr(first + 1, second - first - 1), ',')) {
      if (!c.empty()) e.controllers.emplace_back(c);
    }
    e.path = std::string(line.substr(second + 1));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> parseControllerList(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view word : split(text, ' ')) {
    while (!word.empty() && (word.back() == '\n' || word.back() == '\t')) word.remove_suffix(1);
    if (!word.empty()) out.emplace_back(word);
  }
  return out;
}

Result<CgroupLayout> layoutFromProc(std::string_view mountinfo, std::string_view proc_self_cgroup) {
  std::vector<CgroupMount> mounts = parseCgroupMounts(mountinfo);
  std::vector<ProcCgroupEntry> entries = parseProcCgroup(proc_self_cgroup);
  CgroupLayout layout;

  for (const CgroupMount& m : mounts) {
    if (m.v2) continue;
    bool ours = std::any_of(std::begin(kV1Controllers), std::end(kV1Controllers),
                            [&](std::string_view c) { return contains(m.controllers, c); });
    if (!ours) continue;
    // The same hierarchy may be mounted twice (bind mounts); the first reachable one wins.
    if (layout.v1HierarchyOf(m.controllers.front()) != nullptr) continue;
    const ProcCgroupEntry* e = v1EntryFor(entries, m.controllers);
    if (e == nullptr) {
      return PlainError() << "cgroup v1 hierarchy at " << m.mount_point
                          << " has no line in /proc/self/cgroup";
    }
    std::string dir = dirThroughMount(m.mount_point, m.root, e->path);
    if (dir.empty()) continue;  // another mount of this hierarchy may reach our cgroup
    layout.v1.push_back(V1Hierarchy{m.controllers, m.mount_point, std::move(dir)});
  }

  // The cgroup2 mount: prefer the conventional place, then the first that reaches our cgroup.
  const ProcCgroupEntry* v2_entry = nullptr;
  for (const ProcCgroupEntry& e : entries) {
    if (e.hierarchy == 0 && e.controllers.empty()) v2_entry = &e;
  }
  if (v2_entry != nullptr) {
    std::vector<const CgroupMount*> v2_mounts;
    for (const CgroupMount& m : mounts) {
      if (m.v2) v2_mounts.push_back(&m);
    }
    std::stable_partition(v2_mounts.begin(), v2_mounts.end(),
                          [](const CgroupMount* m) { return m->mount_point == kCgroupMountDir; });
    for (const CgroupMount* m : v2_mounts) {
      std::string dir = dirThroughMount(m->mount_point, m->root, v2_entry->path);
      if (dir.empty()) continue;
      layout.v2.mount_point = m->mount_point;
      layout.v2.own_dir = std::move(dir);
      break;
    }
  }

  if (!layout.v1.empty()) {
    layout.version = CgroupVersion::kV1;
    layout.hybrid = !layout.v2.mount_point.empty();
    return layout;
  }
  if (!layout.v2.mount_point.empty()) {
    layout.version = CgroupVersion::kV2;
    return layout;
  }
  return ErrnoError(ENOENT) << "no usable cgroup filesystem: neither a cgroup2 mount nor a v1 "
                               "hierarchy with memory, pids, cpu, cpuacct or freezer reaches "
                               "this process's cgroup";
}

std::string v2DelegatedRoot(const V2Mount& v2) {
  const std::string leaf_suffix = "/" + std::string(kDaemonLeaf);
  const std::string& dir = v2.own_dir;
  if (dir.size() >= v2.mount_point.size() + leaf_suffix.size() &&
      dir.compare(dir.size() - leaf_suffix.size(), leaf_suffix.size(), leaf_suffix) == 0) {
    return dir.substr(0, dir.size() - leaf_suffix.size());
  }
  return dir;
}

Result<CgroupLayout> detectCgroupLayout() {
  auto mountinfo = readFile("/proc/self/mountinfo", kMaxProcFileBytes);
  if (!mountinfo) return mountinfo.error();
  auto cgroup = readFile("/proc/self/cgroup", kMaxProcFileBytes);
  if (!cgroup) return cgroup.error();
  auto layout = layoutFromProc(*mountinfo, *cgroup);
  if (!layout) return layout;
  if (!layout->v2.mount_point.empty()) {
    const std::string path = v2DelegatedRoot(layout->v2) + "/cgroup.controllers";
    auto controllers = readFile(path, kMaxProcFileBytes);
    if (!controllers) return controllers.error();
    layout->v2.controllers = parseControllerList(*controllers);
  }
  return layout;
}

}  // namespace declaw::runtime
