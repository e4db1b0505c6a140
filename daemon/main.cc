// declawd: the declaw daemon. Runs in the foreground (systemd's Type=exec or a terminal).
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>

#include "api/router.h"
#include "common/fs_at.h"
#include "common/log.h"
#include "daemon/cgroup_host.h"
#include "daemon/config.h"
#include "daemon/network.h"
#include "daemon/registry.h"
#include "daemon/server.h"
#include "daemon/service_notify.h"
#include "daemon/socket_activation.h"
#include "daemon/state_records.h"
#include "daemon/templates.h"
#include "runtime/launcher.h"
#include "runtime/rootfs.h"
#include "runtime/seccomp_policy.h"

namespace {

constexpr char kInstalledInit[] = "/usr/local/libexec/declaw/declaw-init";

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// declaw-init next to this binary (the build tree), else the installed one.
std::string defaultInitPath() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    auto beside = std::filesystem::path(self).parent_path() / "declaw-init";
    if (std::filesystem::exists(beside)) return beside;
    auto libexec = std::filesystem::path(self).parent_path().parent_path() / "libexec" / "declaw" /
                   "declaw-init";
    if (std::filesystem::exists(libexec)) return libexec;
  }
  return kInstalledInit;
}

}  // namespace

// Longer than readability-function-size allows: the daemon's start-up, step by step, each failure
// ending it with its own message. The split it deserves (flags and config, preparing the host,
// serving) is owed: docs/static-analysis.md.
// NOLINTNEXTLINE(readability-function-size)
int main(int argc, char** argv) {
  using namespace declaw;
  daemon::Config config;
  std::string config_file;
  CLI::App app{"declawd: local sandboxes for untrusted code"};
  app.add_option("--socket", config.socket_path, "API socket path")->capture_default_str();
  app.add_option("--state-dir", config.state_dir, "state directory")->capture_default_str();
  std::string data_dir;
  app.add_option("--data-dir", data_dir,
                 "persistent data directory: templates (config: data_dir; default "
                 "/var/lib/declaw)");
  app.add_option("--config", config_file, "JSON file with limits and defaults");
  app.add_option("--init", config.init_path, "path of declaw-init");
  app.add_option("--log-level", config.log_level, "trace|debug|info|warn|error")
      ->capture_default_str();
  std::string net_pool;
  std::vector<std::string> dns_upstream;
  app.add_option("--net-pool", net_pool, "IPv4 CIDR for sandbox links (config: net_pool)");
  app.add_option("--dns-upstream", dns_upstream,
                 "DNS server for the sandboxes' stub, addr[:port] (repeatable; config: "
                 "dns_upstream; default: /etc/resolv.conf)");
  CLI11_PARSE(app, argc, argv);

  if (!config_file.empty()) {
    if (auto r = daemon::loadConfigFile(config_file, config); !r) {
      (void)std::fprintf(stderr, "declawd: %s\n", r.error().describe().c_str());
      return 2;
    }
  }
  // Flags win over the config file.
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!net_pool.empty()) config.net_pool = net_pool;
  if (!dns_upstream.empty()) config.dns_upstream = dns_upstream;
  auto net_settings = daemon::networkSettingsFrom(config);
  if (!net_settings) {
    (void)std::fprintf(stderr, "declawd: %s\n", net_settings.error().describe().c_str());
    return 2;
  }
  setupLogging(config.log_level);
  // A command that exits without reading its stdin must not kill the daemon with SIGPIPE: a
  // failed write reports EPIPE instead. (Spawned commands get default dispositions back.)
  (void)::signal(SIGPIPE, SIG_IGN);
  auto log = logger("daemon");
  // fds inherited from whoever started us must not reach a sandbox either.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  // Connections, pumps and tree walks of image layers each hold fds; systemd's default soft
  // limit of 1024 is no bound worth keeping (the hard limit is the operator's).
  struct rlimit nofile {};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (::geteuid() != 0) {
    log->error("declawd must run as root (it creates namespaces and maps uid ranges)");
    return 1;
  }
  // Started through declawd.socket: serve on the socket systemd made (and --socket is ignored).
  // Checked before anything else is set up, so a wrong socket unit fails fast and says why.
  auto activation = daemon::takeActivationSocket();
  if (!activation) {
    log->error("{}", activation.error().describe());
    return 1;
  }
  // Sandbox roots are assembled from mounts (runtime/rootfs.h) that must never appear in the
  // host's mount table: declawd works in a mount namespace of its own. Now, while it is still
  // single-threaded (unshare(CLONE_NEWNS) refuses a process whose threads share its fs).
  if (auto r = runtime::enterPrivateMountNamespace(); !r) {
    log->error("{}", r.error().describe());
    return 1;
  }
  if (config.init_path.empty()) config.init_path = defaultInitPath();

  if (::mkdir(config.state_dir.c_str(), 0755) < 0 && errno != EEXIST) {
    log->error("cannot create state dir {}: {}", config.state_dir, std::strerror(errno));
    return 1;
  }
  // One daemon per state dir: a second one would take the first one's sandboxes for a crash's
  // leftovers (or adopt them under it). The lock goes with the process, however it ends.
  const std::string lock_path = config.state_dir + "/declawd.lock";
  UniqueFd state_lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!state_lock || ::flock(state_lock.get(), LOCK_EX | LOCK_NB) < 0) {
    log->error("{}: {}", lock_path,
               errno == EWOULDBLOCK ? "another declawd uses this state dir" : std::strerror(errno));
    return 1;
  }
  daemon::StateRecords records(config.state_dir);
  if (auto r = records.prepare(); !r) {
    log->error("{}", r.error().describe());
    return 1;
  }
  std::unique_ptr<daemon::CgroupHost> cgroups;
  if (config.cgroups == "auto") {
    auto opened = daemon::CgroupHost::open(config.cgroup_subtree);
    if (!opened) {
      log->error(
          "cgroups: {} (set \"cgroups\": \"off\" in the config to run without "
          "resource limits)",
          opened.error().describe());
      return 1;
    }
    cgroups = std::move(*opened);
    log->info("cgroups: {} (subtree {})", cgroups->version(), config.cgroup_subtree);
  }
  // A start that fails from here on leaves no subtree behind (it is empty: no sandbox yet).
  struct SubtreeRemover {
    const daemon::CgroupHost* host;
    ~SubtreeRemover() {
      if (host) host->removeSubtree();
    }
  } subtree_remover{cgroups.get()};
  if (!cgroups) log->warn("cgroups are off: sandboxes have no cpu, memory or pids limits");
  // Live restore: each sandbox's init listens here for the next daemon (root's only).
  const std::string init_socket_dir = config.state_dir + "/init";
  if (::mkdir(init_socket_dir.c_str(), 0700) < 0 && errno != EEXIST) {
    log->error("cannot create {}: {}", init_socket_dir, std::strerror(errno));
    return 1;
  }
  // Records of running sandboxes wait for the registry (which adopts them); the rest are a
  // crash's leftovers, cleaned now.
  size_t cleaned = 0;
  std::vector<daemon::StateRecord> to_adopt = records.sweep(
      [&](const daemon::StateRecord& r) { return config.live_restore && r.sandbox.has_value(); },
      [&](const std::string& id) {
        if (cgroups) cgroups->removeLeftover(id);
        daemon::NetworkHost::removeLeftover(id);
        (void)::unlink((init_socket_dir + "/" + id + ".sock").c_str());
      },
      &cleaned);
  if (cleaned > 0) log->warn("cleaned up {} sandboxes left by a previous run", cleaned);

  // The attach points of root builds; whatever a crashed run left here is only directories (its
  // mounts died with its mount namespace).
  const std::string rootfs_work_dir = config.state_dir + "/mnt";
  {
    UniqueFd state(::open(config.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (state) (void)removeTreeAt(state.get(), "mnt");
  }
  if (::mkdir(rootfs_work_dir.c_str(), 0700) < 0 && errno != EEXIST) {
    log->error("cannot create {}: {}", rootfs_work_dir, std::strerror(errno));
    return 1;
  }
  // A tmpfs of their own, in declawd's mount namespace only: every create makes and removes
  // about ten of these directories, which on the state dir's disk filesystem cost 50-120 us
  // each (0.8 ms of a create on the project's machine) and in memory a few.
  if (::mount("declaw-attach", rootfs_work_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=1m,mode=0700") != 0) {
    log->error("cannot mount a tmpfs on {}: {}", rootfs_work_dir, std::strerror(errno));
    return 1;
  }
  auto templates = daemon::Templates::open(config.data_dir, config.builtin_usr == "overlay");
  if (!templates) {
    log->error("templates: {}", templates.error().describe());
    return 1;
  }
  const daemon::TemplateFeatures& features = (*templates)->features();
  if (!features.images) log->warn("image templates are off: {}", features.images_off_reason);
  if (!features.writable_usr) log->warn("{}", features.usr_off_reason);
  log->info("templates in {}", config.data_dir);
  for (const auto& [name, count] : config.pool) {
    // A pool of a template that is not there would retry forever: refuse it at start.
    if (auto r = (*templates)->resolve(name, api::Caller{}); !r) {
      log->error("pool: template '{}': {}", name, r.error().describe());
      return 1;
    }
    log->info("pool: {} ready sandboxes of {}", count, name);
  }

  auto init_exe = runtime::openInitExecutable(config.init_path);
  if (!init_exe) {
    log->error("{}", init_exe.error().describe());
    return 1;
  }
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  // The init zygote forks every sandbox's init (runtime/launcher.h). Not under sanitizers: their
  // runtimes expect each process to have started by exec, and must see every init's start.
  std::unique_ptr<runtime::InitZygote> zygote;
  if (config.init_zygote && !kSanitized) {
    auto started = runtime::InitZygote::start(init_exe->get(), devnull.get());
    if (started) {
      zygote = std::move(*started);
    } else {
      log->warn("init zygote: {}; every create execs declaw-init", started.error().describe());
    }
  }
  auto seccomp = runtime::buildSeccompProgram(runtime::SeccompOptions{});
  auto seccomp_inet = runtime::buildSeccompProgram(runtime::SeccompOptions{.allow_inet = true});
  if (!seccomp || !seccomp_inet) {
    log->error("building the seccomp filter: {}",
               (!seccomp ? seccomp : seccomp_inet).error().describe());
    return 1;
  }

  // Networking is optional: a host without nftables still runs sandboxes without internet.
  std::unique_ptr<daemon::NetworkHost> network;
  // IPv4 forwarding as the host had it, kept while sandboxes with a link outlive declawds.
  const std::string forwarding_record = config.state_dir + "/ip_forward.json";
  std::string network_off_reason = "\"network\": \"off\" in the config";
  if (config.network == "auto") {
    auto started = daemon::NetworkHost::start(*net_settings);
    if (started) {
      network = std::move(*started);
      network->rememberForwarding(forwarding_record);
    } else {
      network_off_reason = started.error().describe();
      log->error("networking is off: {}", network_off_reason);
    }
  }

  daemon::RegistryParts parts;
  parts.init_exe = std::move(*init_exe);
  parts.zygote = zygote.get();
  parts.devnull = std::move(devnull);
  parts.seccomp_bpf = std::move(*seccomp);
  parts.seccomp_inet_bpf = std::move(*seccomp_inet);
  parts.records = &records;
  parts.cgroups = cgroups.get();
  parts.network = network.get();
  parts.network_off_reason = network_off_reason;
  parts.leftovers_cleaned = cleaned;
  parts.templates = templates->get();
  parts.rootfs_work_dir = rootfs_work_dir;
  // Forwarded ports' sockets; a previous daemon's are removed (their sandboxes are gone).
  if (auto ports = daemon::PortsRoot::open(config.state_dir); ports) {
    parts.ports = std::move(*ports);
  } else {
    log->warn("ports cannot be forwarded: {}", ports.error().describe());
  }
  if (config.live_restore) parts.init_socket_dir = init_socket_dir;
  daemon::Registry registry(config, std::move(parts));
  registry.adopt(to_adopt);
  api::Router router(registry, config.limits);
  boost::asio::io_context io;
  daemon::Server server(io, router);
  std::string listening_on = config.socket_path;
  if (*activation) listening_on = daemon::describeActivationSocket((*activation)->get());
  if (auto r = *activation ? server.adopt(std::move(**activation))
                           : server.listen(config.socket_path, config.socket_group);
      !r) {
    log->error("{}", r.error().describe());
    return 1;
  }
  registry.start();
  server.startAccepting();
  daemon::ServiceNotifier notifier([&registry] {
    const size_t live = registry.health().sandboxes_running;
    return std::to_string(live) + (live == 1 ? " sandbox" : " sandboxes") + " running";
  });
  notifier.ready();  // the socket accepts from here on

  // SIGTERM (systemctl stop, an upgrade): with live restore, sandboxes keep running for the next
  // daemon. SIGINT (Ctrl-C): everything stops, on purpose (docs/operations.md).
  bool kill_all = !config.live_restore;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int signo) {
    kill_all = kill_all || signo == SIGINT;
    log->info("{}: shutting down{}", signo == SIGINT ? "SIGINT" : "SIGTERM",
              kill_all ? ", killing every sandbox" : "; sandboxes keep running");
    server.stopAccepting();
    io.stop();
  });
  log->info("declawd listening on {} (state {}, init {})", listening_on, config.state_dir,
            config.init_path);
  io.run();

  notifier.stopping(kill_all);
  const daemon::Registry::Left left = registry.shutdown(kill_all);
  if (network) {
    network->stop(left.with_link > 0);
    if (left.with_link == 0) (void)::unlink(forwarding_record.c_str());
  }
  if (cgroups && left.sandboxes == 0) cgroups->removeSubtree();
  subtree_remover.host = nullptr;
  if (!server.drain()) {
    // Connection threads still hold references to the registry and router: leave without
    // running destructors. Every sandbox is dead (its record removed) or detached.
    log->warn("declawd stopped with connections still open");
    std::_Exit(0);
  }
  log->info("declawd stopped");
  return 0;
}
