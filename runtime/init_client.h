// The daemon's side of one sandbox's control socket: request/reply matching, exit reports, and
// a reader thread. Everything init sends is untrusted: replies are matched by request id, fds
// beyond what a reply may carry are closed, and a malformed packet ends the conversation.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/protocol.h"

namespace declaw::runtime {

struct ReplyWithFds {
  Reply reply;
  std::vector<UniqueFd> fds;
};

// A process a held init handed over on attach (live restore).
struct HeldProcess {
  Held held;
  std::vector<UniqueFd> fds;  // pty: [master]; else [stdout, stderr] read ends (+ stdin's write)
};

class InitClient {
 public:
  using Duration = std::chrono::milliseconds;

  // Takes the control socket after init said Ready (see waitReady) and starts the reader.
  explicit InitClient(UniqueFd control);
  ~InitClient();  // closes the socket and joins the reader
  InitClient(const InitClient&) = delete;
  InitClient& operator=(const InitClient&) = delete;

  // The setup handshake, in two halves so the caller can work while init sets up: sends the
  // config, then waits for Ready or SetupFailed. Call each once, before constructing.
  static Result<void> sendConfig(int control, const InitConfig& config, std::span<const int> fds);
  static Result<void> awaitReady(int control, Duration timeout);

  // Live restore: gives init the listening socket where the next daemon will connect; from
  // then on init outlives this connection. Call after awaitReady, before constructing.
  static Result<void> hold(int control, int listen_fd);
  // Before sendConfig, to an init launched ahead: has it write a built-in's skeleton into
  // `upper_fd` (protocol.h, kSkeleton), and waits for its answer.
  static Result<void> writeSkeleton(int control, const SkeletonRequest& request, int upper_fd,
                                    Duration timeout);
  // On a new connection to a held init: sends kAttach and reads what init holds. EPROTO for
  // anything malformed or more than max_held processes (init holds only the daemon's running
  // and unreported ones: more is a hostile init); EPROTONOSUPPORT (naming both versions) for
  // another protocol version.
  static Result<std::vector<HeldProcess>> attach(int control, Duration timeout, size_t max_held);

  // Sends a request (its request_id is assigned here) and waits for the matching reply.
  // ETIMEDOUT after `timeout`; EPIPE if init is gone.
  Result<ReplyWithFds> spawn(SpawnRequest request, std::span<const int> fds, Duration timeout);
  Result<ReplyWithFds> signal(SignalRequest request, Duration timeout);
  Result<ReplyWithFds> fileOp(FileOpRequest request, Duration timeout);
  // Live restore: init drops its copy of a held process's stdin (the daemon closed it on
  // purpose); no answer.
  Result<void> releaseStdin(int32_t pid);

  // The wait status of a spawned pid once init reported it; ETIMEDOUT after `timeout`; EPIPE if
  // init is gone.
  Result<int> waitExit(int32_t pid, Duration timeout);
  // Non-blocking: true and the status if the pid has exited.
  bool pollExit(int32_t pid, int* status);
  // An exit init reported before this client existed (a held process that ended while no
  // daemon ran): pollExit sees it as if it had just arrived.
  void addExit(int32_t pid, int wait_status);
  // Forget an exit report nobody will ask for (the command's waiter gave up).
  void forgetExit(int32_t pid);

  // Called on the reader thread, with the client's lock held, whenever init reports an exit
  // (the status is then available to pollExit). It must be quick and must not call back into
  // this client. Replacing it (or passing null) guarantees the old one is not running.
  void onExit(std::function<void(int32_t pid)> callback);

  // The conversation is over (init is known to be dead): alive() turns false now, waiters and
  // the onClosed callback learn it at once, rather than when the reader sees the socket close.
  // Idempotent.
  void markClosed();

  // False once the control socket closed or init sent garbage.
  bool alive() const;
  // Called (on the reader thread) once when the conversation ends.
  void onClosed(std::function<void()> callback);

 private:
  Result<ReplyWithFds> call(const std::string& packet, uint64_t id, std::span<const int> fds,
                            Duration timeout);
  void readLoop();
  uint64_t nextId();

  UniqueFd control_;
  UniqueFd wake_;  // eventfd that stops the reader
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, ReplyWithFds> replies_;  // arrived, not yet taken
  std::map<uint64_t, bool> waiting_;          // request ids someone waits for
  void forgetExitLocked(int32_t pid);

  std::map<int32_t, int> exits_;    // pid -> wait status
  std::deque<int32_t> exit_order_;  // pids of exits_, oldest first
  std::set<uint64_t> spawn_ids_;    // request ids of spawns awaiting their reply
  bool alive_ = true;
  std::function<void()> on_closed_;
  std::function<void(int32_t)> on_exit_;
  std::thread reader_;
};

}  // namespace declaw::runtime
