// The sandbox registry: owns every live sandbox, enforces ownership and limits, runs the
// timeout clock, and implements the API's Services interface.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/services.h"
#include "daemon/cgroup_host.h"
#include "daemon/config.h"
#include "daemon/counters.h"
#include "daemon/host_facts_cache.h"
#include "daemon/id_pool.h"
#include "daemon/launch_ahead.h"
#include "daemon/network.h"
#include "daemon/sandbox.h"
#include "daemon/state_records.h"
#include "daemon/templates.h"
#include "daemon/warm_pool.h"

namespace declaw::daemon {

// What the daemon prepared at start for the registry to use.
struct RegistryParts {
  UniqueFd init_exe;
  runtime::InitZygote* zygote = nullptr;  // forks inits when set (main owns it)
  UniqueFd devnull;
  std::vector<uint8_t> seccomp_bpf;       // for sandboxes without network access
  std::vector<uint8_t> seccomp_inet_bpf;  // with it: AF_INET/AF_INET6 sockets allowed
  StateRecords* records = nullptr;
  const CgroupHost* cgroups = nullptr;  // null: cgroups are off
  NetworkHost* network = nullptr;       // null: networking is off
  std::string network_off_reason;       // why, when it is
  uint64_t leftovers_cleaned = 0;
  Templates* templates = nullptr;  // built-ins and the data dir's store
  std::string rootfs_work_dir;     // attach points for building roots (runtime/rootfs.h)
  std::optional<PortsRoot> ports;  // where forwarded ports' sockets go (absent: no ports)
  // Live restore: where each sandbox's init listens for the next daemon (empty: off).
  std::string init_socket_dir;
};

class Registry : public api::Services {
 public:
  Registry(const Config& config, RegistryParts parts);
  ~Registry() override;

  // Starts the timeout clock.
  void start();
  // Stops the clock and kills every sandbox, except, unless kill_all, those that outlive the
  // daemon (live restore): they are left running (Sandbox::detach) with their records kept.
  // Returns how many were left, and how many of them have a network link (internet access).
  // Idempotent.
  struct Left {
    size_t sandboxes = 0;
    size_t with_link = 0;
  };
  Left shutdown(bool kill_all = false);
  // Live restore, before start(): adopts the sandboxes these records name, each verified (its
  // init by pid and start time, its namespaces by inode, its cgroup, its template's layers,
  // init's protocol version); one that fails is killed and cleaned up. Returns how many were
  // adopted.
  size_t adopt(const std::vector<StateRecord>& records);

  api::HealthInfo health() override;
  Result<api::SandboxInfo> createSandbox(const api::Caller& caller,
                                         const api::CreateSandboxSpec& spec) override;
  std::vector<api::SandboxInfo> listSandboxes(const api::Caller& caller) override;
  Result<api::SandboxInfo> getSandbox(const api::Caller& caller, const std::string& id) override;
  Result<void> killSandbox(const api::Caller& caller, const std::string& id) override;
  Result<api::SandboxInfo> setTimeout(const api::Caller& caller, const std::string& id,
                                      uint32_t timeout_s) override;
  Result<api::SandboxInfo> updateNetwork(const api::Caller& caller, const std::string& id,
                                         const api::NetworkUpdate& update) override;
  Result<api::SandboxInfo> pauseSandbox(const api::Caller& caller, const std::string& id) override;
  Result<api::SandboxInfo> resumeSandbox(const api::Caller& caller, const std::string& id) override;
  Result<api::SandboxMetrics> sandboxMetrics(const api::Caller& caller,
                                             const std::string& id) override;
  Result<std::vector<api::SandboxMetrics>> sandboxMetricsHistory(
      const api::Caller& caller, const std::string& id, const api::MetricsRange& range) override;
  api::DaemonMetrics daemonMetrics() override;
  void countResponse(int status) override;
  Result<api::RunResult> runCommand(const api::Caller& caller, const std::string& id,
                                    const api::RunSpec& spec) override;
  Result<api::ProcessInfo> startProcess(const api::Caller& caller, const std::string& id,
                                        const api::ProcessSpec& spec) override;
  Result<std::vector<api::ProcessInfo>> listProcesses(const api::Caller& caller,
                                                      const std::string& id) override;
  Result<api::ProcessInfo> getProcess(const api::Caller& caller, const std::string& id,
                                      int pid) override;
  Result<std::unique_ptr<api::ProcessWatch>> watchProcess(const api::Caller& caller,
                                                          const std::string& id, int pid,
                                                          bool follow) override;
  Result<api::ProcessInfo> waitProcess(const api::Caller& caller, const std::string& id, int pid,
                                       std::chrono::milliseconds timeout) override;
  Result<void> signalProcess(const api::Caller& caller, const std::string& id, int pid,
                             int signal) override;
  Result<void> writeStdin(const api::Caller& caller, const std::string& id, int pid,
                          std::string data) override;
  Result<void> closeStdin(const api::Caller& caller, const std::string& id, int pid) override;
  Result<void> resizePty(const api::Caller& caller, const std::string& id, int pid, uint16_t rows,
                         uint16_t cols) override;
  Result<api::FileEntry> statPath(const api::Caller& caller, const std::string& id,
                                  const std::string& path, const std::string& user) override;
  Result<std::vector<api::FileEntry>> listDir(const api::Caller& caller, const std::string& id,
                                              const std::string& path, uint32_t depth,
                                              const std::string& user) override;
  Result<bool> makeDir(const api::Caller& caller, const std::string& id, const std::string& path,
                       const std::string& user) override;
  Result<void> removePath(const api::Caller& caller, const std::string& id, const std::string& path,
                          const std::string& user) override;
  Result<api::FileEntry> renamePath(const api::Caller& caller, const std::string& id,
                                    const std::string& from, const std::string& to,
                                    const std::string& user) override;
  Result<api::OpenedFile> openForRead(const api::Caller& caller, const std::string& id,
                                      const std::string& path, const std::string& user) override;
  Result<UniqueFd> openForWrite(const api::Caller& caller, const std::string& id,
                                const std::string& path, const std::string& user) override;
  Result<std::unique_ptr<api::DirWatch>> watchDir(const api::Caller& caller, const std::string& id,
                                                  const std::string& path, bool recursive,
                                                  const std::string& user) override;
  Result<api::PortInfo> forwardPort(const api::Caller& caller, const std::string& id, uint16_t port,
                                    const std::optional<std::string>& listen) override;
  Result<std::vector<api::PortInfo>> listPorts(const api::Caller& caller,
                                               const std::string& id) override;
  Result<void> closePort(const api::Caller& caller, const std::string& id, uint16_t port) override;

  // registry_templates.cc
  std::vector<api::TemplateInfo> listTemplates(const api::Caller& caller) override;
  Result<api::TemplateInfo> getTemplate(const api::Caller& caller,
                                        const std::string& name) override;
  Result<void> deleteTemplate(const api::Caller& caller, const std::string& name) override;
  Result<UniqueFd> openImportSpool(const api::Caller& caller) override;
  Result<api::TemplateInfo> importTemplate(const api::Caller& caller, const api::ImportSpec& spec,
                                           int archive_fd) override;
  Result<api::OpenedFile> exportTemplate(const api::Caller& caller,
                                         const std::string& name) override;
  Result<api::TemplateInfo> snapshotSandbox(const api::Caller& caller, const std::string& id,
                                            const api::ImportSpec& spec) override;

 private:
  // Live sandboxes by template name.
  std::map<std::string, size_t> sandboxesByTemplate();
  api::TemplateInfo withUse(api::TemplateInfo info);
  // A live sandbox the caller may use: ENOENT unknown, EACCES not theirs, ESRCH killed.
  Result<std::shared_ptr<Sandbox>> findLive(const api::Caller& caller, const std::string& id);
  // The same, for commands and files: ESRCH also when paused.
  Result<std::shared_ptr<Sandbox>> findUsable(const api::Caller& caller, const std::string& id);
  Result<std::shared_ptr<Process>> findProcess(const api::Caller& caller, const std::string& id,
                                               int pid);
  Result<runtime::ReplyWithFds> fileOp(const api::Caller& caller, const std::string& id,
                                       runtime::FileOpRequest request, const std::string& user);
  // Starts a sandbox: an id range, its state record, Sandbox::start; on failure both are given
  // back. Not counted against max_sandboxes here (the create does that, the pool does not).
  // kCreate takes an init launched ahead and, with live restore, writes the sandbox's whole
  // record while init sets up. kPool does neither: it would only compete with creates for the
  // inits, and a pooled sandbox is nobody's until a create claims it, so its record must not be
  // one a restart adopts (the claim writes it).
  enum class LaunchFor { kCreate, kPool };
  Result<std::shared_ptr<Sandbox>> launch(const api::CreateSandboxSpec& spec, ResolvedTemplate tmpl,
                                          uid_t owner, PhaseClock* phases,
                                          LaunchFor purpose = LaunchFor::kCreate);
  // Kills a sandbox that never was live (pooled, or made during shutdown) and gives back its id
  // range and state record.
  void forget(const std::shared_ptr<Sandbox>& sbx, const char* why);
  // The warm pool's builder: a sandbox of `template_name` with the default settings.
  Result<std::shared_ptr<Sandbox>> buildPooled(const std::string& template_name);
  // What Sandbox::start and launchEarly need of this registry for sandbox `id` on `id_base`.
  SandboxStart startFor(const std::string& id, uint32_t id_base);
  // LaunchAhead's two halves: one init with its range, record and cgroup; and its end.
  Result<AheadInit> launchAhead();
  // Where root builds are detached: a disk of its own, into which init writes the built-ins'
  // skeleton (skeleton.h). Nothing (and no error) where that cannot be; an error only when the
  // init itself can no longer be trusted to be waiting for its config.
  Result<void> addSkeleton(AheadInit& early);
  void discardAhead(AheadInit& ahead);
  // A pooled sandbox for this create, its settings applied; null when none fits.
  std::shared_ptr<Sandbox> takePooled(const api::CreateSandboxSpec& spec,
                                      const ResolvedTemplate& tmpl, uid_t owner);
  // Kills and forgets one sandbox (blocking, outside the lock).
  void retire(const std::shared_ptr<Sandbox>& sandbox, const char* why);
  void clockLoop();
  // Rewrites a sandbox's state record after its settings or clocks changed (live restore).
  void saveRecord(const Sandbox& sbx);
  Result<std::shared_ptr<Sandbox>> adoptOne(const StateRecord& record);
  // registry_resources.cc: a sample of every live sandbox each metrics_history.interval_s.
  void samplerLoop();
  std::string newSandboxId();

  const Config& config_;
  RegistryParts parts_;
  StateRecords& records_;
  const CgroupHost* cgroups_;
  DaemonCounters counters_;
  HostFactsCache host_facts_;

  std::mutex mutex_;
  std::condition_variable clock_changed_;
  std::map<std::string, std::shared_ptr<Sandbox>> live_;
  std::deque<api::SandboxInfo> killed_;  // newest at the back, bounded
  IdPool ids_;
  uint32_t starting_ = 0;  // creates in progress, counted against max_sandboxes
  uint64_t restored_ = 0;
  uint64_t restore_failures_ = 0;
  bool stopping_ = false;
  std::thread clock_;
  std::thread sampler_;                 // not started when metrics_history.interval_s is 0
  std::unique_ptr<WarmPool> pool_;      // null: no pool configured
  std::unique_ptr<LaunchAhead> ahead_;  // null: launch_ahead 0
};

}  // namespace declaw::daemon
