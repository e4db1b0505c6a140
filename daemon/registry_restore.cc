// Live restore: adopting the sandboxes a previous daemon left running (docs/architecture.md,
// "Live restore"). Each is verified before anything of it is trusted: its init by pid and start
// time (through a pidfd, so a reused pid is never taken), its namespaces by inode, its cgroup,
// its template's layers, and init's protocol version. One that fails any check is killed and
// cleaned up like a crash's leftover.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>

#include "common/io.h"
#include "common/log.h"
#include "daemon/registry.h"

namespace declaw::daemon {

namespace {

// Init answers from memory: 2 s is ample on a loaded host, and bounds what a silent init (a
// hostile one) delays the start by.
constexpr std::chrono::milliseconds kAttachTimeout{2000};

Result<UniqueFd> connectInit(const std::string& path) {
  sockaddr_un addr;
  auto sock = seqpacketSocket(path, addr);
  if (!sock) return sock.error();
  if (::connect(sock->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError() << "connect " << path;
  }
  return sock;
}

}  // namespace

size_t Registry::adopt(const std::vector<StateRecord>& records) {
  auto log = logger("daemon");
  size_t adopted = 0;
  for (const StateRecord& record : records) {
    Result<std::shared_ptr<Sandbox>> sbx = ErrnoError(EAGAIN);
    try {
      sbx = adoptOne(record);
    } catch (const std::exception& e) {  // out of threads or memory: this one is not adopted
      sbx = ErrnoError(EAGAIN) << e.what();
    }
    if (!sbx) {
      log->warn("[{}] cannot adopt the sandbox a previous daemon left: {}; killing it",
                record.sandbox_id, sbx.error().describe());
      records_.clean(record, [this](const std::string& id) {
        if (cgroups_) cgroups_->removeLeftover(id);
        NetworkHost::removeLeftover(id);
        (void)::unlink((parts_.init_socket_dir + "/" + id + ".sock").c_str());
      });
      std::lock_guard lock(mutex_);
      ++restore_failures_;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      live_[record.sandbox_id] = *sbx;
      ++restored_;
      ++adopted;
    }
    saveRecord(**sbx);
  }
  if (!records.empty()) {
    log->info("live restore: {} sandboxes adopted, {} could not be and were killed", adopted,
              records.size() - adopted);
  }
  return adopted;
}

Result<std::shared_ptr<Sandbox>> Registry::adoptOne(const StateRecord& record) {
  if (!record.sandbox) return ErrnoError(EINVAL) << "its record says nothing to adopt";
  const SandboxRecord& s = *record.sandbox;
  if (parts_.init_socket_dir.empty()) return ErrnoError(ENOTSUP) << "live restore is off";
  if (!s.net_subnet.empty() && parts_.network == nullptr) {
    return ErrnoError(ENOSYS) << "it has a network link and this daemon has no networking";
  }
  {
    std::lock_guard lock(mutex_);
    if (!ids_.reserve(record.id_base)) {
      return ErrnoError(EINVAL) << "its uid range " << record.id_base
                                << " is not a free slot of this daemon's id pool";
    }
  }
  // From here on, a failure gives the range back.
  struct Reserved {
    Registry* registry;
    uint32_t base;
    ~Reserved() {
      if (registry == nullptr) return;
      std::lock_guard lock(registry->mutex_);
      registry->ids_.release(base);
    }
  } reserved{this, record.id_base};
  // Its init, by pid and start time; the pidfd then pins it (a reused pid is another process).
  const pid_t pid = record.init_pid;
  if (pid <= 1 || StateRecords::processStartTicks(pid) != record.init_start_ticks) {
    return ErrnoError(ESRCH) << "its init (pid " << pid << ") is gone";
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd || StateRecords::processStartTicks(pid) != record.init_start_ticks) {
    return ErrnoError(ESRCH) << "its init (pid " << pid << ") is gone";
  }
  if (namespaceInodesOf(pid) != std::optional<NamespaceInodes>(s.namespaces)) {
    return ErrnoError(EPERM) << "pid " << pid << " is not in the sandbox's namespaces";
  }
  std::optional<runtime::Cgroup> cgroup;
  if (cgroups_) {
    auto adopted = cgroups_->adopt(record.sandbox_id, s.spec.resources, pid);
    if (!adopted) return adopted.error();
    cgroup = std::move(*adopted);
  }
  // Its template: the same layers its root is made of, pinned again while it lives.
  auto tmpl = parts_.templates->resolve(s.spec.template_name, api::Caller{.uid = s.owner});
  if (!tmpl) return tmpl.error();
  if (tmpl->layers != s.layers) {
    return ErrnoError(ESTALE) << "its template " << s.spec.template_name
                              << " has changed since the sandbox was made";
  }
  if (s.protocol != runtime::kProtocolVersion) {
    return ErrnoError(EPROTONOSUPPORT) << "its init speaks protocol version " << s.protocol
                                       << ", this daemon " << runtime::kProtocolVersion;
  }
  // A paused sandbox's init is frozen with the rest: it is thawed for the attach (a few ms) and
  // frozen again before the sandbox is served. Thawed whatever the record says: a crash between
  // a pause and its record leaves a frozen sandbox recorded as running (it then runs).
  if (cgroup) {
    if (auto r = cgroup->thaw(); !r) return r.error();
  }
  const std::string socket = parts_.init_socket_dir + "/" + record.sandbox_id + ".sock";
  auto control = connectInit(socket);
  const size_t max_held = config_.limits.max_processes + config_.limits.max_finished_processes;
  auto held = control ? runtime::InitClient::attach(control->get(), kAttachTimeout, max_held)
                      : Result<std::vector<runtime::HeldProcess>>(control.error());
  if (s.paused && cgroup) {
    if (auto r = cgroup->freeze(); !r) return r.error();
  }
  if (!held) return held.error();
  // Its link, last: the chains and listeners are made anew (until then it got nothing through).
  std::shared_ptr<SandboxNetwork> net;
  if (!s.net_subnet.empty()) {
    auto policy = policyOf(s.spec.allow_internet_access, s.spec.network);
    if (!policy) return ErrnoError(EINVAL) << "its network policy: " << policy.error().message;
    auto adopted = parts_.network->adopt(record.sandbox_id, s.net_subnet, *policy);
    if (!adopted) return adopted.error();
    net = std::move(*adopted);
  }

  SandboxAdopt a;
  a.id = record.sandbox_id;
  a.ids = runtime::IdRange{record.id_base, IdPool::kSlotSize};
  a.init_pid = pid;
  a.init_start_ticks = record.init_start_ticks;
  a.pidfd = std::move(pidfd);
  a.record = s;
  a.cgroup = std::move(cgroup);
  a.control = std::move(*control);
  a.held = std::move(*held);
  a.tmpl = std::move(*tmpl);
  a.init_socket = socket;
  a.limits = &config_.limits;
  a.counters = &counters_;
  a.network = parts_.network;
  a.net = std::move(net);
  a.ports = parts_.ports ? &*parts_.ports : nullptr;
  a.history_samples = config_.metrics_history.samples();
  auto sbx = Sandbox::adopt(std::move(a));
  reserved.registry = nullptr;  // the sandbox's now
  return sbx;
}

}  // namespace declaw::daemon
