// The sandbox's /etc: which host files and directories are let in, and the generated files.
// Pure: the plan (mount_plan.h) turns these into steps; nothing here touches the filesystem.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/protocol.h"

namespace declaw::runtime::init {

// Host /etc files copied into the sandbox's /etc when present (a host symlink is recreated as
// the same symlink: localtime and os-release point into /usr, which the sandbox has).
std::span<const char* const> etcCopiedFiles();
// Host /etc directories bound read-only when present.
std::span<const char* const> etcBoundDirs();
// Name prefixes of host /etc directories bound read-only ("python3" matches python3.11).
std::span<const char* const> etcBoundDirPrefixes();

// The host's /etc/profile as the sandbox gets it: each `"$(id -u)"` (Debian's test for root, run
// by every login shell, so by every `cmd` command) becomes `"${EUID:-$(id -u)}"`. bash always
// sets EUID (read-only, to what id -u prints), so a bash login shell no longer forks and execs
// id: 1.3 ms of a 4 ms command on the project's machine. Other shells have no EUID and run id
// as before. Everything else in the file is kept as the host has it.
std::string answerIdFromEuid(std::string profile);

// The sandbox's own view of uid 65534 and the tty group (devpts gid=5).
inline constexpr uint32_t kNobodyId = 65534;
inline constexpr uint32_t kTtyGid = 5;

struct GeneratedFile {
  std::string name;  // inside /etc
  std::string contents;
  uint32_t mode = 0644;
};

// passwd, group, hosts, hostname, resolv.conf for `config` (validated: see validateConfig).
std::vector<GeneratedFile> generatedEtcFiles(const InitConfig& config);

// True for a hostname safe to write into /etc/hosts and pass to sethostname(2): 1-63 bytes of
// [A-Za-z0-9-.], not starting with '-' or '.'.
bool isValidHostname(std::string_view name);

}  // namespace declaw::runtime::init
