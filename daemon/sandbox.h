// One live sandbox as the daemon sees it: its init process (pidfd + control client), its
// settings, and the operations the API runs in it. Thread-safe; kill() may race with commands.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/services.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "daemon/cgroup_host.h"
#include "daemon/counters.h"
#include "daemon/metrics_history.h"
#include "daemon/network.h"
#include "daemon/port_forward.h"
#include "daemon/process_table.h"
#include "daemon/skeleton.h"
#include "daemon/state_records.h"
#include "daemon/templates.h"
#include "image/layer_diff.h"
#include "runtime/init_client.h"
#include "runtime/launcher.h"

namespace declaw::daemon {

class Sandbox;

// A sandbox's cgroup and init, before anything of the create that will use them is known: what
// Sandbox::launchEarly makes, ahead of time for LaunchAhead (launch_ahead.h) or inline.
struct AheadInit {
  std::string id;
  uint32_t id_base = 0;
  std::optional<runtime::Cgroup> cgroup;  // with the config's default resources when ahead
  api::Resources resources;               // what the cgroup was given
  runtime::LaunchedInit init;             // exec'd (or forked), waiting for its InitConfig
  uint64_t start_ticks = 0;
  // Launched ahead, where root builds are detached: a disk whose upper holds the built-ins'
  // skeleton, which init wrote (skeleton.h). A create of a plain built-in takes it.
  std::optional<Skeleton> skeleton;
};

struct SandboxStart {
  std::string id;
  api::CreateSandboxSpec spec;
  uid_t owner = 0;
  runtime::IdRange ids;
  int init_exe_fd = -1;
  runtime::InitZygote* zygote = nullptr;  // null: exec init for every create
  int devnull_fd = -1;
  const std::vector<uint8_t>* seccomp_bpf = nullptr;
  const CgroupHost* cgroups = nullptr;  // null: cgroups are off
  NetworkHost* network = nullptr;       // null: networking is off (no sandbox gets a link)
  const api::Limits* limits = nullptr;  // output caps and buffers, process limits
  std::function<void(pid_t pid, uint64_t start_ticks)> on_launched;  // record before setup runs
  // With live restore, while init sets up: the sandbox's whole record (stateRecord()). Unset
  // for a pooled sandbox, whose whole record waits for the claim.
  std::function<void(const Sandbox&)> on_setting_up;
  ResolvedTemplate* tmpl = nullptr;    // moved into the sandbox
  bool writable_usr = false;           // built-ins: an overlay over the host's /usr
  std::string rootfs_work_dir;         // where runtime::buildRootfs attaches its mounts
  PhaseClock* phases = nullptr;        // marks each phase of the start (null: untimed)
  DaemonCounters* counters = nullptr;  // where the sandbox's process starts are timed
  // A built-in's root: the host facts its plan reads (null: init probes the host itself).
  std::shared_ptr<const runtime::HostFacts> host_facts;
  const PortsRoot* ports = nullptr;  // where its forwards' sockets go (null: no ports)
  size_t history_samples = 0;        // the metrics history's capacity (0: none kept)
  // Live restore: where init's listening socket goes (<dir>/<id>.sock); empty: the sandbox
  // dies with the daemon (live restore off, or a sandbox with internet access).
  std::string init_socket_dir;
  // Launched ahead (same id and ids as above): start() takes its cgroup, to which it gives the
  // spec's resources, and its init, and launches nothing. Null: start() launches.
  AheadInit* ahead = nullptr;
  // launchEarly: the new init's nice value (runtime::kAheadNice for one launched ahead).
  int ahead_nice = 0;
};

// A sandbox a previous daemon left running, verified by the registry (live restore).
struct SandboxAdopt {
  std::string id;
  runtime::IdRange ids;
  pid_t init_pid = -1;
  uint64_t init_start_ticks = 0;
  UniqueFd pidfd;
  SandboxRecord record;
  std::optional<runtime::Cgroup> cgroup;
  UniqueFd control;  // connected to init's socket, attached
  std::vector<runtime::HeldProcess> held;
  ResolvedTemplate tmpl;
  std::string init_socket;
  const api::Limits* limits = nullptr;
  DaemonCounters* counters = nullptr;
  NetworkHost* network = nullptr;
  std::shared_ptr<SandboxNetwork> net;  // its link, adopted (NetworkHost::adopt); null: none
  const PortsRoot* ports = nullptr;
  size_t history_samples = 0;
};

// A sandbox's egress policy from its settings (EINVAL-worthy message on a bad list).
Result<netpolicy::Policy> policyOf(bool internet, const api::NetworkLists& lists);

class Sandbox {
 public:
  // Launches init (or takes start.ahead's), sends its config and waits until the sandbox is ready.
  static Result<std::shared_ptr<Sandbox>> start(const SandboxStart& start);
  // The cgroup (with `resources`) and the init of sandbox start.id, nothing else of start's is
  // used but ids, the launch fds, the zygote, cgroups, counters and phases. On failure nothing
  // is left.
  static Result<AheadInit> launchEarly(const SandboxStart& start, const api::Resources& resources);
  // Takes over a running sandbox (live restore): its processes as init held them.
  static std::shared_ptr<Sandbox> adopt(SandboxAdopt adopt);
  ~Sandbox();

  // Live restore: whether it outlives the daemon, and what its state record must say now.
  bool outlivesDaemon() const { return held_; }
  bool hasNetworkLink() const { return net_ != nullptr; }
  StateRecord stateRecord() const;
  // Lets go of the sandbox without killing it (the daemon stops with live restore): init goes
  // on and waits for the next daemon. It is not running as far as this daemon goes.
  void detach();

  const std::string& id() const { return id_; }
  uid_t owner() const { return owner_; }
  uint32_t idBase() const { return ids_.host_base; }
  // kCached (listings): the firewall's dropped-packet count as last read (NetworkHost::describe),
  // so that no nft command runs per sandbox.
  api::SandboxInfo info(NetworkHost::Counters counters = NetworkHost::Counters::kLive) const;
  bool running() const;
  bool paused() const;
  // False when init died on its own (the registry then kills and forgets the sandbox).
  bool initAlive() const;
  // When the timeout kills the sandbox, on the monotonic clock: stepping the host's wall clock
  // neither kills sandboxes early nor keeps them alive. (SandboxInfo shows it as wall time.)
  // Paused sandboxes have none (time_point::max()).
  std::chrono::steady_clock::time_point deadline() const;
  void setTimeout(std::chrono::seconds from_now);
  const std::string& onTimeout() const { return spec_.on_timeout; }

  // Freezes every process (the freezer cgroup) and stops the timeout clock; resume thaws and
  // gives back the time that was left (the whole timeout if it had run out). ENOSYS without
  // cgroups. Idempotent.
  Result<void> pause();
  Result<void> resume();
  // CPU use is the average since this observer's previous request (an observer is a client
  // process, by its pid), or since the sandbox started: two clients polling at once (a stats
  // view and an SDK) each see their own window.
  Result<api::SandboxMetrics> metrics(pid_t observer);
  // Takes a sample for the metrics history (the registry's sampler calls it); nothing once
  // killed. Its CPU use is the average since the previous sample (MetricsHistory::record).
  // `read_firewall`: also refresh the firewall's refusal count that listings show (one nft
  // command); the create's first sample skips it, as nothing can have been refused yet.
  void recordSample(bool read_firewall = true);
  // The samples in `range`, oldest first; ESRCH once killed.
  Result<std::vector<api::SandboxMetrics>> metricsHistory(const api::MetricsRange& range);

  // The egress policy (PATCH .../network): ENOTCONN asking for internet access on a sandbox made
  // without it (its netns has no link and its seccomp filter refuses inet sockets).
  Result<void> updateNetwork(const api::NetworkUpdate& update);
  // Bytes over the sandbox's link, {received, sent}; none without internet access.
  std::optional<std::pair<uint64_t, uint64_t>> netTraffic();

  const ResolvedTemplate& templ() const { return template_; }
  // The host facts its root was planned from (null for an image's root).
  const std::shared_ptr<const runtime::HostFacts>& hostFacts() const { return host_facts_; }

  // A pooled sandbox becomes the caller's: the create's settings (resources, timeout, envs,
  // metadata, on_timeout) replace the pool's defaults and its clocks start now. An error
  // (a limit the kernel refuses) leaves it unusable: the caller discards it.
  Result<void> claim(const api::CreateSandboxSpec& spec, uid_t owner, const CgroupHost* cgroups);
  // The sandbox's changes since it started (its overlay upper dirs), written to `out_fd` as an
  // OCI layer while every process of it is frozen; it is thawed again unless it was paused.
  // ENOSYS without cgroups (no freezer), ESRCH once killed.
  Result<image::DiffResult> writeChanges(int out_fd);

  // A foreground command: returns when it has finished.
  Result<api::RunResult> run(const api::RunSpec& spec);
  // A background, streamed or PTY process: returns once it runs.
  Result<std::shared_ptr<Process>> startProcess(const api::ProcessSpec& spec);
  Result<std::shared_ptr<Process>> process(int pid);
  std::vector<api::ProcessInfo> processes();
  Result<runtime::ReplyWithFds> fileOp(runtime::FileOpRequest request);

  // Its forwarded ports (port_forward.h); they end when it is killed. ENOTCONN for a sandbox
  // without inet sockets (nothing in it can listen on 127.0.0.1). The socket is the owner's,
  // with `group`; `privileged`: the caller is root (port_forward.h).
  Result<api::PortInfo> forwardPort(uint16_t port, const std::optional<std::string>& listen,
                                    gid_t group, bool privileged);
  std::vector<api::PortInfo> ports() const;
  Result<void> closePort(uint16_t port);

  // SIGKILL to init (the kernel kills the whole pid namespace), reap it, drop the control
  // channel. Idempotent; returns true the first time. Every caller returns only once the
  // sandbox's processes are gone (a concurrent second caller waits for the first).
  bool kill();

 private:
  Sandbox() = default;
  // What start() and adopt() set alike: identity, settings, the process table, the cgroup, the
  // port table and the network host.
  static std::shared_ptr<Sandbox> blank(const std::string& id, uid_t owner, runtime::IdRange ids,
                                        const api::CreateSandboxSpec& spec,
                                        const api::Limits& limits, DaemonCounters* counters,
                                        std::optional<runtime::Cgroup> cgroup,
                                        const PortsRoot* ports, NetworkHost* network);
  std::shared_ptr<runtime::InitClient> client() const;
  ProcessPlan planFor(const api::ProcessSpec& spec) const;
  Result<std::shared_ptr<Process>> start(ProcessPlan plan);
  // A reading of what the sandbox uses now, without CPU use (which is relative to a window).
  Result<api::SandboxMetrics> measure();

  api::NetworkInfo networkInfo(
      NetworkHost::Counters counters = NetworkHost::Counters::kLive) const;  // under mutex_

  std::string id_;
  uid_t owner_ = 0;
  runtime::IdRange ids_;
  api::CreateSandboxSpec spec_;
  api::Limits limits_;
  // Shared with the init client's callbacks, which wake the processes' pumps.
  DaemonCounters* counters_ = nullptr;  // the daemon's, which outlives every sandbox
  std::shared_ptr<ProcessTable> processes_;
  api::Clock::time_point started_at_;
  pid_t init_pid_ = -1;
  UniqueFd pidfd_;
  std::unique_ptr<PortTable> ports_;

  std::mutex kill_mutex_;  // held for the whole kill, so concurrent kills wait for the first
  mutable std::mutex mutex_;
  std::chrono::steady_clock::time_point deadline_;
  bool paused_ = false;
  std::chrono::steady_clock::duration left_when_paused_{};
  // Serialises pause, resume and kill on the freezer (Cgroup is not thread-safe).
  std::mutex cgroup_mutex_;
  std::optional<runtime::Cgroup> cgroup_;
  std::shared_ptr<const runtime::Cgroup> cgroup_reader_;  // usage only, for processes
  struct CpuSample {
    std::chrono::steady_clock::time_point at;
    uint64_t usage_ns = 0;
  };
  static double coresSince(const CpuSample& since, uint64_t usage_ns,
                           std::chrono::steady_clock::time_point now);
  CpuSample started_cpu_;                       // under mutex_
  std::map<pid_t, CpuSample> cpu_by_observer_;  // under mutex_, at most kMaxCpuObservers
  std::unique_ptr<MetricsHistory> history_;     // set by start(), thread-safe itself
  api::Clock::time_point killed_at_;
  bool killed_ = false;
  std::shared_ptr<runtime::InitClient> client_;
  NetworkHost* network_ = nullptr;
  std::shared_ptr<SandboxNetwork> net_;            // with internet access
  std::mutex network_mutex_;                       // serialises policy updates
  std::optional<api::NetworkInfo> final_network_;  // the last view, kept at kill
  ResolvedTemplate template_;                      // its layers stay pinned while the sandbox lives
  std::shared_ptr<const runtime::HostFacts> host_facts_;
  bool held_ = false;        // live restore: init outlives the daemon
  std::string init_socket_;  // where the next daemon connects (removed at kill)
  uint64_t init_start_ticks_ = 0;
  NamespaceInodes namespaces_{};
  UniqueFd disk_;             // the disk tmpfs's root: upper dirs for snapshots (none once adopted)
  bool usr_overlay_ = false;  // /usr is an overlay too (disk/usr holds its changes)
  std::mutex snapshot_mutex_;                 // one snapshot at a time; resume waits for it
  std::atomic<bool> snapshot_cancel_{false};  // set by kill(): a snapshot's walk stops
};

}  // namespace declaw::daemon
