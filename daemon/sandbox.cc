#include "daemon/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <future>

#include "common/io.h"
#include "common/log.h"
#include "daemon/command_env.h"
#include "daemon/state_records.h"
#include "netpolicy/kernel/netns.h"
#include "netpolicy/kernel/nft_apply.h"
#include "netpolicy/loopback_plan.h"
#include "runtime/rootfs.h"

namespace declaw::daemon {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kSetupTimeout{30000};
constexpr milliseconds kFileOpTimeout{30000};
constexpr uint32_t kUserId = 1000;
// Killing: how long to wait for init to die before sending SIGKILL (and thawing) again, and
// after how many rounds to log that it is taking long.
constexpr int kKillRoundMs = 1000;
constexpr int kKillRoundsBeforeWarning = 5;
// Clients whose previous metrics request a sandbox remembers (see Sandbox::metrics).
constexpr size_t kMaxCpuObservers = 32;

}  // namespace

Result<netpolicy::Policy> policyOf(bool internet, const api::NetworkLists& lists) {
  return netpolicy::parsePolicy({internet, lists.allow_out, lists.deny_out});
}

namespace {

// An argv as a shell would read it back, for listings: plain words as they are, others in
// single quotes.
std::string displayArgv(const std::vector<std::string>& argv) {
  auto plain = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_@%+=:,./-", c) != nullptr;
  };
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!arg.empty() && std::all_of(arg.begin(), arg.end(), plain)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

// The sandbox's share of the network, or null without internet access.
Result<std::shared_ptr<SandboxNetwork>> reserveNetwork(const SandboxStart& s) {
  if (!s.spec.allow_internet_access) return std::shared_ptr<SandboxNetwork>();
  if (!s.network) return ErrnoError(ENOSYS) << "this daemon has no networking";
  auto policy = policyOf(true, s.spec.network);
  if (!policy) return ErrnoError(EINVAL) << policy.error().message;
  return s.network->reserve(s.id, *policy);
}

// Init's listening socket for the next daemon (live restore): root's, 0600, in root's 0700
// directory; SOCK_SEQPACKET as the control socket it replaces.
Result<UniqueFd> listenInitSocket(const std::string& path) {
  sockaddr_un addr;
  auto sock = seqpacketSocket(path, addr);
  if (!sock) return sock.error();
  (void)::unlink(path.c_str());
  if (::bind(sock->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError() << "bind " << path;
  }
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(sock->get(), 4) != 0) {
    (void)::unlink(path.c_str());
    return ErrnoError() << "listen " << path;
  }
  return sock;
}

Result<void> applyLoopbackFilter(pid_t init_pid, int pidfd) {
  auto netns = netpolicy::openNetnsOf(init_pid, pidfd);
  if (!netns) return netns.error();
  auto applied = netpolicy::applyNftIn(*netns, netpolicy::planLoopbackOnly());
  if (!applied) return applied.error();
  return {};
}

// Whether two sets of resources give a cgroup the same limits (the disk is not the cgroup's).
bool sameCgroupLimits(const api::Resources& a, const api::Resources& b) {
  return a.cpu == b.cpu && a.memory_mb == b.memory_mb && a.pids == b.pids;
}

}  // namespace

Result<AheadInit> Sandbox::launchEarly(const SandboxStart& s, const api::Resources& resources) {
  auto log = logger("runtime");
  auto mark = [&](CreatePhase phase) {
    if (s.phases) s.phases->mark(phase);
  };
  AheadInit early;
  early.id = s.id;
  early.id_base = s.ids.host_base;
  // The cgroup exists before init does, and init joins it before it runs: nothing of the
  // sandbox is ever outside its limits. (The state record naming the sandbox is already
  // written, so a crash from here on leaves nothing a restart cannot find.)
  if (s.cgroups) {
    auto made = s.cgroups->create(s.id, resources);
    if (!made) return made.error();
    early.cgroup = std::move(*made);
    early.resources = resources;
    mark(CreatePhase::kCgroup);
  }
  runtime::LaunchSpec launch{s.id, s.ids, s.init_exe_fd, s.devnull_fd, nullptr};
  launch.nice = s.ahead_nice;
  if (early.cgroup) launch.before_exec = [&](pid_t pid) { return early.cgroup->attach(pid); };
  if (!s.zygote && s.counters) ++s.counters->inits_execed;
  auto launched = s.zygote ? s.zygote->launch(launch) : runtime::launchInit(launch);
  if (!launched) {
    if (early.cgroup) {
      (void)early.cgroup->killAll();
      if (auto r = early.cgroup->remove(); !r) {
        log->warn("[{}] cgroup: {}", s.id, r.error().describe());
      }
    }
    return launched.error();
  }
  mark(CreatePhase::kLaunch);
  early.init = std::move(*launched);
  early.start_ticks = StateRecords::processStartTicks(early.init.pid);
  return early;
}

// Longer than readability-function-size allows: the create phases in order, each undoing the ones
// before it when it fails; split, the undo state would have to travel between the parts.
// NOLINTNEXTLINE(readability-function-size)
Result<std::shared_ptr<Sandbox>> Sandbox::start(const SandboxStart& s) {
  auto log = logger("runtime");
  auto mark = [&](CreatePhase phase) {
    if (s.phases) s.phases->mark(phase);
  };
  std::optional<AheadInit> early;
  if (s.ahead != nullptr) {
    // Ours from now on: the caller's copy is left with nothing to end (a moved-from optional
    // still holds a value).
    early = std::move(*s.ahead);
    s.ahead->cgroup.reset();
  } else {
    auto launched = launchEarly(s, s.spec.resources);
    if (!launched) return launched.error();
    early = std::move(*launched);
  }
  runtime::LaunchedInit* launched = &early->init;
  std::shared_ptr<Sandbox> sbx = blank(s.id, s.owner, s.ids, s.spec, *s.limits, s.counters,
                                       std::move(early->cgroup), s.ports, s.network);
  sbx->init_pid_ = launched->pid;
  sbx->pidfd_ = std::move(launched->pidfd);
  sbx->template_ = std::move(*s.tmpl);  // and its pins
  sbx->host_facts_ = s.host_facts;
  sbx->init_start_ticks_ = early->start_ticks;
  sbx->namespaces_ = namespaceInodesOf(launched->pid).value_or(NamespaceInodes{});
  if (s.on_launched) s.on_launched(launched->pid, sbx->init_start_ticks_);
  if (s.ahead != nullptr) mark(CreatePhase::kStateRecord);  // a taken init's record is this one
  // From here on, a failure is sbx->kill(): it ends init and removes the cgroup.
  if (s.ahead != nullptr &&
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(sbx->init_pid_), 0) != 0) {
    // Launched ahead at kAheadNice: the sandbox's processes would inherit init's value. (Our
    // child, not reaped yet: its pid is its own.)
    auto error = ErrnoError() << "give the init launched ahead its priority back";
    sbx->kill();
    return error;
  }
  if (s.ahead != nullptr && sbx->cgroup_ && s.cgroups &&
      !sameCgroupLimits(s.spec.resources, early->resources)) {
    // Launched with the config's default resources: this create's go on now, before any of
    // its code runs.
    if (auto r = s.cgroups->setLimits(s.id, s.spec.resources); !r) {
      sbx->kill();
      return r.error();
    }
    mark(CreatePhase::kCgroup);
  }
  // The link's addresses (InitConfig needs them); the link itself once the root is built.
  auto reserved = reserveNetwork(s);
  if (!reserved) {
    sbx->kill();
    return reserved.error();
  }
  sbx->net_ = std::move(*reserved);  // from here on, kill() releases it
  if (sbx->net_) mark(CreatePhase::kNetworkReserve);
  std::shared_ptr<SandboxNetwork> net = sbx->net_;

  // The root: the template's layers under an overlay whose upper is the sandbox's disk.
  const ResolvedTemplate& tmpl = sbx->template_;
  const bool host_backed = tmpl.kind == runtime::RootKind::kHost;
  runtime::RootfsSpec rootfs;
  rootfs.sandbox_id = s.id;
  rootfs.disk_bytes = s.spec.resources.disk_mb << 20;
  rootfs.layers = tmpl.layers;
  rootfs.host_usr = host_backed && s.writable_usr;
  rootfs.usr_layers = tmpl.usr_layers;
  rootfs.userns_fd = launched->userns.get();
  rootfs.id_base = s.ids.host_base;
  // The skeleton init wrote while it waited (skeleton.h) is exactly what its plan would write
  // onto an empty lower: a plain built-in's root, from the host as it still is.
  bool skeleton = false;
  if (early->skeleton) {
    skeleton = host_backed && tmpl.layers.empty() && tmpl.usr_layers.empty() &&
               skeletonCurrent(*early->skeleton, s.host_facts) &&
               runtime::resizeDisk(early->skeleton->disk.dir.get(), rootfs.disk_bytes).ok();
    if (skeleton) rootfs.prepared = &early->skeleton->disk;
  }
  auto built = runtime::buildRootfs(rootfs, s.rootfs_work_dir);
  if (built && early->skeleton && s.counters) {
    ++(skeleton ? s.counters->skeletons_used : s.counters->skeletons_unused);
  }
  early->skeleton.reset();
  launched->userns.reset();
  if (!built) {
    sbx->kill();
    return built.error();
  }
  sbx->disk_ = std::move(built->disk);
  sbx->usr_overlay_ = built->usr.valid();
  mark(CreatePhase::kRootfs);

  runtime::InitConfig config;
  config.sandbox_id = s.id;
  config.hostname = s.id;
  config.template_name = host_backed ? tmpl.builtin : tmpl.name;
  config.root_kind = tmpl.kind;
  config.usr_mount = built->usr.valid();
  config.skeleton = skeleton;
  config.user_uid = kUserId;
  config.user_gid = kUserId;
  config.seccomp_bpf = *s.seccomp_bpf;
  if (host_backed && s.host_facts) config.host = *s.host_facts;
  std::future<Result<void>> guarded;
  if (net) {
    auto plugged = s.network->plug(*net, launched->pid, sbx->pidfd_.get());
    if (!plugged) {
      sbx->kill();
      return plugged.error();
    }
    config.network = *plugged;
    // The firewall and the gateway's listeners go in beside init's setup, on a thread of their
    // own, and are in place before this create answers: no sandbox code runs before that (and
    // until they land, the base chains drop whatever the link would carry; docs/network.md).
    guarded =
        std::async(std::launch::async, [network = s.network, net] { return network->guard(*net); });
    mark(CreatePhase::kNetworkPlug);
  } else if (s.spec.loopback_inet) {
    // Inet sockets without internet access: the namespace has only lo, and this table drops
    // whatever would use another interface, should one ever appear (netpolicy/loopback_plan.h).
    auto applied = applyLoopbackFilter(launched->pid, sbx->pidfd_.get());
    if (!applied) {
      sbx->kill();
      return ErrnoError(applied.error().code) << "loopback filter: " << applied.error().message;
    }
    mark(CreatePhase::kNetworkPlug);
  }
  // Joined before any return below: a create that fails still waits for it, then kill()
  // undoes what it did (release() takes the same lock).
  auto joinGuard = [&]() -> Result<void> {
    if (!guarded.valid()) return {};
    auto r = guarded.get();
    mark(CreatePhase::kNetworkPlug);  // the wait for it beyond init's setup, if any
    return r;
  };
  std::vector<int> root_fds = {built->root.get()};
  if (built->usr) root_fds.push_back(built->usr.get());
  auto sent = runtime::InitClient::sendConfig(launched->control.get(), config, root_fds);
  built->root.reset();  // the message carries init's own copies
  built->usr.reset();
  // While init sets up (most of a create), what needs nothing of it: live restore's listening
  // socket and the sandbox's whole state record, and the metrics history's first sample (the
  // history starts at the create).
  Result<UniqueFd> listening = UniqueFd{};
  if (sent && !s.init_socket_dir.empty()) {
    sbx->init_socket_ = s.init_socket_dir + "/" + s.id + ".sock";  // kill() removes it
    listening = listenInitSocket(sbx->init_socket_);
  }
  // The timeout counts from here, init's setup (a millisecond or so) included.
  sbx->started_at_ = api::Clock::now();
  sbx->deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(s.spec.timeout_s);
  if (sent && !s.init_socket_dir.empty() && s.on_setting_up) s.on_setting_up(*sbx);
  sbx->history_ = std::make_unique<MetricsHistory>(s.history_samples);
  if (sent && s.history_samples > 0) sbx->recordSample(/*read_firewall=*/false);
  auto ready =
      sent ? runtime::InitClient::awaitReady(launched->control.get(), kSetupTimeout) : sent;
  if (!ready) {
    (void)joinGuard();
    sbx->kill();
    return ready.error();
  }
  if (!listening) {
    (void)joinGuard();
    sbx->kill();
    return ErrnoError(listening.error().code) << "live restore: " << listening.error().message;
  }
  if (*listening) {
    // Live restore: from here on init outlives its control socket (runtime/protocol.h).
    auto held = runtime::InitClient::hold(launched->control.get(), listening->get());
    if (!held) {
      (void)joinGuard();
      sbx->kill();
      return ErrnoError(held.error().code) << "live restore: " << held.error().message;
    }
    sbx->held_ = true;
  }
  mark(CreatePhase::kSetup);
  if (auto guard = joinGuard(); !guard) {
    sbx->kill();
    return guard.error();
  }
  sbx->client_ = std::make_shared<runtime::InitClient>(std::move(launched->control));
  // The pumps learn of exits, and of init's end, from the client's reader thread.
  // Weak: the table holds processes, which hold the client; a strong reference back would
  // keep all three alive forever if a process slipped into the table after kill() closed it.
  std::weak_ptr<ProcessTable> table = sbx->processes_;
  sbx->client_->onExit([table](int32_t pid) {
    if (auto t = table.lock()) t->notify(pid);
  });
  sbx->client_->onClosed([table] {
    if (auto t = table.lock()) t->notify(0);
  });
  sbx->started_cpu_ = {std::chrono::steady_clock::now(), 0};
  log->info("[{}] running (init pid {}, ids {}+{}, template {}{})", s.id, sbx->init_pid_,
            s.ids.host_base, s.ids.count, s.spec.template_name,
            host_backed && !sbx->usr_overlay_ ? ", read-only /usr" : "");
  return sbx;
}

Sandbox::~Sandbox() { kill(); }

std::shared_ptr<Sandbox> Sandbox::blank(const std::string& id, uid_t owner, runtime::IdRange ids,
                                        const api::CreateSandboxSpec& spec,
                                        const api::Limits& limits, DaemonCounters* counters,
                                        std::optional<runtime::Cgroup> cgroup,
                                        const PortsRoot* ports, NetworkHost* network) {
  std::shared_ptr<Sandbox> sbx(new Sandbox());
  sbx->counters_ = counters;
  sbx->id_ = id;
  sbx->owner_ = owner;
  sbx->ids_ = ids;
  sbx->spec_ = spec;
  sbx->limits_ = limits;
  sbx->processes_ = std::make_shared<ProcessTable>(ProcessLimits{
      limits.max_processes, limits.max_finished_processes, limits.max_buffered_output_bytes});
  if (cgroup) {
    sbx->cgroup_reader_ =
        std::make_shared<const runtime::Cgroup>(runtime::Cgroup::adopt(cgroup->plan()));
  }
  sbx->cgroup_ = std::move(cgroup);
  sbx->ports_ = std::make_unique<PortTable>(ports, id);
  sbx->network_ = network;
  return sbx;
}

std::shared_ptr<Sandbox> Sandbox::adopt(SandboxAdopt a) {
  const SandboxRecord& r = a.record;
  std::shared_ptr<Sandbox> sbx = blank(a.id, r.owner, a.ids, r.spec, *a.limits, a.counters,
                                       std::move(a.cgroup), a.ports, a.network);
  sbx->init_pid_ = a.init_pid;
  sbx->init_start_ticks_ = a.init_start_ticks;
  sbx->namespaces_ = r.namespaces;
  sbx->pidfd_ = std::move(a.pidfd);
  sbx->net_ = std::move(a.net);
  sbx->template_ = std::move(a.tmpl);
  sbx->usr_overlay_ = r.usr_overlay;
  sbx->held_ = true;
  sbx->init_socket_ = a.init_socket;
  sbx->client_ = std::make_shared<runtime::InitClient>(std::move(a.control));
  std::weak_ptr<ProcessTable> table = sbx->processes_;
  sbx->client_->onExit([table](int32_t pid) {
    if (auto t = table.lock()) t->notify(pid);
  });
  sbx->client_->onClosed([table] {
    if (auto t = table.lock()) t->notify(0);
  });
  std::vector<std::shared_ptr<Process>> adopted;
  for (runtime::HeldProcess& held : a.held) {
    const int pid = held.held.pid;
    auto process = Process::adopt(sbx->client_, std::move(held), a.limits->output_buffer_bytes,
                                  a.limits->max_stdin_buffer_bytes);
    if (!process) {
      logger("runtime")->warn("[{}] process {}: {}", a.id, pid, process.error().describe());
      continue;
    }
    adopted.push_back(std::move(*process));
  }
  std::sort(adopted.begin(), adopted.end(), [](const auto& x, const auto& y) {
    return x->info().started_at < y->info().started_at;
  });
  for (auto& process : adopted) sbx->processes_->adopt(process);
  // Paused: their command timeouts wait too, as at pause().
  if (r.paused) sbx->processes_->pauseClocks();
  sbx->started_at_ = r.started_at;
  const auto now = std::chrono::steady_clock::now();
  sbx->paused_ = r.paused;
  if (r.paused) {
    sbx->left_when_paused_ = r.left;
    sbx->deadline_ = now + r.left;
  } else {
    // A deadline that passed while no daemon ran is due now: the clock kills (or pauses) it.
    sbx->deadline_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               r.end_at - api::Clock::now());
  }
  uint64_t cpu_used = 0;
  if (sbx->cgroup_reader_) {
    if (auto usage = sbx->cgroup_reader_->usage()) cpu_used = usage->cpu_usage_ns.value_or(0);
  }
  sbx->started_cpu_ = {now, cpu_used};
  sbx->history_ = std::make_unique<MetricsHistory>(a.history_samples);
  logger("runtime")->info("[{}] adopted (init pid {}, {} processes held, {})", a.id, a.init_pid,
                          adopted.size(), r.paused ? "paused" : "running");
  return sbx;
}

StateRecord Sandbox::stateRecord() const {
  std::lock_guard lock(mutex_);
  SandboxRecord r;
  r.protocol = runtime::kProtocolVersion;
  r.owner = owner_;
  r.spec = spec_;
  r.started_at = started_at_;
  r.paused = paused_;
  if (paused_) {
    r.left = std::chrono::duration_cast<std::chrono::milliseconds>(left_when_paused_);
  } else {
    r.end_at = api::Clock::now() + std::chrono::duration_cast<api::Clock::duration>(
                                       deadline_ - std::chrono::steady_clock::now());
  }
  r.template_name = template_.name;
  r.layers = template_.layers;
  r.usr_overlay = usr_overlay_;
  r.namespaces = namespaces_;
  if (net_) r.net_subnet = net_->lease().v4.subnet.toString();
  return StateRecord{id_, ids_.host_base, init_pid_, init_start_ticks_, std::move(r)};
}

void Sandbox::detach() {
  std::lock_guard kill_lock(kill_mutex_);
  std::shared_ptr<runtime::InitClient> client;
  {
    std::lock_guard lock(mutex_);
    if (killed_) return;
    killed_ = true;  // for this daemon; the destructor's kill() does nothing now
    killed_at_ = api::Clock::now();
    snapshot_cancel_ = true;
    client = std::move(client_);
  }
  if (client) client->onExit(nullptr);
  processes_->close();  // the pumps end; init keeps its copies of their output pipes
  client.reset();       // the control socket closes with the last process: init detaches
  ports_->closeAll();
  std::lock_guard cgroup_lock(cgroup_mutex_);
  pidfd_.reset();
  disk_.reset();
  logger("runtime")->info("[{}] left running for the next daemon", id_);
}

Result<void> Sandbox::claim(const api::CreateSandboxSpec& spec, uid_t owner,
                            const CgroupHost* cgroups) {
  const api::Resources& want = spec.resources;
  const api::Resources& has = spec_.resources;
  if (cgroups && cgroup_ && !sameCgroupLimits(want, has)) {
    if (auto r = cgroups->setLimits(id_, want); !r) return r.error();
  }
  if (want.disk_mb != has.disk_mb) {
    if (auto r = runtime::resizeDisk(disk_.get(), want.disk_mb << 20); !r) return r.error();
  }
  uint64_t cpu_used = 0;
  if (cgroup_reader_) {
    if (auto usage = cgroup_reader_->usage()) cpu_used = usage->cpu_usage_ns.value_or(0);
  }
  std::lock_guard lock(mutex_);
  if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  const auto now = std::chrono::steady_clock::now();
  spec_ = spec;
  owner_ = owner;
  started_at_ = api::Clock::now();
  deadline_ = now + std::chrono::seconds(spec.timeout_s);
  started_cpu_ = {now, cpu_used};
  // Its first sample was taken when the pool built it: the history starts at the claim.
  history_->clear();
  return {};
}

std::shared_ptr<runtime::InitClient> Sandbox::client() const {
  std::lock_guard lock(mutex_);
  return client_;
}

api::SandboxInfo Sandbox::info(NetworkHost::Counters counters) const {
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
  if (paused_ && !killed_) {
    i.end_at = api::Clock::now() +
               std::chrono::duration_cast<api::Clock::duration>(std::max(left_when_paused_, {}));
  }
  i.state = killed_ ? "killed" : paused_ ? "paused" : "running";
  i.owner_uid = owner_;
  i.allow_internet_access = spec_.allow_internet_access;
  i.loopback_inet = spec_.loopback_inet;
  i.network = final_network_ ? *final_network_ : networkInfo(counters);
  i.resources = spec_.resources;
  i.on_timeout = spec_.on_timeout;
  return i;
}

api::NetworkInfo Sandbox::networkInfo(NetworkHost::Counters counters) const {
  api::NetworkInfo n;
  n.lists = spec_.network;
  if (net_ && network_) network_->describe(*net_, n, counters);
  return n;
}

Result<void> Sandbox::updateNetwork(const api::NetworkUpdate& update) {
  std::lock_guard update_lock(network_mutex_);
  bool internet;
  api::NetworkLists lists;
  {
    std::lock_guard lock(mutex_);
    if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
    internet = update.allow_internet_access.value_or(spec_.allow_internet_access);
    lists.allow_out = update.allow_out.value_or(spec_.network.allow_out);
    lists.deny_out = update.deny_out.value_or(spec_.network.deny_out);
  }
  if (internet && !net_) {
    return ErrnoError(ENOTCONN) << "sandbox " << id_
                                << " was created without internet access, which cannot be added "
                                   "later: create a new sandbox with allow_internet_access";
  }
  auto policy = policyOf(internet, lists);
  if (!policy) return ErrnoError(EINVAL) << policy.error().message;
  if (net_) {
    if (auto r = network_->checkAllows(lists.allow_out); !r) return r.error();
    if (auto r = network_->update(*net_, *policy); !r) return r.error();
  }
  std::lock_guard lock(mutex_);
  spec_.allow_internet_access = internet;
  spec_.network = std::move(lists);
  logger("runtime")->info("[{}] network policy: internet {}, {} allow, {} deny", id_,
                          internet ? "on" : "off", spec_.network.allow_out.size(),
                          spec_.network.deny_out.size());
  return {};
}

std::optional<std::pair<uint64_t, uint64_t>> Sandbox::netTraffic() {
  if (!net_ || !network_) return std::nullopt;
  return network_->traffic(*net_);
}

bool Sandbox::running() const {
  std::lock_guard lock(mutex_);
  return !killed_;
}

bool Sandbox::initAlive() const {
  auto c = client();
  return c && c->alive();
}

bool Sandbox::paused() const {
  std::lock_guard lock(mutex_);
  return paused_ && !killed_;
}

std::chrono::steady_clock::time_point Sandbox::deadline() const {
  std::lock_guard lock(mutex_);
  if (paused_) return std::chrono::steady_clock::time_point::max();
  return deadline_;
}

void Sandbox::setTimeout(std::chrono::seconds from_now) {
  std::lock_guard lock(mutex_);
  deadline_ = std::chrono::steady_clock::now() + from_now;
  if (paused_) left_when_paused_ = from_now;
}

Result<void> Sandbox::pause() {
  std::lock_guard cgroup_lock(cgroup_mutex_);
  if (!cgroup_) return ErrnoError(ENOSYS) << "pause needs cgroups (the freezer), which are off";
  {
    std::lock_guard lock(mutex_);
    if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
    if (paused_) return {};
  }
  processes_->pauseClocks();
  if (auto r = cgroup_->freeze(); !r) {
    (void)cgroup_->thaw();
    processes_->resumeClocks();
    return r.error();
  }
  std::lock_guard lock(mutex_);
  paused_ = true;
  left_when_paused_ = deadline_ - std::chrono::steady_clock::now();
  logger("runtime")->info("[{}] paused", id_);
  return {};
}

Result<void> Sandbox::resume() {
  std::lock_guard snapshot_lock(snapshot_mutex_);
  std::lock_guard cgroup_lock(cgroup_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
    if (!paused_) return {};
  }
  if (auto r = cgroup_->thaw(); !r) return r.error();
  processes_->resumeClocks();
  std::lock_guard lock(mutex_);
  paused_ = false;
  auto left = left_when_paused_;
  if (left <= std::chrono::steady_clock::duration::zero())
    left = std::chrono::seconds(spec_.timeout_s);
  deadline_ = std::chrono::steady_clock::now() + left;
  logger("runtime")->info("[{}] resumed", id_);
  return {};
}

Result<api::SandboxMetrics> Sandbox::measure() {
  api::SandboxMetrics m;
  m.timestamp = api::Clock::now();
  m.cpu_limit_cores = spec_.resources.cpu;
  m.disk_limit = spec_.resources.disk_mb << 20;
  {
    std::lock_guard lock(mutex_);
    if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  }
  if (auto traffic = netTraffic()) {
    m.net_rx_bytes = traffic->first;
    m.net_tx_bytes = traffic->second;
  }
  std::lock_guard cgroup_lock(cgroup_mutex_);  // kill() resets disk_ under it
  // The disk: the tmpfs holding the overlay's upper dirs, everything the sandbox wrote.
  struct statfs fs {};
  if (disk_ && ::fstatfs(disk_.get(), &fs) == 0) {
    m.disk_used =
        static_cast<uint64_t>(fs.f_blocks - fs.f_bfree) * static_cast<uint64_t>(fs.f_bsize);
  }
  if (!cgroup_) return m;
  auto usage = cgroup_->usage();
  if (!usage) return usage.error();
  m.cpu_usage_ns = usage->cpu_usage_ns.value_or(0);
  m.memory_used = usage->memory_bytes.value_or(0);
  m.memory_limit = usage->memory_limit.value_or(0);
  m.pids = usage->pids.value_or(0);
  m.pids_limit = usage->pids_limit.value_or(0);
  m.oom_kills = usage->oom_kills.value_or(0);
  return m;
}

double Sandbox::coresSince(const CpuSample& since, uint64_t usage_ns,
                           std::chrono::steady_clock::time_point now) {
  const double seconds = std::chrono::duration<double>(now - since.at).count();
  if (seconds <= 0 || usage_ns < since.usage_ns) return 0;
  return static_cast<double>(usage_ns - since.usage_ns) / 1e9 / seconds;
}

Result<api::SandboxMetrics> Sandbox::metrics(pid_t observer) {
  auto m = measure();
  if (!m || !cgroup_) return m;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto previous = cpu_by_observer_.find(observer);
  const CpuSample since = previous == cpu_by_observer_.end() ? started_cpu_ : previous->second;
  m->cpu_cores_used = coresSince(since, m->cpu_usage_ns, now);
  if (previous == cpu_by_observer_.end() && cpu_by_observer_.size() >= kMaxCpuObservers) {
    // Forget the observer that asked longest ago.
    auto oldest =
        std::min_element(cpu_by_observer_.begin(), cpu_by_observer_.end(),
                         [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
    cpu_by_observer_.erase(oldest);
  }
  cpu_by_observer_[observer] = {now, m->cpu_usage_ns};
  return m;
}

void Sandbox::recordSample(bool read_firewall) {
  // Off the request path: what listings show of the firewall's counter is at most one interval
  // old (info(kCached)).
  if (read_firewall && net_ && network_) {
    api::NetworkInfo seen;
    network_->describe(*net_, seen, NetworkHost::Counters::kLive);
  }
  auto m = measure();
  if (!m) return;  // killed meanwhile, or its cgroup unreadable: no sample this time
  history_->record(*m);
}

Result<std::vector<api::SandboxMetrics>> Sandbox::metricsHistory(const api::MetricsRange& range) {
  {
    std::lock_guard lock(mutex_);
    if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  }
  return history_->between(range);
}

ProcessPlan Sandbox::planFor(const api::ProcessSpec& spec) const {
  const api::RunSpec& run = spec.run;
  const std::string user = run.user.empty() ? template_.default_user : run.user;
  bool root = user == "root";
  std::string home = root ? "/root" : "/home/user";
  ProcessPlan plan;
  // Built-ins run a login shell, as DESIGN.md has it. An image runs `bash -c` as `docker exec`
  // would (a login shell's /etc/profile would replace the image's PATH), or /bin/sh where the
  // image has no bash.
  const bool image = template_.kind == runtime::RootKind::kImage;
  if (!run.argv.empty()) {
    // No shell: the program itself, found in the command's PATH by init (execvp's rules).
    plan.spawn.argv = run.argv;
    plan.spawn.search_path = true;
  } else if (spec.pty && run.cmd.empty()) {
    plan.spawn.argv = image ? std::vector<std::string>{"/bin/bash", "-i"}
                            : std::vector<std::string>{"/bin/bash", "-i", "-l"};
    plan.spawn.fallback_argv = {"/bin/sh", "-i"};
  } else {
    plan.spawn.argv = image ? std::vector<std::string>{"/bin/bash", "-c", run.cmd}
                            : std::vector<std::string>{"/bin/bash", "-l", "-c", run.cmd};
    plan.spawn.fallback_argv = {"/bin/sh", "-c", run.cmd};
  }
  api::StringMap envs = run.envs;
  if (spec.pty) envs.try_emplace("TERM", "xterm-256color");
  plan.spawn.env = commandEnvironment(user, home, template_.env, spec_.envs, envs);
  plan.spawn.cwd = !run.cwd.empty()                 ? run.cwd
                   : !template_.working_dir.empty() ? template_.working_dir
                                                    : home;
  // A cwd the request named must work; the image's default may be closed to this user (an
  // image that runs as root with WorkingDir /root): then the user's home, as a login would.
  if (run.cwd.empty() && !template_.working_dir.empty()) plan.spawn.fallback_cwd = home;
  plan.spawn.uid = root ? 0 : kUserId;
  plan.spawn.gid = root ? 0 : kUserId;
  plan.spawn.keep_caps = root;
  plan.spawn.hold = held_;
  plan.spawn.pty = spec.pty;
  plan.spawn.rows = spec.rows;
  plan.spawn.cols = spec.cols;
  plan.cmd = run.argv.empty() ? run.cmd : displayArgv(run.argv);
  plan.argv = run.argv;
  plan.user = user;
  plan.background = spec.background;
  plan.stdin_data = run.stdin_data;
  plan.stdin_open = spec.stdin_open;
  plan.timeout = std::chrono::seconds(run.timeout_s);
  plan.keep = OutputBuffer::Keep::kTail;
  plan.buffer_bytes = limits_.output_buffer_bytes;
  plan.max_stdin_bytes = limits_.max_stdin_buffer_bytes;
  // The OOM killer picked a process of this sandbox while this one ran (most likely this one:
  // it is what allocates), as far as the sandbox's memory cgroup can tell.
  // A reader of its own (not this Sandbox, which a process may outlive): reading usage files
  // is safe alongside the freezer, and a removed cgroup reads as nothing.
  if (cgroup_reader_) {
    plan.oom_kills = [reader = cgroup_reader_] {
      auto kills = reader->oomKills();
      return kills ? kills->count.value_or(0) : uint64_t{0};
    };
  }
  return plan;
}

Result<std::shared_ptr<Process>> Sandbox::start(ProcessPlan plan) {
  auto c = client();
  if (!c) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
  const auto asked = std::chrono::steady_clock::now();
  auto process = processes_->start(std::move(c), std::move(plan));
  if (counters_) {
    counters_->recordExec(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count());
  }
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
  // This thread would only wait for it: it pumps (one thread and one hand-off fewer).
  plan.pump_on_caller = true;
  auto process = start(std::move(plan));
  if (!process) return process.error();
  (*process)->pumpUntilFinished();
  auto result = (*process)->takeResult();
  if (!result) {
    return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running: " << result.error().message;
  }
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

Result<api::PortInfo> Sandbox::forwardPort(uint16_t port, const std::optional<std::string>& listen,
                                           gid_t group, bool privileged) {
  uid_t owner = 0;
  {
    std::lock_guard lock(mutex_);
    if (!spec_.allow_internet_access && !spec_.loopback_inet) {
      return ErrnoError(ENOTCONN)
             << "sandbox " << id_
             << " cannot have inet sockets, so nothing in it listens on 127.0.0.1: create it "
                "with network.loopback_inet (or internet access) to forward its ports";
    }
    owner = owner_;
  }
  // Init as it is now, under the kill lock: a kill that has begun leaves no pidfd to take, and
  // the copy keeps naming this init (openNetnsOf checks it is alive after the open), never a
  // process that reused its pid.
  UniqueFd pidfd;
  pid_t init_pid = -1;
  {
    std::lock_guard kill_lock(kill_mutex_);
    if (!running() || !pidfd_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
    pidfd = UniqueFd(::fcntl(pidfd_.get(), F_DUPFD_CLOEXEC, 0));
    init_pid = init_pid_;
  }
  if (!pidfd) return ErrnoError() << "dup pidfd";
  return ports_->forward(port, listen, owner, group, privileged,
                         [&] { return netpolicy::openNetnsOf(init_pid, pidfd.get()); });
}

std::vector<api::PortInfo> Sandbox::ports() const { return ports_->list(); }

Result<void> Sandbox::closePort(uint16_t port) { return ports_->close(port); }

bool Sandbox::kill() {
  std::lock_guard kill_lock(kill_mutex_);
  std::shared_ptr<runtime::InitClient> client;
  {
    std::lock_guard lock(mutex_);
    if (killed_) return false;
    killed_ = true;
    killed_at_ = api::Clock::now();
    snapshot_cancel_ = true;  // a snapshot in progress stops
    client = std::move(client_);
  }
  std::lock_guard cgroup_lock(cgroup_mutex_);
  if (pidfd_) {
    // The kernel kills every process of the pid namespace when its init dies, and init's exit
    // completes only after they are gone (pid_namespaces(7)), so after waitid nothing is left.
    // A frozen task (a paused sandbox) dies only once thawed on the v1 freezer: thaw, and if
    // init is not gone within a second, thaw and kill again (the thaw may have failed, or a
    // freeze may have raced it), for as long as it takes, saying so.
    for (int round = 0;; ++round) {
      ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
      if (cgroup_) (void)cgroup_->thaw();
      pollfd exited{pidfd_.get(), POLLIN, 0};
      if (::poll(&exited, 1, kKillRoundMs) > 0) break;
      if (round == kKillRoundsBeforeWarning) {
        logger("runtime")->error("[{}] init has not died {} s after SIGKILL; still trying", id_,
                                 round + 1);
      }
    }
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info,
                    WEXITED) < 0 &&
           errno == EINTR) {
    }
    pidfd_.reset();
  }
  // Init is dead: every pump learns it now (not when the client's reader gets around to the
  // socket's end), and nothing started from here on is kept. Readers of a process's output
  // keep its record; the table lets go of all of them.
  if (client) {
    client->onExit(nullptr);
    client->markClosed();
  }
  processes_->close();
  client.reset();
  ports_->closeAll();
  if (cgroup_) {
    if (auto r = cgroup_->killAll(); !r)
      logger("runtime")->warn("[{}] cgroup: {}", id_, r.error().describe());
    if (auto r = cgroup_->remove(); !r)
      logger("runtime")->warn("[{}] cgroup: {}", id_, r.error().describe());
  }
  if (net_ && network_) {
    // The last counts stay in the killed sandbox's info; then the link and its rules go.
    std::unique_lock update_lock(network_mutex_);
    api::NetworkInfo last;
    {
      std::lock_guard lock(mutex_);
      last = networkInfo();
    }
    network_->release(*net_);
    std::lock_guard lock(mutex_);
    final_network_ = std::move(last);
  }
  disk_.reset();  // the disk tmpfs goes with the last mount of it
  if (!init_socket_.empty()) (void)::unlink(init_socket_.c_str());
  logger("runtime")->info("[{}] killed", id_);
  return true;
}

Result<image::DiffResult> Sandbox::writeChanges(int out_fd) {
  // One snapshot at a time; resume waits for it (it would let the sandbox write mid-walk).
  std::lock_guard snapshot_lock(snapshot_mutex_);
  UniqueFd disk;
  bool froze = false;
  {
    std::lock_guard cgroup_lock(cgroup_mutex_);
    if (!cgroup_)
      return ErrnoError(ENOSYS) << "snapshots need cgroups (the freezer), which are off";
    bool was_paused;
    {
      std::lock_guard lock(mutex_);
      if (killed_) return ErrnoError(ESRCH) << "sandbox " << id_ << " is not running";
      was_paused = paused_;
    }
    // Frozen, nothing in the sandbox writes while its upper dirs are read.
    if (!was_paused) {
      if (auto r = cgroup_->freeze(); !r) {
        (void)cgroup_->thaw();
        return r.error();
      }
      froze = true;
    }
    if (disk_) disk.reset(::fcntl(disk_.get(), F_DUPFD_CLOEXEC, 0));
  }
  // The walk runs without the cgroup lock: kill, pause and metrics go on meanwhile (a kill
  // stops the walk), and the timeout clock is never held up by a snapshot.
  // An adopted sandbox's disk is reachable only through its overlay (docs/architecture.md).
  Result<image::DiffResult> diff =
      disk ? Result<image::DiffResult>(ErrnoError(EIO) << "the sandbox's disk cannot be read")
           : Result<image::DiffResult>(ErrnoError(ENOSYS)
                                       << "the disk of a sandbox adopted after a daemon restart "
                                          "cannot be snapshotted");
  if (disk) {
    std::vector<image::UpperDir> uppers;
    UniqueFd upper(
        ::openat(disk.get(), runtime::kDiskUpper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    UniqueFd usr;
    if (upper) uppers.push_back({upper.get(), ""});
    if (usr_overlay_) {
      usr.reset(::openat(disk.get(), runtime::kDiskUsrUpper,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (usr) uppers.push_back({usr.get(), "usr"});
    }
    if (upper && (!usr_overlay_ || usr)) {
      image::DiffLimits limits;
      limits.max_file_bytes = spec_.resources.disk_mb << 20;
      limits.cancel = &snapshot_cancel_;
      diff = image::writeLayerDiff(uppers, ids_.host_base, ids_.count, out_fd, limits);
    }
  }
  if (froze) {
    std::lock_guard cgroup_lock(cgroup_mutex_);
    bool thaw;
    {
      std::lock_guard lock(mutex_);
      thaw = !killed_ && !paused_;  // a pause asked for meanwhile keeps it frozen
    }
    if (thaw) {
      if (auto r = cgroup_->thaw(); !r) {
        logger("runtime")->error("[{}] thaw after the snapshot: {}", id_, r.error().describe());
      }
    }
  }
  return diff;
}

}  // namespace declaw::daemon
