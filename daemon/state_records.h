// Host-side state of each sandbox, recorded under <state_dir>/sandboxes/<id>.json before the
// sandbox is launched, so a restarted daemon can remove what a crashed one left.
//
// Sandboxes do not outlive the daemon (declaw-init exits when its control socket closes, and
// the kernel then kills the whole pid namespace), so cleanup is: make sure the recorded init is
// dead (matching its start time, so a reused pid is never killed), then drop the record.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace declaw::daemon {

struct StateRecord {
  std::string sandbox_id;
  uint32_t id_base = 0;
  pid_t init_pid = 0;             // 0 until launched
  uint64_t init_start_ticks = 0;  // /proc/<pid>/stat field 22, to tell a reused pid apart
};

class StateRecords {
 public:
  explicit StateRecords(std::string state_dir);

  Result<void> prepare();  // creates <state_dir>/sandboxes (0700)
  Result<void> write(const StateRecord& record);
  void remove(const std::string& sandbox_id);
  // Kills what each record names (if still the same process), lets `also_clean` remove the
  // rest of that sandbox's host-side state (its cgroup), and removes the records. Returns how
  // many records were cleaned.
  size_t cleanLeftovers(const std::function<void(const std::string& sandbox_id)>& also_clean);

  static uint64_t processStartTicks(pid_t pid);  // 0 if gone

 private:
  std::string pathFor(const std::string& sandbox_id) const;
  std::string dir_;
};

}  // namespace declaw::daemon
