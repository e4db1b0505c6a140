// declaw-init's service loop, once the sandbox is set up: requests from the daemon on the
// control socket, and SIGCHLD through a signalfd. Single-threaded; every child is reaped (PID 1
// inherits orphans), and only the pids it spawned for the daemon are reported as Exited.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/io.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::runtime::init {

class Server {
 public:
  // Blocks SIGCHLD (it must already be blocked when any child can exit: see main.cc) and opens
  // the signalfd.
  static Result<Server> create();

  // Serves until the control socket reaches EOF or fails (the daemon is gone or dropped the
  // sandbox): then returns the exit status, and the kernel kills the rest of the pid namespace
  // as PID 1 exits (pid_namespaces(7)). After kHold (live restore), EOF does not end it: init
  // goes on reaping and holding, and accepts the next daemon on the listening socket.
  int run();

  uint64_t malformedCount() const { return malformed_; }

 private:
  explicit Server(UniqueFd signal_fd) : signal_fd_(std::move(signal_fd)) {}

  // False when the conversation is over.
  bool onControlReadable();
  void onPacket(Packet& packet);
  void reapChildren();
  // False when the daemon is gone (the message is lost).
  bool send(const std::string& message, std::span<const int> fds = {});
  void onHold(Packet& packet);
  void onAttach(const Packet& packet);
  void onReleaseStdin(const Packet& packet);
  // The control socket ended: true if init lives on (it holds a listening socket).
  bool detach();
  void acceptDaemon();

  // A spawned process as init holds it for the next daemon (live restore).
  struct HeldProcess {
    std::vector<UniqueFd> fds;  // pty: [master]; else [stdout, stderr] read ends
    UniqueFd stdin;             // stdin's write end (hold_stdin), until kReleaseStdin
    bool pty = false;
    std::string note;
    bool exited = false;  // ended while no daemon heard of it
    int wait_status = 0;
  };

  UniqueFd signal_fd_;
  std::set<pid_t> spawned_;  // commands whose exit the daemon waits for
  UniqueFd listen_;          // after kHold: where the next daemon connects
  bool connected_ = true;    // kControlFd is a live connection
  // The connected daemon knows what init holds: false from a new connection's accept until its
  // kAttach is answered (an exit meanwhile is kept for the kHeld list, not sent before it).
  bool attached_ = true;
  std::map<pid_t, HeldProcess> held_;
  uint64_t malformed_ = 0;  // packets ignored because they could not be decoded
};

}  // namespace declaw::runtime::init
