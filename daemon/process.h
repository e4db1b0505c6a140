// One process started through the API, as the daemon holds it: the daemon's ends of its pipes
// (or its terminal's master), its output buffers, its stdin queue, its timeout, and its exit.
//
// A pump thread per process moves bytes: output into the buffers (always, so a slow or absent
// reader never blocks the process), queued stdin out, the command timeout, and the exit that
// init reports. Readers (the foreground runner, streaming responses, waiters) take the mutex
// and wait on the condition variable. Everything init says about the process is untrusted but
// harmless here: it can only make this process's own record wrong.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/services.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "daemon/output_buffer.h"
#include "daemon/pump_step.h"
#include "runtime/init_client.h"

namespace declaw::daemon {

struct ProcessPlan {
  runtime::SpawnRequest spawn;    // argv, env, cwd, ids, and pty with its size
  std::string cmd;                // for ProcessInfo
  std::vector<std::string> argv;  // for ProcessInfo: the command when it was an argv
  std::string user;
  bool background = false;
  std::string stdin_data;                // written first
  bool stdin_open = false;               // then keep stdin open (else EOF after stdin_data)
  std::chrono::milliseconds timeout{0};  // 0 = none
  OutputBuffer::Keep keep = OutputBuffer::Keep::kTail;
  uint64_t buffer_bytes = 0;     // per stream
  uint64_t max_stdin_bytes = 0;  // queued, unread stdin
  // The sandbox's OOM kill count (its memory cgroup); null without cgroups. Read at start and
  // when the process finishes: a difference means the OOM killer struck meanwhile.
  std::function<uint64_t()> oom_kills;
  // The caller pumps until the process has finished (Process::pumpUntilFinished): a foreground
  // run's request thread, which would only wait otherwise. Else a thread of its own does.
  bool pump_on_caller = false;
};

class Process : public std::enable_shared_from_this<Process> {
 public:
  // Spawns through init and starts the pump (unless plan.pump_on_caller). The process is
  // running when this returns.
  static Result<std::shared_ptr<Process>> start(std::shared_ptr<runtime::InitClient> init,
                                                ProcessPlan plan);
  // Live restore: a process a held init handed over (runtime::HeldProcess), with the record
  // of it the previous daemon gave init (untrusted: it can only make this record wrong). Its
  // stdin is open if init held it (hold_stdin), else closed; a terminal's input works.
  static Result<std::shared_ptr<Process>> adopt(std::shared_ptr<runtime::InitClient> init,
                                                runtime::HeldProcess held, uint64_t buffer_bytes,
                                                uint64_t max_stdin_bytes);
  ~Process();  // stops the pump (closing the daemon's ends) and joins it
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  // plan.pump_on_caller: pumps on the calling thread until the process has finished; whatever
  // the pump still has to do after that goes on on a thread of its own.
  void pumpUntilFinished();
  // The most memory its output buffers may take, counted against the sandbox's budget (0 for a
  // foreground command, whose capture lives only as long as its request).
  uint64_t bufferReservation() const;
  api::ProcessInfo info() const;
  bool finished() const;

  // Init reported an exit for this pid, or init is gone: look again. Cheap; callable with
  // other locks held (it only writes an eventfd).
  void wake();

  // Blocks until finished (or `deadline`); true if finished. Without a deadline the wait is
  // still bounded: the process finishes at the latest when its sandbox ends.
  bool waitFinished(std::chrono::steady_clock::time_point deadline);
  void waitFinished();
  // A foreground command's answer, once finished; its captured output is handed over (the
  // buffers keep nothing more). ESRCH when the sandbox ended under it.
  Result<api::RunResult> takeResult();

  // While the sandbox is paused the command timeout stands still.
  void pauseClock();
  void resumeClock();

  Result<void> writeStdin(const std::string& data);
  Result<void> closeStdin();
  Result<void> signal(int sig);
  Result<void> resize(uint16_t rows, uint16_t cols);

  // A reader's view of the output, from the oldest byte kept.
  std::unique_ptr<api::ProcessWatch> watch(bool follow);

 private:
  friend class ProcessWatchImpl;
  Process() = default;

  enum Stream { kOut = 0, kErr = 1 };

  static constexpr std::chrono::milliseconds kSignalTimeout{5000};

  // The pump (process_pump.cc): each pass looks at init and the clock, carries out what
  // decidePumpStep says, then polls the pipes (or the terminal) and moves bytes.
  struct PumpState {
    std::optional<int> status;
    PumpView view;
  };
  // Until the pump ends (true), or with `until_finished` until the process has finished and
  // the pump must go on (false: a child the process left still holds its output).
  bool runPump(PumpState& state, bool until_finished);
  bool outputsOpen() const;
  void finishPumped(PumpFinish finish, std::optional<int> status);
  void killForTimeout();
  // Closes the stdin pipe when its time has come; true while queued stdin waits to be written.
  bool settleStdin(bool finished);
  // One poll of at most `wait_ms` and the I/O it allows; false when poll itself fails.
  bool pollOnce(bool want_stdin, int wait_ms);
  // The pump is done (or told to stop): close everything, and count the process finished.
  void endPump(std::optional<int> status);
  // Reads what is there now; false at EOF or a read error.
  bool drainOutput(Stream stream);
  void writePendingStdin();
  void markFinished(std::optional<int> wait_status, std::string error);
  void closeStdinLocked();
  // The close a caller asked for (or stdin_data then EOF): init's copy must go too.
  void closeStdinOnPurposeLocked();
  // Sends init the release of its copy of stdin, once, if the pump closed stdin on purpose.
  void releaseHeldStdin();

  std::shared_ptr<runtime::InitClient> init_;
  int pid_ = 0;
  ProcessPlan plan_;
  api::Clock::time_point started_at_;
  std::chrono::steady_clock::time_point started_steady_;
  UniqueFd wake_fd_;  // eventfd: exit reported, stdin queued, stop

  // Owned by the pump thread; closed only by it, under mutex_ (resize reads term_ under it).
  UniqueFd out_[2];  // pipes (not used for a PTY)
  UniqueFd term_;    // a PTY's master: output and input
  UniqueFd stdin_;   // the stdin pipe's write end

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  OutputBuffer buffers_[2]{{OutputBuffer::Keep::kTail, 0}, {OutputBuffer::Keep::kTail, 0}};
  std::string stdin_queue_;
  size_t stdin_sent_ = 0;  // bytes at the front of stdin_queue_ already written
  bool stdin_close_requested_ = false;
  bool stdin_open_ = false;
  bool stdin_held_ = false;        // init keeps a copy of stdin's write end (live restore)
  bool stdin_to_release_ = false;  // closed on purpose: tell init (releaseHeldStdin)
  bool timed_out_ = false;
  std::optional<std::chrono::steady_clock::time_point> clock_paused_at_;
  std::chrono::steady_clock::duration clock_shift_{};
  bool finished_ = false;
  bool output_taken_ = false;
  uint64_t oom_kills_at_start_ = 0;
  bool oom_killed_ = false;
  bool stop_ = false;
  std::optional<int> wait_status_;
  std::string error_;
  api::Clock::time_point ended_at_;
  uint64_t end_at_finish_[2] = {0, 0};  // output offsets when the exit was reported

  std::thread pump_;
};

}  // namespace declaw::daemon
