// Launches declaw-init as PID 1 of a fresh set of namespaces.
//
// The daemon is multi-threaded, so the cloned child does as little as possible (STYLE rule 3):
// it waits for the parent to write its uid/gid maps, becomes namespace root, and execveat()s the
// declaw-init binary opened at daemon start. All mounting happens in the fresh, single-threaded
// init. The parent keeps a pidfd (to watch for exit and to kill without pid reuse races) and its
// end of the control socket.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/protocol.h"

namespace declaw::runtime {

struct IdRange {
  uint32_t host_base = 0;  // sandbox id 0 maps to this host id
  uint32_t count = kIdsPerSandbox;
};

struct LaunchSpec {
  std::string sandbox_id;
  IdRange ids;           // used for both uids and gids
  int init_exe_fd = -1;  // declaw-init, opened O_PATH|O_CLOEXEC at daemon start
  int devnull_fd = -1;   // /dev/null, becomes the child's 0, 1 and 2
  // Runs in the parent after the id maps are written and before the child may exec init: the
  // place to put the child into its cgroup, so nothing of the sandbox ever runs outside it.
  std::function<Result<void>(pid_t)> before_exec;
  // The new init's nice value: an init launched ahead starts at kAheadNice, so that its start
  // and its skeleton give way to whatever runs now; a create that takes it sets 0.
  int nice = 0;
};

inline constexpr int kAheadNice = 10;

struct LaunchedInit {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd userns;   // the sandbox's user namespace, for idmapped mounts (runtime/rootfs.h)
  UniqueFd control;  // SOCK_SEQPACKET; init holds the other end as kControlFd
};

// The uid_map/gid_map line for a range: "0 <base> <count>\n".
std::string idMapLine(const IdRange& ids);

// clone(NEWUSER|NEWNS|NEWPID|NEWNET|NEWUTS|NEWIPC|NEWCGROUP) + uid/gid map + exec of init.
// On failure nothing is left running.
Result<LaunchedInit> launchInit(const LaunchSpec& spec);

// The init zygote (runtime/init/zygote.h): a declaw-init started once, without namespaces, that
// forks each sandbox's init on request, so no create pays for an exec, libc's start-up or a copy
// of declawd's address space. Launches are serialised (the zygote answers at once); everything
// after the fork (id maps, before_exec, release) is launchInit's. Thread-safe.
class InitZygote {
 public:
  // Spawns declaw-init (as launchInit does, minus the namespaces) and makes it the zygote.
  static Result<std::unique_ptr<InitZygote>> start(int init_exe_fd, int devnull_fd);
  // Ends the zygote and reaps it.
  ~InitZygote();
  InitZygote(const InitZygote&) = delete;
  InitZygote& operator=(const InitZygote&) = delete;

  // launchInit's contract (a failed clone fails with its errno, as there). When the zygote
  // cannot answer (it died, hangs 5 s, or says something malformed), it is killed and this and
  // every later launch exec init instead: a broken zygote costs speed, never a create.
  Result<LaunchedInit> launch(const LaunchSpec& spec);

  uint64_t forked() const { return forked_; }  // inits the zygote forked
  uint64_t execed() const { return execed_; }  // inits exec'd because it could not

 private:
  InitZygote(pid_t pid, UniqueFd pidfd, UniqueFd socket)
      : pid_(pid), pidfd_(std::move(pidfd)), socket_(std::move(socket)) {}
  // Kills and reaps the zygote; launches exec from then on. Under mutex_.
  void end();

  pid_t pid_;
  UniqueFd pidfd_;
  std::mutex mutex_;  // one request at a time on the socket
  UniqueFd socket_;
  bool broken_ = false;
  std::atomic<uint64_t> forked_{0};
  std::atomic<uint64_t> execed_{0};
};

// Opens the declaw-init binary for later execveat (O_PATH keeps it valid if the file is replaced).
Result<UniqueFd> openInitExecutable(const std::string& path);

}  // namespace declaw::runtime
