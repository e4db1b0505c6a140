// What the host offers at the paths a built-in's rootfs plan may use (runtime/init/mount_plan.h):
// found by lstat() (runtime/init/host_facts.h: probeHost), by the daemon once for many sandboxes
// and sent in InitConfig, or by init itself when the config has none.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace declaw::runtime {

enum class HostKind { kMissing, kDirectory, kFile, kSymlink, kCharDevice, kOther };

struct HostEntry {
  HostKind kind = HostKind::kMissing;
  std::string symlink_target;  // kSymlink: the link's contents, unresolved
  unsigned mode = 0;           // st_mode & 07777

  bool operator==(const HostEntry&) const = default;
};

struct HostFacts {
  std::map<std::string, HostEntry> entries;  // absolute host path -> what lstat() saw

  // kMissing for a path that was not probed or is absent.
  HostEntry at(const std::string& path) const;
  // The names probed directly inside `dir` ("/etc" -> "ssl", "passwd", ...), sorted.
  std::vector<std::string> namesIn(const std::string& dir) const;
  // Records one entry (for tests and the probe).
  void set(const std::string& path, HostEntry entry) { entries[path] = std::move(entry); }

  bool operator==(const HostFacts&) const = default;
};

}  // namespace declaw::runtime
