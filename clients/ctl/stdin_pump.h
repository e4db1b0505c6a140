// Forwards declawctl's stdin to a running process (POST .../commands/{pid}/stdin, each read as
// one request on its own connection) on a thread of its own, while the main thread reads the
// process's output stream. The thread waits in poll(2) on the input and on a wake-up pipe, so
// stop() ends it promptly, and window changes (in terminal mode) become resize requests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::ctl {

class ApiClient;

// Bytes read from stdin per request: a terminal delivers keystrokes one read at a time, a pipe
// up to this much.
inline constexpr size_t kStdinChunkBytes = size_t{64} * 1024;

enum class PumpMode {
  kPipe,      // -i: at EOF, close the process's stdin (DELETE .../stdin)
  kTerminal,  // -it: at EOF, send ^D (the terminal's EOF); resize on window changes
};

class StdinPump {
 public:
  // Starts forwarding input_fd to process pid of sandbox id. The thread blocks the signals
  // declawctl handles (SIGINT, SIGTERM, SIGHUP, SIGWINCH), so they interrupt the main thread.
  static Result<std::unique_ptr<StdinPump>> start(std::string socket_path, std::string id,
                                                  int64_t pid, PumpMode mode,
                                                  int input_fd = STDIN_FILENO);
  StdinPump(const StdinPump&) = delete;
  StdinPump& operator=(const StdinPump&) = delete;
  ~StdinPump() { stop(); }

  // Ends the thread (after the request in flight, if any) and waits for it. Idempotent.
  void stop();

  // The write end of the wake-up pipe: 'w' announces a window change (see notifyWindowChanges).
  int wakeFd() const { return wake_write_.get(); }

  // Terminal mode: the remote program has written something. The ^D for local EOF waits for
  // this: a program that sets up its terminal (readline) before its first prompt may discard an
  // EOF that arrived earlier, and would then wait for input forever.
  void outputArrived();

 private:
  StdinPump(std::string socket_path, std::string id, int64_t pid, PumpMode mode, int input_fd)
      : socket_path_(std::move(socket_path)),
        id_(std::move(id)),
        pid_(pid),
        mode_(mode),
        input_fd_(input_fd) {}

  void run();
  // Drains the wake-up pipe; false once a stop was asked for.
  bool drainWakeups();
  // Sends bytes, waiting while the process's stdin queue is full; false when there is no more
  // point in sending (the process's stdin is closed, it ended, or declawd failed).
  bool forward(ApiClient& api, std::string_view bytes);
  void resize(ApiClient& api);
  void atEndOfInput(ApiClient& api);
  void warn(const std::string& message) const;

  std::string socket_path_;
  std::string id_;
  int64_t pid_;
  PumpMode mode_;
  int input_fd_;
  UniqueFd wake_read_;
  UniqueFd wake_write_;
  bool stopping_ = false;  // the thread's own: a stop was read from the pipe
  bool resize_pending_ = false;
  bool eof_pending_ = false;  // terminal mode: local EOF seen, ^D not sent yet
  std::atomic<bool> output_seen_{false};
  std::thread thread_;
};

}  // namespace declaw::ctl
