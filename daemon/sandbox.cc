#include "daemon/sandbox.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/command_env.h"
#include "daemon/state_records.h"

namespace declaw::daemon {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kSetupTimeout{30000};
constexpr milliseconds kFileOpTimeout{30000};
constexpr uint32_t kUserId = 1000;

}  // namespace

Result<std::shared_ptr<Sandbox>> Sandbox::start(const SandboxStart& s) {
  auto log = logger("runtime");
  runtime::LaunchSpec launch{s.id, s.ids, s.init_exe_fd, s.devnull_fd};
  auto launched = runtime::launchInit(launch);
  if (!launched) return launched.error();

  std::shared_ptr<Sandbox> sbx(new Sandbox());
  sbx->id_ = s.id;
  sbx->owner_ = s.owner;
  sbx->ids_ = s.ids;
  sbx->spec_ = s.spec;
  sbx->limits_ = *s.limits;
  sbx->processes_ = std::make_shared<ProcessTable>(
      ProcessLimits{s.limits->max_processes, s.limits->max_finished_processes});
  sbx->init_pid_ = launched->pid;
  sbx->pidfd_ = std::move(launched->pidfd);
  if (s.on_launched) s.on_launched(launched->pid, StateRecords::processStartTicks(launched->pid));

  runtime::InitConfig config;
  config.sandbox_id = s.id;
  config.hostname = s.id;
  config.template_name = s.spec.template_name;
  config.root_size_bytes = s.root_size_bytes;
  config.tmp_size_bytes = s.tmp_size_bytes;
  config.user_uid = kUserId;
  config.user_gid = kUserId;
  config.seccomp_bpf = *s.seccomp_bpf;
  if (auto r = runtime::InitClient::handshake(launched->control.get(), config, kSetupTimeout); !r) {
    sbx->kill();
    return r.error();
  }
  sbx->client_ = std::make_shared<runtime::InitClient>(std::move(launched->control));
  // The pumps learn of exits, and of init's end, from the client's reader thread.
  sbx->client_->onExit([table = sbx->processes_](int32_t pid) { table->notify(pid); });
  sbx->client_->onClosed([table = sbx->processes_] { table->notify(0); });
  sbx->started_at_ = api::Clock::now();
  sbx->deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(s.spec.timeout_s);
  log->info("[{}] running (init pid {}, ids {}+65536, template {})", s.id, sbx->init_pid_,
            s.ids.host_base, s.spec.template_name);
  return sbx;
}

Sandbox::~Sandbox() { kill(); }

std::shared_ptr<runtime::InitClient> Sandbox::client() const {
  std::lock_guard lock(mutex_);
  return client_;
}

api::SandboxInfo Sandbox::info() const {
  std::lock_guard lock(mutex_);
  api::SandboxInfo i;
  i.sandbox_id = id_;
  i.template_id = spec_.template_name;
  i.metadata = spec_.metadata;
  i.envs = spec_.envs;
  i.started_at = started_at_;
  if (killed_) {
    i.end_at = killed_at_;
  } else {
    auto left = deadline_ - std::chrono::steady_clock::now();
    i.end_at = api::Clock::now() + std::chrono::duration_cast<api::Clock::duration>(left);
  }
  i.state = killed_ ? "killed" : "running";
  i.owner_uid = owner_;
  i.allow_internet_access = spec_.allow_internet_access;
  return i;
}

bool Sandbox::running() const {
  std::lock_guard lock(mutex_);
  return !killed_;
}

bool Sandbox::initAlive() const {
  auto c = client();
  return c && c->alive();
}

std::chrono::steady_clock::time_point Sandbox::deadline() const {
  std::lock_guard lock(mutex_);
  return deadline_;
}

void Sandbox::setTimeout(std::chrono::seconds from_now) {
  std::lock_guard lock(mutex_);
  deadline_ = std::chrono::steady_clock::now() + from_now;
}

ProcessPlan Sandbox::planFor(const api::ProcessSpec& spec) const {
  const api::RunSpec& run = spec.run;
  bool root = run.user == "root";
  std::string home = root ? "/root" : "/home/user";
  ProcessPlan plan;
  if (spec.pty && run.cmd.empty()) {
    plan.spawn.argv = {"/bin/bash", "-i", "-l"};
  } else {
    plan.spawn.argv = {"/bin/bash", "-l", "-c", run.cmd};
  }
  api::StringMap envs = run.envs;
  if (spec.pty) envs.try_emplace("TERM", "xterm-256color");
  plan.spawn.env = commandEnvironment(run.user, home, spec_.envs, envs);
  plan.spawn.cwd = run.cwd.empty() ? home : run.cwd;
  plan.spawn.uid = root ? 0 : kUserId;
  plan.spawn.gid = root ? 0 : kUserId;
  plan.spawn.keep_caps = root;
  plan.spawn.pty = spec.pty;
  plan.spawn.rows = spec.rows;
  plan.spawn.cols = spec.cols;
  plan.cmd = run.cmd;
  plan.user = run.user;
  plan.background = spec.background;
  plan.stdin_data = run.stdin_data;
  plan.stdin_open = spec.stdin_open;
  plan.timeout = std::chrono::seconds(run.timeout_s);
  plan.keep = OutputBuffer::Keep::kTail;
  plan.buffer_bytes = limits_.output_buffer_bytes;
  plan.max_stdin_bytes = limits_.max_stdin_buffer_bytes;
  return plan;
}

Result<std::shared_ptr<Process>> Sandbox::start(ProcessPlan plan) {
  auto c = client();
  if (!c) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  auto process = processes_->start(std::move(c), std::move(plan));
  if (!process && process.error().code == EPIPE) {
    return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  }
  return process;
}

Result<api::RunResult> Sandbox::run(const api::RunSpec& spec) {
  ProcessPlan plan = planFor(api::ProcessSpec{spec});
  // A foreground answer carries the output from its first byte, up to the cap.
  plan.keep = OutputBuffer::Keep::kHead;
  plan.buffer_bytes = limits_.max_output_bytes;
  auto process = start(std::move(plan));
  if (!process) return process.error();
  (*process)->waitFinished();
  auto result = (*process)->takeResult();
  if (!result) return ErrnoError(ESRCH) << "sandbox " << id_ << ": " << result.error().message;
  return result;
}

Result<std::shared_ptr<Process>> Sandbox::startProcess(const api::ProcessSpec& spec) {
  return start(planFor(spec));
}

Result<std::shared_ptr<Process>> Sandbox::process(int pid) {
  if (!running()) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  return processes_->find(pid);
}

std::vector<api::ProcessInfo> Sandbox::processes() { return processes_->list(); }

Result<runtime::ReplyWithFds> Sandbox::fileOp(runtime::FileOpRequest request) {
  auto c = client();
  if (!c) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  auto reply = c->fileOp(std::move(request), kFileOpTimeout);
  if (!reply && reply.error().code == EPIPE) {
    return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  }
  return reply;
}

bool Sandbox::kill() {
  std::lock_guard kill_lock(kill_mutex_);
  std::shared_ptr<runtime::InitClient> client;
  {
    std::lock_guard lock(mutex_);
    if (killed_) return false;
    killed_ = true;
    killed_at_ = api::Clock::now();
    client = std::move(client_);
  }
  if (pidfd_) {
    // The kernel kills every process of the pid namespace when its init dies, and init's exit
    // completes only after they are gone (pid_namespaces(7)), so after waitid nothing is left.
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info,
                    WEXITED) < 0 &&
           errno == EINTR) {
    }
    pidfd_.reset();
  }
  // Other threads may still hold the client; they see the socket close and return errors.
  // Readers of a process's output keep its record; the table lets go of all of them.
  processes_->notify(0);
  processes_->clear();
  client.reset();
  logger("runtime")->info("[{}] killed", id_);
  return true;
}

}  // namespace declaw::daemon
