#include "daemon/sandbox.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/command_runner.h"
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

Result<api::RunResult> Sandbox::run(const api::RunSpec& spec, uint64_t max_output_bytes) {
  auto c = client();
  if (!c) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  bool root = spec.user == "root";
  std::string home = root ? "/root" : "/home/user";
  CommandPlan plan;
  plan.spawn.argv = {"/bin/bash", "-l", "-c", spec.cmd};
  plan.spawn.env = commandEnvironment(spec.user, home, spec_.envs, spec.envs);
  plan.spawn.cwd = spec.cwd.empty() ? home : spec.cwd;
  plan.spawn.uid = root ? 0 : kUserId;
  plan.spawn.gid = root ? 0 : kUserId;
  plan.spawn.keep_caps = root;
  plan.stdin_data = spec.stdin_data;
  plan.timeout = std::chrono::seconds(spec.timeout_s);
  plan.max_output_bytes = max_output_bytes;
  auto result = runCommand(*c, plan);
  if (!result && result.error().code == EPIPE) {
    return ErrnoError(ESRCH) << "sandbox " << id_ << " ended while the command ran";
  }
  return result;
}

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
  client.reset();
  logger("runtime")->info("[{}] killed", id_);
  return true;
}

}  // namespace declaw::daemon
