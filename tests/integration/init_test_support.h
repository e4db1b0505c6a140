// Test support for declaw-init: starts real inits with runtime::launchInit (root only), and
// speaks the control protocol synchronously, so each test can read like a conversation.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/io.h"
#include "common/unique_fd.h"
#include "runtime/launcher.h"
#include "runtime/protocol.h"
#include "runtime/rootfs.h"

namespace declaw::init_test {

// Host ids given to the test sandboxes: far above any real user, and away from the daemon's
// default pool, so a stray process is recognisable by its uid.
inline constexpr uint32_t kTestIdBase = 0x30000000;
inline constexpr uint32_t kTestIdSlots = 64;
inline constexpr auto kTimeout = std::chrono::seconds(20);

// Fails the current test loudly unless running as root (no silent skips).
void requireRoot();

// A config the sandbox accepts: template base, 256 MiB root (with /tmp), the real seccomp policy.
runtime::InitConfig defaultConfig();

// The host's count of mountinfo lines mentioning "declaw"; sandboxes must never change it.
int hostDeclawMounts();
// Host pids whose real uid lies in the test id range.
std::vector<pid_t> processesWithTestIds();

struct RunResult {
  int wait_status = -1;
  std::string out;
  std::string err;
  int exitCode() const;  // -1 unless exited normally
};

struct ReplyWithFds {
  runtime::Reply reply;
  std::vector<UniqueFd> fds;
};

// Runs after init is launched and before its config is sent: where the daemon creates the
// sandbox's veth (its peer moved into the namespace of init's pid).
using BeforeConfig = std::function<void(const runtime::LaunchedInit&)>;

class TestSandbox {
 public:
  // Launches init and sends `config`. Ready is awaited by the caller: ready() or setupFailure().
  // `build`: how the root is built (runtime/rootfs.h); kAuto is what declawd does here.
  // `skeleton`: as for an init launched ahead, init first writes the built-ins' skeleton into
  // a disk made ahead (runtime::prepareDisk, detached builds only), and the config says so.
  explicit TestSandbox(const runtime::InitConfig& config = defaultConfig(),
                       const BeforeConfig& before_config = {},
                       runtime::RootfsBuild build = runtime::RootfsBuild::kAuto,
                       bool skeleton = false);
  ~TestSandbox();  // closes the control socket and waits for init (and so the sandbox) to die
  TestSandbox(const TestSandbox&) = delete;
  TestSandbox& operator=(const TestSandbox&) = delete;

  // The first message: true for Ready. For SetupFailed, the failure.
  bool ready();
  std::optional<runtime::SetupFailed> setupFailure();

  // bash -l -c script as uid (gid = uid), waiting for it to exit; stdout and stderr collected.
  RunResult run(const std::string& script, uint32_t uid = 1000, bool keep_caps = false);
  // Spawns without waiting; the reply carries the pid (value) or the error.
  runtime::Reply spawn(runtime::SpawnRequest request);
  int waitExited(int32_t pid);  // the wait status

  ReplyWithFds fileOp(runtime::FileOpRequest request);
  runtime::Reply signal(int32_t pid, int signal, bool group = true);
  // A raw packet, for malformed-input tests.
  void sendRaw(const std::string& data);

  pid_t initPid() const { return init_.pid; }
  int pidfd() const { return init_.pidfd.get(); }
  // Closes the daemon's end of the control socket and waits for init to exit; its wait status.
  int closeControlAndWait();

 private:
  Packet receive();  // next packet, failing the test after kTimeout
  ReplyWithFds awaitReply(uint64_t id);

  runtime::LaunchedInit init_;
  bool waited_ = false;
  uint64_t next_id_ = 1;
  std::map<int32_t, int> exits_;
  std::map<uint64_t, ReplyWithFds> replies_;
  std::optional<Packet> first_;
};

// Reads an fd from its start to EOF.
std::string readWhole(int fd);

}  // namespace declaw::init_test
