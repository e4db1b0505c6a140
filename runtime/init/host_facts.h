// What the host offers at the paths the rootfs plan may use: the only input of the plan besides
// InitConfig. probeHost() fills it with lstat(); unit tests build one by hand.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace declaw::runtime::init {

enum class HostKind { kMissing, kDirectory, kFile, kSymlink, kCharDevice, kOther };

struct HostEntry {
  HostKind kind = HostKind::kMissing;
  std::string symlink_target;  // kSymlink: the link's contents, unresolved
  unsigned mode = 0;           // st_mode & 07777
};

struct HostFacts {
  std::map<std::string, HostEntry> entries;  // absolute host path -> what lstat() saw

  // kMissing for a path that was not probed or is absent.
  HostEntry at(const std::string& path) const;
  // The names probed directly inside `dir` ("/etc" -> "ssl", "passwd", ...), sorted.
  std::vector<std::string> namesIn(const std::string& dir) const;
  // Records one entry (for tests and the probe).
  void set(const std::string& path, HostEntry entry) { entries[path] = std::move(entry); }
};

// lstat()s every fixed path the plan may ask about, and every entry of the host's /etc (so that
// prefix allow-lists such as "python3*" can be matched). Never follows symlinks.
HostFacts probeHost();

}  // namespace declaw::runtime::init
