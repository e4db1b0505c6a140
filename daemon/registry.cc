#include "daemon/registry.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>

#include "api/wire.h"
#include "common/io.h"
#include "common/log.h"
#include "daemon/dir_watch.h"

namespace declaw::daemon {

namespace {

constexpr char kIdAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr size_t kIdSuffixLength = 12;
constexpr uint32_t kUserId = 1000;
// How long an init launched ahead may take to write the built-ins' skeleton.
constexpr std::chrono::milliseconds kSkeletonTimeout{10000};
constexpr const char* kVersion = "0.1.0";
// The clock wakes at least this often to notice sandboxes whose init died on its own.
constexpr auto kClockTick = std::chrono::seconds(1);
// An encoded listing from the sandbox (~100 bytes an entry): beyond this, 413. Each entry
// costs a few copies on the way to JSON, so this bounds the daemon's memory per request.
constexpr size_t kMaxListingBytes = 8ull << 20;

std::string idName(uint32_t id) {
  if (id == 0) return "root";
  if (id == kUserId) return "user";
  if (id == 65534) return "nobody";
  return std::to_string(id);
}

api::FileEntry toFileEntry(const runtime::Entry& e) {
  api::FileEntry f;
  f.name = e.name;
  f.path = e.path;
  switch (e.type) {
    case runtime::EntryType::kFile:
      f.type = "file";
      break;
    case runtime::EntryType::kDir:
      f.type = "dir";
      break;
    case runtime::EntryType::kSymlink:
      f.type = "symlink";
      break;
    default:
      f.type = "other";
      break;
  }
  f.size = e.size;
  f.mode = e.mode & 07777;
  f.owner = idName(e.uid);
  f.group = idName(e.gid);
  f.modified_time = api::timeFromUnixSeconds(e.mtime_sec);
  f.symlink_target = e.symlink_target;
  return f;
}

runtime::FileOpRequest fileRequest(runtime::FileOpKind kind, const std::string& path) {
  runtime::FileOpRequest req;
  req.kind = kind;
  req.path = path;
  return req;
}

// The one fd a reply carries, checked: init is untrusted, so the fd must be a regular file
// (reading or writing it cannot block), and its size comes from fstat, not from init's word.
Result<api::OpenedFile> takeRegularFile(runtime::ReplyWithFds& reply, const std::string& path) {
  if (reply.fds.size() != 1) return ErrnoError(EPROTO) << "sandbox init sent no fd for " << path;
  struct stat st {};
  if (::fstat(reply.fds[0].get(), &st) < 0 || !S_ISREG(st.st_mode)) {
    return ErrnoError(EINVAL) << path << " is not a regular file";
  }
  return api::OpenedFile{std::move(reply.fds[0]), static_cast<uint64_t>(st.st_size)};
}

Result<void> replyError(const runtime::ReplyWithFds& r) {
  if (r.reply.error == 0) return {};
  return ErrnoError(r.reply.error) << r.reply.message;
}

}  // namespace

Registry::Registry(const Config& config, RegistryParts parts)
    : config_(config),
      parts_(std::move(parts)),
      records_(*parts_.records),
      cgroups_(parts_.cgroups),
      ids_(config.id_pool_base, config.id_pool_slots) {
  if (!config.pool.empty()) {
    pool_ = std::make_unique<WarmPool>(
        config.pool, [this](const std::string& name) { return buildPooled(name); },
        [this](const std::shared_ptr<Sandbox>& sbx, const char* why) { forget(sbx, why); });
  }
  if (config.launch_ahead > 0) {
    ahead_ = std::make_unique<LaunchAhead>(
        config.launch_ahead, [this] { return launchAhead(); },
        [this](AheadInit& ahead) { discardAhead(ahead); }, LaunchAhead::kMaxRefillDeferral,
        runtime::kAheadNice);
  }
}

Registry::~Registry() { shutdown(); }

void Registry::start() {
  clock_ = std::thread([this] { clockLoop(); });
  if (config_.metrics_history.samples() > 0) sampler_ = std::thread([this] { samplerLoop(); });
  if (pool_) pool_->start();
  if (ahead_) ahead_->start();
}

Registry::Left Registry::shutdown(bool kill_all) {
  if (pool_) pool_->stop();
  if (ahead_) ahead_->stop();
  std::vector<std::shared_ptr<Sandbox>> all;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [id, sbx] : live_) all.push_back(sbx);
  }
  clock_changed_.notify_all();
  if (clock_.joinable()) clock_.join();
  if (sampler_.joinable()) sampler_.join();
  Left left;
  for (auto& sbx : all) {
    if (!kill_all && sbx->outlivesDaemon() && sbx->running()) {
      saveRecord(*sbx);  // its clocks as of now
      const bool linked = sbx->hasNetworkLink();
      sbx->detach();
      std::lock_guard lock(mutex_);
      live_.erase(sbx->id());
      ++left.sandboxes;
      if (linked) ++left.with_link;
      continue;
    }
    retire(sbx, "daemon shutting down");
  }
  if (left.sandboxes > 0) {
    logger("daemon")->info("{} sandboxes left running for the next daemon ({} with a network link)",
                           left.sandboxes, left.with_link);
  }
  return left;
}

void Registry::saveRecord(const Sandbox& sbx) {
  if (!sbx.outlivesDaemon()) return;
  // Under the registry's lock, taken from live_: writes never interleave (they share a temp
  // file), the last one written is the newest state, and a sandbox retired meanwhile (its record
  // removed under this lock) never gets its record back.
  std::lock_guard lock(mutex_);
  auto it = live_.find(sbx.id());
  if (it == live_.end() || it->second.get() != &sbx || !sbx.running()) return;
  if (auto r = records_.write(sbx.stateRecord()); !r) {
    logger("daemon")->warn("[{}] state record: {}", sbx.id(), r.error().describe());
  }
}

std::string Registry::newSandboxId() {
  unsigned char bytes[kIdSuffixLength];
  while (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
  }
  std::string id = "sbx-";
  for (unsigned char b : bytes) id += kIdAlphabet[b % 36];
  return id;
}

void Registry::retire(const std::shared_ptr<Sandbox>& sbx, const char* why) {
  sbx->kill();  // returns when the sandbox's processes are gone, whoever killed it
  std::lock_guard lock(mutex_);
  // A kill request and the clock may retire the same sandbox at once: only the caller that
  // takes it out of live_ does the bookkeeping, so its id range is released exactly once.
  if (live_.erase(sbx->id()) == 0) return;
  ++counters_.kills;
  ids_.release(sbx->idBase());
  records_.remove(sbx->id());
  killed_.push_back(sbx->info());
  while (killed_.size() > config_.killed_records_kept) killed_.pop_front();
  logger("daemon")->info("[{}] retired: {}", sbx->id(), why);
}

void Registry::clockLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<std::shared_ptr<Sandbox>, const char*>> due;
    std::vector<std::shared_ptr<Sandbox>> to_pause;
    auto next = now + kClockTick;
    for (auto& [id, sbx] : live_) {
      if (!sbx->initAlive()) {
        due.emplace_back(sbx, "its init process ended");
      } else if (sbx->deadline() <= now) {
        if (sbx->onTimeout() == "pause") {
          to_pause.push_back(sbx);
        } else {
          due.emplace_back(sbx, "timeout reached");
        }
      } else {
        next = std::min(next, sbx->deadline());
      }
    }
    if (!due.empty() || !to_pause.empty()) {
      lock.unlock();
      for (auto& sbx : to_pause) {
        if (auto r = sbx->pause(); !r) {
          logger("daemon")->warn("[{}] pause on timeout: {}", sbx->id(), r.error().describe());
          retire(sbx, "timeout reached (pause failed)");
        } else {
          saveRecord(*sbx);
        }
      }
      for (auto& [sbx, why] : due) retire(sbx, why);
      lock.lock();
      continue;
    }
    clock_changed_.wait_until(lock, next);
  }
}

api::HealthInfo Registry::health() {
  api::HealthInfo h;
  h.version = kVersion;
  h.features["user_namespaces"] = true;
  h.features["seccomp"] = !parts_.seccomp_bpf.empty();
  h.features["pidfd"] = true;
  h.features["internet_access"] = parts_.network != nullptr;
  if (parts_.network) h.network = parts_.network->healthInfo();
  h.features["cgroups"] = cgroups_ != nullptr;
  h.features["pause"] = cgroups_ != nullptr;
  h.features["overlay_root"] = true;
  h.features["image_templates"] = parts_.templates->features().images;
  h.features["writable_usr"] = parts_.templates->features().writable_usr;
  h.features["snapshots"] = cgroups_ != nullptr;
  h.cgroup = cgroups_ ? cgroups_->version() : "off";
  h.leftovers_cleaned = parts_.leftovers_cleaned;
  h.features["live_restore"] = config_.live_restore;
  const api::Limits& l = config_.limits;
  h.limits = {{"max_json_body_bytes", l.max_json_body_bytes},
              {"max_upload_bytes", l.max_upload_bytes},
              {"max_template_bytes", l.max_template_bytes},
              {"max_template_unpacked_bytes", l.max_template_unpacked_bytes},
              {"max_header_bytes", l.max_header_bytes},
              {"max_text_read_bytes", l.max_text_read_bytes},
              {"idle_timeout_s", l.idle_timeout_s},
              {"request_timeout_s", l.request_timeout_s},
              {"max_connections", l.max_connections},
              {"max_sandboxes", l.max_sandboxes},
              {"max_output_bytes", l.max_output_bytes},
              {"max_sandbox_timeout_s", l.max_sandbox_timeout_s}};
  std::lock_guard lock(mutex_);
  h.sandboxes_running = live_.size();
  h.sandboxes_restored = restored_;
  h.restore_failures = restore_failures_;
  h.leftovers_cleaned += restore_failures_;
  return h;
}

SandboxStart Registry::startFor(const std::string& id, uint32_t id_base) {
  SandboxStart start;
  start.id = id;
  start.ids = runtime::IdRange{id_base, IdPool::kSlotSize};
  start.init_exe_fd = parts_.init_exe.get();
  start.zygote = parts_.zygote;
  start.devnull_fd = parts_.devnull.get();
  start.cgroups = cgroups_;
  start.network = parts_.network;
  start.limits = &config_.limits;
  start.counters = &counters_;
  start.ports = parts_.ports ? &*parts_.ports : nullptr;
  start.history_samples = config_.metrics_history.samples();
  start.rootfs_work_dir = parts_.rootfs_work_dir;
  return start;
}

Result<AheadInit> Registry::launchAhead() {
  std::optional<uint32_t> id_base;
  std::string id;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return ErrnoError(ESRCH) << "the daemon is shutting down";
    id_base = ids_.acquire();
    if (!id_base) return ErrnoError(EDQUOT) << "no free uid range";
    id = newSandboxId();
  }
  StateRecord record{id, *id_base, 0, 0, std::nullopt};
  record.ahead = true;
  auto early = [&]() -> Result<AheadInit> {
    if (auto r = records_.write(record); !r) return r.error();
    try {
      SandboxStart start = startFor(id, *id_base);
      start.ahead_nice = runtime::kAheadNice;
      return Sandbox::launchEarly(start, config_.limits.default_resources);
    } catch (const std::exception& e) {
      return ErrnoError(EAGAIN) << "launch: " << e.what();
    }
  }();
  if (early) {
    record.init_pid = early->init.pid;
    record.init_start_ticks = early->start_ticks;
    auto recorded = records_.write(record);
    auto skeleton = recorded ? addSkeleton(*early) : Result<void>(recorded.error());
    if (skeleton) return early;
    discardAhead(*early);
    return ErrnoError(skeleton.error().code) << id << ": " << skeleton.error().message;
  }
  std::lock_guard lock(mutex_);
  ids_.release(*id_base);
  records_.remove(id);
  return early.error();
}

Result<void> Registry::addSkeleton(AheadInit& early) {
  if (!runtime::overlayTakesDetachedLayers()) return {};
  auto facts = host_facts_.current();
  auto log = logger("daemon");
  auto stamps = facts ? stampSkeletonFiles(*facts, kUserId, kUserId)
                      : Result<std::vector<FileStamp>>(ErrnoError(ENOENT) << "no host facts");
  if (!stamps) {
    log->debug("[{}] no skeleton ahead: {}", early.id, stamps.error().describe());
    return {};
  }
  auto disk = runtime::prepareDisk(config_.limits.default_resources.disk_mb << 20, early.id_base);
  if (!disk) {
    log->debug("[{}] no skeleton ahead: {}", early.id, disk.error().describe());
    return {};
  }
  UniqueFd upper(::openat(disk->dir.get(), runtime::kDiskUpper,
                          O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!upper) {
    log->warn("[{}] no skeleton ahead: open the disk's upper dir: {}", early.id,
              std::strerror(errno));
    return {};
  }
  runtime::SkeletonRequest request{kUserId, kUserId, *facts};
  auto written = runtime::InitClient::writeSkeleton(early.init.control.get(), request, upper.get(),
                                                    kSkeletonTimeout);
  if (!written) {
    // An init that answered has said all it will (its setup plans the whole root as usual); one
    // that did not may still answer, in the middle of a handshake: it goes.
    if (written.error().code == ETIMEDOUT || written.error().code == EPIPE ||
        written.error().code == EPROTO) {
      return written.error();
    }
    log->warn("[{}] no skeleton ahead: {}", early.id, written.error().describe());
    return {};
  }
  early.skeleton = Skeleton{std::move(*disk), std::move(facts), std::move(*stamps)};
  return {};
}

namespace {

// Kills an init launched ahead (if it is still this one's) and removes its cgroup.
void endAheadInit(AheadInit& ahead) {
  if (ahead.init.pidfd) {
    ::syscall(SYS_pidfd_send_signal, ahead.init.pidfd.get(), SIGKILL, nullptr, 0);
    ::waitpid(ahead.init.pid, nullptr, 0);
    ahead.init.pidfd.reset();
  }
  if (ahead.cgroup) {
    (void)ahead.cgroup->killAll();
    if (auto r = ahead.cgroup->remove(); !r) {
      logger("daemon")->warn("[{}] cgroup: {}", ahead.id, r.error().describe());
    }
    ahead.cgroup.reset();
  }
}

}  // namespace

void Registry::discardAhead(AheadInit& ahead) {
  endAheadInit(ahead);
  std::lock_guard lock(mutex_);
  ids_.release(ahead.id_base);
  records_.remove(ahead.id);
}

Result<std::shared_ptr<Sandbox>> Registry::launch(const api::CreateSandboxSpec& spec,
                                                  ResolvedTemplate tmpl, uid_t owner,
                                                  PhaseClock* phases, LaunchFor purpose) {
  const bool create = purpose == LaunchFor::kCreate;
  std::optional<AheadInit> ahead = ahead_ && create ? ahead_->take() : std::nullopt;
  std::optional<uint32_t> id_base;
  std::string id;
  if (ahead) {
    id_base = ahead->id_base;
    id = ahead->id;
  } else {
    std::lock_guard lock(mutex_);
    id_base = ids_.acquire();
    if (!id_base) return ErrnoError(EDQUOT) << "no free uid range for another sandbox";
    id = newSandboxId();
  }
  auto log = logger("daemon");
  StateRecord record{id, *id_base, 0, 0, std::nullopt};
  // Taken ahead: its record already names its init (start() rewrites it, no longer ahead).
  auto recorded = ahead ? Result<void>{} : records_.write(record);
  if (phases && !ahead) phases->mark(CreatePhase::kStateRecord);
  SandboxStart start = startFor(id, *id_base);
  start.spec = spec;
  start.owner = owner;
  start.ahead = ahead ? &*ahead : nullptr;
  // Inet sockets are allowed with internet access, and for loopback-only TCP (whose second
  // layer is the loopback filter Sandbox::start puts in the sandbox's network namespace).
  const bool inet = spec.allow_internet_access || spec.loopback_inet;
  start.seccomp_bpf = inet ? &parts_.seccomp_inet_bpf : &parts_.seccomp_bpf;
  start.tmpl = &tmpl;
  start.writable_usr = parts_.templates->features().writable_usr;
  start.phases = phases;
  if (tmpl.kind == runtime::RootKind::kHost) start.host_facts = host_facts_.current();
  if (config_.live_restore) start.init_socket_dir = parts_.init_socket_dir;
  if (create) {
    // Nothing else writes this record before the create returns: it is not in live_ yet.
    start.on_setting_up = [&](const Sandbox& sbx) {
      if (auto r = records_.write(sbx.stateRecord()); !r)
        log->warn("[{}] state record: {}", id, r.error().describe());
    };
  }
  start.on_launched = [&](pid_t pid, uint64_t ticks) {
    record.init_pid = pid;
    record.init_start_ticks = ticks;
    if (auto r = records_.write(record); !r)
      log->warn("[{}] state record: {}", id, r.error().describe());
  };
  // Starting allocates and creates a thread; an exception here must still give the id slot
  // and the record back (below), so it becomes an ordinary error.
  auto startSandbox = [&]() -> Result<std::shared_ptr<Sandbox>> {
    if (!recorded) return recorded.error();
    try {
      return Sandbox::start(start);
    } catch (const std::exception& e) {
      return ErrnoError(EAGAIN) << "start sandbox: " << e.what();
    }
  };
  Result<std::shared_ptr<Sandbox>> sbx = startSandbox();
  if (!sbx) {
    // start() takes the init it was given first thing and ends it on any failure after; what
    // is left here is nothing, or (had start() not got that far) the init itself.
    if (ahead) endAheadInit(*ahead);
    std::lock_guard lock(mutex_);
    ids_.release(*id_base);
    records_.remove(id);
    log->warn("[{}] create failed: {}", id, sbx.error().describe());
  }
  return sbx;
}

void Registry::forget(const std::shared_ptr<Sandbox>& sbx, const char* why) {
  sbx->kill();
  std::lock_guard lock(mutex_);
  ids_.release(sbx->idBase());
  records_.remove(sbx->id());
  logger("daemon")->debug("[{}] ended: {}", sbx->id(), why);
}

Result<std::shared_ptr<Sandbox>> Registry::buildPooled(const std::string& template_name) {
  auto tmpl = parts_.templates->resolve(template_name, api::Caller{});
  if (!tmpl) return tmpl.error();
  api::CreateSandboxSpec spec;
  spec.template_name = template_name;
  spec.timeout_s = config_.limits.default_sandbox_timeout_s;
  spec.resources = config_.limits.default_resources;
  return launch(spec, std::move(*tmpl), 0, nullptr, LaunchFor::kPool);
}

namespace {

// Whether a pooled sandbox's root is what a create of `b` would build now (the same layers,
// so the same template version, and the same image config).
bool sameRoot(const ResolvedTemplate& a, const ResolvedTemplate& b) {
  return a.kind == b.kind && a.builtin == b.builtin && a.layers == b.layers &&
         a.usr_layers == b.usr_layers && a.env == b.env && a.working_dir == b.working_dir &&
         a.default_user == b.default_user;
}

}  // namespace

std::shared_ptr<Sandbox> Registry::takePooled(const api::CreateSandboxSpec& spec,
                                              const ResolvedTemplate& tmpl, uid_t owner) {
  if (spec.allow_internet_access || spec.loopback_inet) {
    // Its seccomp filter (and link, or loopback filter) are fixed before any code runs: a
    // pooled sandbox has none of them, so such a create is always built fresh.
    pool_->countMiss(spec.template_name);
    return nullptr;
  }
  std::shared_ptr<const runtime::HostFacts> facts;
  if (tmpl.kind == runtime::RootKind::kHost) facts = host_facts_.current();
  auto sbx = pool_->take(spec.template_name, [&](const Sandbox& s) {
    return sameRoot(s.templ(), tmpl) && s.hostFacts() == facts;
  });
  if (!sbx) return nullptr;
  if (auto r = sbx->claim(spec, owner, cgroups_); !r) {
    logger("daemon")->warn("[{}] pooled sandbox refused the create's settings: {}", sbx->id(),
                           r.error().describe());
    forget(sbx, "the create's settings failed");
    return nullptr;
  }
  return sbx;
}

Result<api::SandboxInfo> Registry::createSandbox(const api::Caller& caller,
                                                 const api::CreateSandboxSpec& spec) {
  if (spec.allow_internet_access && !parts_.network) {
    return ErrnoError(ENOSYS) << "allow_internet_access: this daemon has no networking ("
                              << parts_.network_off_reason << ")";
  }
  if (spec.allow_internet_access) {
    if (auto r = parts_.network->checkAllows(spec.network.allow_out); !r) return r.error();
  }
  // Inits launched ahead are refilled once this create has returned and the new sandbox's first
  // command has run, or a settle time has passed without one (launch_ahead.h).
  LaunchAhead::Foreground creating(ahead_.get(), LaunchAhead::Foreground::Kind::kCreate);
  PhaseClock phases;
  auto tmpl = parts_.templates->resolve(spec.template_name, caller);
  if (!tmpl) return tmpl.error();
  phases.mark(CreatePhase::kTemplate);
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return ErrnoError(ESRCH) << "the daemon is shutting down";
    if (live_.size() + starting_ >= config_.limits.max_sandboxes) {
      return ErrnoError(EDQUOT) << "too many sandboxes (limit " << config_.limits.max_sandboxes
                                << ")";
    }
    ++starting_;
  }
  std::shared_ptr<Sandbox> pooled;
  if (pool_ && pool_->serves(spec.template_name)) {
    pooled = takePooled(spec, *tmpl, caller.uid);
    if (pooled) phases.mark(CreatePhase::kPoolTake);
  }
  if (pool_ && !pooled) pool_->noteForeground();
  Result<std::shared_ptr<Sandbox>> sbx =
      pooled ? pooled : launch(spec, std::move(*tmpl), caller.uid, &phases);
  std::unique_lock lock(mutex_);
  --starting_;
  if (!sbx) {
    ++counters_.create_failures;
    return sbx.error();
  }
  if (stopping_) {
    lock.unlock();
    forget(*sbx, "the daemon is shutting down");
    return ErrnoError(ESRCH) << "the daemon is shutting down";
  }
  const std::string& id = (*sbx)->id();
  live_[id] = *sbx;
  ++counters_.creates;
  phases.finish();
  counters_.recordCreate(phases);
  clock_changed_.notify_all();
  lock.unlock();
  // A sandbox built now wrote its record while init set up; a pooled one's names the pool's
  // settings, not the create's.
  if (pooled) saveRecord(*pooled);
  // The history starts at the create, so it is never empty while the sandbox lives (a sandbox
  // built now took its first sample while init set up; a claim cleared the pooled one's).
  if (pooled && config_.metrics_history.samples() > 0) {
    pooled->recordSample(/*read_firewall=*/false);
  }
  logger("daemon")->info("[{}] created for uid {}{}", id, caller.uid,
                         pooled ? " (from the pool)" : "");
  // Its firewall has refused nothing yet (no code of it has run): no nft command to say so.
  return (*sbx)->info(NetworkHost::Counters::kCached);
}

std::vector<api::SandboxInfo> Registry::listSandboxes(const api::Caller& caller) {
  std::vector<api::SandboxInfo> out;
  std::vector<std::shared_ptr<Sandbox>> live;
  {
    // Under the lock only what is the registry's; each sandbox describes itself after it, from
    // memory alone (kCached: no nft command, no syscall per sandbox), so a listing of many
    // sandboxes holds up no create or kill.
    std::lock_guard lock(mutex_);
    for (auto& [id, sbx] : live_) {
      if (caller.isRoot() || sbx->owner() == caller.uid) live.push_back(sbx);
    }
    for (auto it = killed_.rbegin(); it != killed_.rend(); ++it) {
      if (caller.isRoot() || it->owner_uid == caller.uid) out.push_back(*it);
    }
  }
  for (const auto& sbx : live) out.push_back(sbx->info(NetworkHost::Counters::kCached));
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.started_at > b.started_at; });
  return out;
}

Result<std::shared_ptr<Sandbox>> Registry::findLive(const api::Caller& caller,
                                                    const std::string& id) {
  std::lock_guard lock(mutex_);
  if (auto it = live_.find(id); it != live_.end()) {
    if (!caller.isRoot() && it->second->owner() != caller.uid) {
      return ErrnoError(EACCES) << "sandbox " << id << " belongs to another user";
    }
    return it->second;
  }
  for (const auto& k : killed_) {
    if (k.sandbox_id != id) continue;
    if (!caller.isRoot() && k.owner_uid != caller.uid) {
      return ErrnoError(EACCES) << "sandbox " << id << " belongs to another user";
    }
    return ErrnoError(ESRCH) << "sandbox " << id << " is not running (killed)";
  }
  return ErrnoError(ENOENT) << "sandbox " << id << " not found";
}

Result<std::shared_ptr<Sandbox>> Registry::findUsable(const api::Caller& caller,
                                                      const std::string& id) {
  auto sbx = findLive(caller, id);
  if (sbx && (*sbx)->paused()) {
    return ErrnoError(ESRCH) << "sandbox " << id << " is paused: resume it first";
  }
  return sbx;
}

Result<api::SandboxInfo> Registry::getSandbox(const api::Caller& caller, const std::string& id) {
  auto sbx = findLive(caller, id);
  if (sbx) return (*sbx)->info();
  if (sbx.error().code != ESRCH) return sbx.error();
  std::lock_guard lock(mutex_);
  for (const auto& k : killed_) {
    if (k.sandbox_id == id) return k;
  }
  return ErrnoError(ENOENT) << "sandbox " << id << " not found";
}

Result<void> Registry::killSandbox(const api::Caller& caller, const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) {
    if (sbx.error().code == ESRCH) return {};  // already killed: kill is idempotent
    return sbx.error();
  }
  retire(*sbx, "killed by request");
  return {};
}

Result<api::SandboxInfo> Registry::setTimeout(const api::Caller& caller, const std::string& id,
                                              uint32_t timeout_s) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  (*sbx)->setTimeout(std::chrono::seconds(timeout_s));
  clock_changed_.notify_all();
  saveRecord(**sbx);
  return (*sbx)->info();
}

Result<api::RunResult> Registry::runCommand(const api::Caller& caller, const std::string& id,
                                            const api::RunSpec& spec) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  LaunchAhead::Foreground running(ahead_.get(), LaunchAhead::Foreground::Kind::kCommand);
  auto started = std::chrono::steady_clock::now();
  auto result = (*sbx)->run(spec);
  counters_.recordCommand(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return result;
}

Result<runtime::ReplyWithFds> Registry::fileOp(const api::Caller& caller, const std::string& id,
                                               runtime::FileOpRequest request,
                                               const std::string& user) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  bool root = user == "root";
  request.uid = root ? 0 : kUserId;
  request.gid = root ? 0 : kUserId;
  auto reply = (*sbx)->fileOp(std::move(request));
  if (!reply) return reply.error();
  if (auto e = replyError(*reply); !e) return e.error();
  return reply;
}

Result<api::FileEntry> Registry::statPath(const api::Caller& caller, const std::string& id,
                                          const std::string& path, const std::string& user) {
  auto reply = fileOp(caller, id, fileRequest(runtime::FileOpKind::kStat, path), user);
  if (!reply) return reply.error();
  runtime::Entry e;
  if (!runtime::decodeEntry(reply->reply.payload, e)) {
    return ErrnoError(EPROTO) << "sandbox init sent a malformed entry";
  }
  return toFileEntry(e);
}

Result<std::vector<api::FileEntry>> Registry::listDir(const api::Caller& caller,
                                                      const std::string& id,
                                                      const std::string& path, uint32_t depth,
                                                      const std::string& user) {
  auto req = fileRequest(runtime::FileOpKind::kList, path);
  req.depth = depth;
  auto reply = fileOp(caller, id, std::move(req), user);
  if (!reply) return reply.error();
  auto listing = takeRegularFile(*reply, path);  // a memfd: reading it cannot block
  if (!listing) return listing.error();
  if (listing->size > kMaxListingBytes) {
    return ErrnoError(E2BIG) << "listing of " << path << " is too large; ask for less depth";
  }
  ::lseek(listing->fd.get(), 0, SEEK_SET);
  auto data = readAll(listing->fd.get(), kMaxListingBytes);
  if (!data) {
    return ErrnoError(E2BIG) << "listing of " << path << " is too large; ask for less depth";
  }
  std::vector<runtime::Entry> entries;
  if (!runtime::decodeEntries(*data, entries)) {
    return ErrnoError(EPROTO) << "sandbox init sent a malformed listing";
  }
  std::vector<api::FileEntry> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(toFileEntry(e));
  return out;
}

Result<bool> Registry::makeDir(const api::Caller& caller, const std::string& id,
                               const std::string& path, const std::string& user) {
  auto req = fileRequest(runtime::FileOpKind::kMkdir, path);
  req.mode = 0755;
  auto reply = fileOp(caller, id, std::move(req), user);
  if (!reply) return reply.error();
  return reply->reply.value == 1;
}

Result<void> Registry::removePath(const api::Caller& caller, const std::string& id,
                                  const std::string& path, const std::string& user) {
  auto reply = fileOp(caller, id, fileRequest(runtime::FileOpKind::kRemove, path), user);
  if (!reply) return reply.error();
  return {};
}

Result<api::FileEntry> Registry::renamePath(const api::Caller& caller, const std::string& id,
                                            const std::string& from, const std::string& to,
                                            const std::string& user) {
  auto req = fileRequest(runtime::FileOpKind::kRename, from);
  req.path2 = to;
  auto reply = fileOp(caller, id, std::move(req), user);
  if (!reply) return reply.error();
  return statPath(caller, id, to, user);
}

Result<api::OpenedFile> Registry::openForRead(const api::Caller& caller, const std::string& id,
                                              const std::string& path, const std::string& user) {
  auto reply = fileOp(caller, id, fileRequest(runtime::FileOpKind::kOpenRead, path), user);
  if (!reply) return reply.error();
  return takeRegularFile(*reply, path);
}

Result<std::unique_ptr<api::DirWatch>> Registry::watchDir(const api::Caller& caller,
                                                          const std::string& id,
                                                          const std::string& path, bool recursive,
                                                          const std::string& user) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  auto req = fileRequest(runtime::FileOpKind::kWatch, path);
  req.depth = recursive ? config_.limits.max_watch_dirs : 1;
  auto reply = fileOp(caller, id, std::move(req), user);
  if (!reply) return reply.error();
  // Init is untrusted: see ownReadEnd.
  if (reply->fds.size() != 1) {
    return ErrnoError(EPROTO) << "sandbox init sent no pipe for the watch of " << path;
  }
  auto pipe = ownReadEnd(reply->fds[0]);
  if (!pipe) return pipe.error();
  reply->fds.clear();
  std::weak_ptr<Sandbox> sandbox = *sbx;
  return std::unique_ptr<api::DirWatch>(std::make_unique<PipeDirWatch>(std::move(*pipe), [sandbox] {
    auto live = sandbox.lock();
    return live && live->running();
  }));
}

Result<api::PortInfo> Registry::forwardPort(const api::Caller& caller, const std::string& id,
                                            uint16_t port,
                                            const std::optional<std::string>& listen) {
  auto sbx = findUsable(caller, id);
  if (!sbx) return sbx.error();
  const bool own = (*sbx)->owner() == caller.uid;
  return (*sbx)->forwardPort(port, listen, own ? caller.gid : 0, caller.isRoot());
}

Result<std::vector<api::PortInfo>> Registry::listPorts(const api::Caller& caller,
                                                       const std::string& id) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->ports();
}

Result<void> Registry::closePort(const api::Caller& caller, const std::string& id, uint16_t port) {
  auto sbx = findLive(caller, id);
  if (!sbx) return sbx.error();
  return (*sbx)->closePort(port);
}

Result<UniqueFd> Registry::openForWrite(const api::Caller& caller, const std::string& id,
                                        const std::string& path, const std::string& user) {
  auto req = fileRequest(runtime::FileOpKind::kOpenWrite, path);
  req.mode = 0644;
  auto reply = fileOp(caller, id, std::move(req), user);
  if (!reply) return reply.error();
  auto file = takeRegularFile(*reply, path);
  if (!file) return file.error();
  return std::move(file->fd);
}

}  // namespace declaw::daemon
