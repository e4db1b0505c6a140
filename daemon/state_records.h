// Host-side state of each sandbox, recorded under <state_dir>/sandboxes/<id>.json before the
// sandbox is launched, so a restarted daemon can find what an earlier one left.
//
// With live restore (docs/architecture.md), a running sandbox's record also holds what the next
// daemon needs to adopt it (SandboxRecord): its owner, settings, clocks, template layers and
// the inodes of its namespaces. Any other record is cleanup: make sure the recorded init is
// dead (matching its start time, so a reused pid is never killed), then drop the record.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/services.h"
#include "common/result.h"

namespace declaw::daemon {

// The namespaces a sandbox's init was created in, by inode (/proc/<pid>/ns/<name>): an adopted
// init must still be in these, or it is not the sandbox it claims to be.
inline constexpr std::array<const char*, 4> kRecordedNamespaces = {"user", "pid", "mnt", "net"};
using NamespaceInodes = std::array<uint64_t, kRecordedNamespaces.size()>;
// Reads them; nullopt when the process is gone.
std::optional<NamespaceInodes> namespaceInodesOf(pid_t pid);

// What a restarted daemon needs to adopt a running sandbox (live restore).
struct SandboxRecord {
  uint32_t protocol = 0;  // runtime::kProtocolVersion of the init it runs
  uid_t owner = 0;
  api::CreateSandboxSpec spec;
  api::Clock::time_point started_at;
  bool paused = false;
  // Running: when its timeout ends (wall clock). Paused: how long it had left.
  api::Clock::time_point end_at;
  std::chrono::milliseconds left{0};
  std::string template_name;        // as resolved (a built-in's or an image's name)
  std::vector<std::string> layers;  // the layers its root is made of, topmost first
  bool usr_overlay = false;         // its /usr is an overlay (the disk holds its changes)
  NamespaceInodes namespaces{};
  std::string net_subnet;  // the /30 of its link (internet access); empty: no link
};

struct StateRecord {
  std::string sandbox_id;
  uint32_t id_base = 0;
  pid_t init_pid = 0;                    // 0 until launched
  uint64_t init_start_ticks = 0;         // /proc/<pid>/stat field 22, to tell a reused pid apart
  std::optional<SandboxRecord> sandbox;  // set once it runs, with live restore
  // An init launched ahead (launch_ahead.h) that no create took yet: cleaned at start like any
  // other, and not counted as a sandbox left behind.
  bool ahead = false;
};

// The JSON form of a record (pure; unit-tested). Parsing fails on anything malformed.
std::string recordToJson(const StateRecord& record);
Result<StateRecord> recordFromJson(const std::string& text);

class StateRecords {
 public:
  explicit StateRecords(std::string state_dir);

  Result<void> prepare();  // creates <state_dir>/sandboxes (0700)
  Result<void> write(const StateRecord& record);
  void remove(const std::string& sandbox_id);
  using AlsoClean = std::function<void(const std::string& sandbox_id)>;
  // Reads every record. Those `adoptable` accepts are returned for the caller to adopt (or
  // clean()); the rest are cleaned now, and counted in *cleaned.
  std::vector<StateRecord> sweep(const std::function<bool(const StateRecord&)>& adoptable,
                                 const AlsoClean& also_clean, size_t* cleaned);
  // Kills what the record names (if still the same process), lets `also_clean` remove the rest
  // of that sandbox's host-side state (its cgroup, which it thaws), and removes the record.
  void clean(const StateRecord& record, const AlsoClean& also_clean);

  static uint64_t processStartTicks(pid_t pid);  // 0 if gone (or a zombie)

 private:
  std::string pathFor(const std::string& sandbox_id) const;
  std::string dir_;
};

}  // namespace declaw::daemon
