#include "runtime/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <thread>

#include "common/io.h"

namespace declaw::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// cgroup.procs of a fork bomb can be long; everything else is a few lines.
constexpr size_t kMaxCgroupFileBytes = 4 << 20;
constexpr std::chrono::milliseconds kFirstPoll{1};
constexpr std::chrono::milliseconds kMaxPoll{20};
// How long one kill round waits for a freeze to complete.
constexpr std::chrono::milliseconds kKillFreezeTimeout{200};

// Sleeps between checks, starting short (freezing and exiting usually take microseconds).
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds timeout) : deadline_(Clock::now() + timeout) {}
  // false once the deadline has passed; otherwise sleeps and returns true.
  bool wait() {
    if (Clock::now() >= deadline_) return false;
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, kMaxPoll);
    return true;
  }

 private:
  Clock::time_point deadline_;
  std::chrono::milliseconds delay_ = kFirstPoll;
};

// One write() of the whole value: cgroup files parse each write as one value, so a split write
// would set a different (truncated) value. Returns false when `optional` and the file is absent.
Result<bool> writeValue(const std::string& path, std::string_view value, bool optional) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT && optional) return false;
    return ErrnoError() << "write " << value << " to " << path;
  }
  for (;;) {
    ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError() << "write " << value << " to " << path;
    if (static_cast<size_t>(n) != value.size()) {
      return ErrnoError(EIO) << "write " << value << " to " << path << ": short write";
    }
    return true;
  }
}

Result<std::string> readText(const std::string& path) {
  return readFile(path, kMaxCgroupFileBytes);
}

// true when made, false when it existed and `may_exist`.
Result<bool> makeDir(const std::string& path, bool may_exist) {
  if (::mkdir(path.c_str(), 0755) == 0) return true;
  if (errno == EEXIST && may_exist) return false;
  if (errno == EEXIST) {
    return ErrnoError() << "mkdir " << path << " (left by a crashed run? remove it first)";
  }
  return ErrnoError() << "mkdir " << path;
}

// rmdir, retrying EBUSY: the last processes of a killed cgroup leave it asynchronously.
Result<void> removeDir(const std::string& path) {
  Backoff backoff(kCgroupSettleTimeout);
  for (;;) {
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY || !backoff.wait()) return ErrnoError() << "rmdir " << path;
  }
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Result<void> moveAllProcesses(const std::string& from_procs, const std::string& to_procs) {
  auto text = readText(from_procs);
  if (!text) return text.error();
  for (int pid : parseProcs(*text)) {
    auto r = writeValue(to_procs, std::to_string(pid), false);
    if (!r && r.error().code != ESRCH) return r.error();  // ESRCH: it exited meanwhile
  }
  return {};
}

// Runs ops in order; records the directories it made, so a failed create can undo them.
Result<void> applyOps(const std::vector<CgroupOp>& ops, std::vector<std::string>* made_dirs) {
  for (const CgroupOp& op : ops) {
    switch (op.kind) {
      case CgroupOp::Kind::kMkdir: {
        auto made = makeDir(op.path, op.tolerant);
        if (!made) return made.error();
        if (*made && made_dirs != nullptr) made_dirs->push_back(op.path);
        break;
      }
      case CgroupOp::Kind::kWrite: {
        auto r = writeValue(op.path, op.value, op.tolerant);
        if (!r) return r.error();
        break;
      }
      case CgroupOp::Kind::kMoveAllProcesses: {
        if (auto r = moveAllProcesses(op.value, op.path); !r) return r;
        break;
      }
    }
  }
  return {};
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Names of the subdirectories of `dir`; a missing dir has none.
Result<std::vector<std::string>> subdirectories(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return ErrnoError() << "open " << dir;
  }
  std::unique_ptr<DIR, DirCloser> stream(::fdopendir(fd.get()));
  if (!stream) return ErrnoError() << "fdopendir " << dir;
  fd.release();  // owned by the stream now
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(stream.get())) {
    const std::string name = e->d_name;
    if (e->d_type == DT_DIR && name != "." && name != "..") names.push_back(name);
  }
  if (errno != 0) return ErrnoError() << "readdir " << dir;
  return names;
}

}  // namespace

Result<void> applySubtreePlan(const SubtreePlan& plan) { return applyOps(plan.ops, nullptr); }

Result<Cgroup> Cgroup::create(CgroupPlan plan) {
  std::vector<std::string> made;
  if (auto r = applyOps(plan.create, &made); !r) {
    for (auto it = made.rbegin(); it != made.rend(); ++it) (void)::rmdir(it->c_str());
    return r.error();
  }
  return Cgroup(std::move(plan));
}

Cgroup Cgroup::adopt(CgroupPlan plan) { return Cgroup(std::move(plan)); }

Result<void> Cgroup::attach(pid_t pid) const {
  for (const std::string& procs : plan_.procs_files) {
    auto r = writeValue(procs, std::to_string(pid), false);
    if (!r) return ErrnoError(r.error().code) << "attach: " << r.error().message;
  }
  return {};
}

Result<UniqueFd> Cgroup::openDir() const {
  if (plan_.clone_into_dir.empty()) {
    return ErrnoError(ENOTSUP) << "CLONE_INTO_CGROUP needs cgroup v2";
  }
  UniqueFd fd(::open(plan_.clone_into_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << plan_.clone_into_dir;
  return fd;
}

Result<bool> Cgroup::frozen() const {
  if (plan_.files.freeze_state.empty()) return ErrnoError(ENOTSUP) << "no freezer";
  auto text = readText(plan_.files.freeze_state);
  if (!text) return text.error();
  return parseFrozen(plan_.version, *text);
}

Result<void> Cgroup::setFrozen(bool want, std::chrono::milliseconds timeout) const {
  if (plan_.files.freeze.empty()) {
    return ErrnoError(ENOTSUP) << "freeze " << plan_.sandbox_id << ": no freezer controller";
  }
  const bool v1 = plan_.version == CgroupVersion::kV1;
  const char* value = v1 ? (want ? "FROZEN" : "THAWED") : (want ? "1" : "0");
  if (auto r = writeValue(plan_.files.freeze, value, false); !r) return r.error();
  // Freezing completes asynchronously: v1 reads FREEZING until every task is stopped; v2 sets
  // "frozen 1" in cgroup.events (cgroup-v1 freezer-subsystem.rst, cgroup-v2.rst cgroup.freeze).
  Backoff backoff(timeout);
  for (;;) {
    auto is = frozen();
    if (!is) return is.error();
    if (*is == want) return {};
    if (!backoff.wait()) {
      return ErrnoError(ETIMEDOUT)
             << (want ? "freeze " : "thaw ") << plan_.files.freeze << ": state did not settle";
    }
  }
}

Result<void> Cgroup::freeze() const { return setFrozen(true, kCgroupSettleTimeout); }
Result<void> Cgroup::thaw() const { return setFrozen(false, kCgroupSettleTimeout); }

Result<CgroupUsage> Cgroup::usage() const {
  CgroupUsage u;
  const CgroupFiles& f = plan_.files;
  // Reads one file; an empty path (controller absent) leaves the field empty.
  auto read = [](const std::string& path) -> Result<std::optional<std::string>> {
    if (path.empty()) return std::optional<std::string>{};
    auto text = readText(path);
    if (!text) return text.error();
    return std::optional<std::string>(std::move(*text));
  };
  auto cpu = read(f.cpu_usage);
  if (!cpu) return cpu.error();
  if (*cpu) {
    if (plan_.version == CgroupVersion::kV1) {
      u.cpu_usage_ns = parseCgroupCounter(**cpu);
    } else if (auto usec = parseKeyedValue(**cpu, "usage_usec")) {
      u.cpu_usage_ns = *usec * 1000;
    }
  }
  auto mem = read(f.memory_current);
  if (!mem) return mem.error();
  if (*mem) u.memory_bytes = parseCgroupCounter(**mem);
  auto mem_limit = read(f.memory_limit);
  if (!mem_limit) return mem_limit.error();
  if (*mem_limit) u.memory_limit = parseCgroupLimit(**mem_limit);
  auto pids = read(f.pids_current);
  if (!pids) return pids.error();
  if (*pids) u.pids = parseCgroupCounter(**pids);
  auto pids_limit = read(f.pids_limit);
  if (!pids_limit) return pids_limit.error();
  if (*pids_limit) u.pids_limit = parseCgroupLimit(**pids_limit);
  auto oom = oomKills();
  if (!oom) return oom.error();
  u.oom_kills = oom->count;
  u.oom_kills_exact = oom->exact;
  return u;
}

Result<OomKills> Cgroup::oomKills() const {
  const CgroupFiles& f = plan_.files;
  OomKills kills;
  if (f.oom_events.empty()) return kills;
  auto events = readText(f.oom_events);
  if (!events) return events.error();
  kills.count = parseKeyedValue(*events, "oom_kill");
  if (!kills.count && !f.oom_fallback.empty()) {
    auto failcnt = readText(f.oom_fallback);
    if (!failcnt) return failcnt.error();
    kills.count = parseCgroupCounter(*failcnt);
    kills.exact = false;
  }
  return kills;
}

Result<std::vector<pid_t>> Cgroup::pids() const {
  std::set<pid_t> all;
  for (const std::string& procs : plan_.procs_files) {
    auto text = readText(procs);
    if (!text) {
      if (text.error().code == ENOENT) continue;  // this hierarchy's cgroup is already gone
      return text.error();
    }
    for (int pid : parseProcs(*text)) all.insert(pid);
  }
  return std::vector<pid_t>(all.begin(), all.end());
}

Result<void> Cgroup::waitEmpty() const {
  Backoff backoff(kCgroupSettleTimeout);
  for (;;) {
    auto left = pids();
    if (!left) return left.error();
    if (left->empty()) return {};
    if (!backoff.wait()) {
      return ErrnoError(ETIMEDOUT) << "kill " << plan_.sandbox_id << ": " << left->size()
                                   << " processes still in the cgroup";
    }
  }
}

Result<void> Cgroup::killRounds() const {
  // Empty is empty for good: only a process inside can fork into the cgroup, and only the
  // daemon attaches to it. After a sandbox's init died (its pid namespace is gone) this is the
  // usual case, and it spares the freeze and thaw (about 5 ms on the v1 freezer).
  auto first = pids();
  if (!first) return first.error();
  if (first->empty()) return {};
  Backoff backoff(kCgroupSettleTimeout);
  const bool can_freeze = !plan_.files.freeze.empty() && exists(plan_.files.freeze);
  for (;;) {
    // Frozen, nothing can fork between listing and killing, and no listed pid can exit and be
    // reused. A task stuck in uninterruptible sleep may never freeze, so the wait is short and
    // a partial freeze is good enough: the next round gets the rest.
    if (can_freeze) (void)setFrozen(true, kKillFreezeTimeout);
    auto victims = pids();
    if (!victims) return victims.error();
    for (pid_t pid : *victims) (void)::kill(pid, SIGKILL);
    // Frozen tasks act on SIGKILL only once thawed.
    if (can_freeze) {
      if (auto r = thaw(); !r) return r;
    }
    if (victims->empty()) return {};
    // Give the killed a moment to leave before listing again.
    auto left = pids();
    if (!left) return left.error();
    if (left->empty()) return {};
    if (!backoff.wait()) {
      return ErrnoError(ETIMEDOUT) << "kill " << plan_.sandbox_id << ": " << left->size()
                                   << " processes still in the cgroup";
    }
  }
}

Result<void> Cgroup::killAll() const {
  if (!plan_.files.kill.empty()) {
    // cgroup.kill (5.14+) kills the whole subtree at once, forks in flight included.
    auto wrote = writeValue(plan_.files.kill, "1", true);
    if (!wrote) return wrote.error();
    if (*wrote) return waitEmpty();
    // No cgroup.kill: a kernel before 5.14, or the cgroup is gone (the rounds find no one).
  }
  return killRounds();
}

Result<void> Cgroup::remove() const {
  for (auto it = plan_.dirs.rbegin(); it != plan_.dirs.rend(); ++it) {
    if (auto r = removeDir(*it); !r) return r;
  }
  return {};
}

Result<void> removeLeftoverCgroup(const CgroupLayout& layout, const CgroupOptions& options,
                                  const std::string& sandbox_id) {
  auto plan = planSandboxCgroup(layout, options, sandbox_id, CgroupLimits{}, true);
  if (!plan) return plan.error();
  Cgroup cgroup = Cgroup::adopt(std::move(*plan));
  if (auto r = cgroup.killAll(); !r) return r;
  return cgroup.remove();
}

Result<std::vector<std::string>> listSandboxCgroups(const CgroupLayout& layout,
                                                    const CgroupOptions& options) {
  auto subtree = planSubtree(layout, options);
  if (!subtree) return subtree.error();
  std::set<std::string> names;
  for (const std::string& dir : subtree->subtree_dirs) {
    auto found = subdirectories(dir);
    if (!found) return found.error();
    names.insert(found->begin(), found->end());
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<void> removeSubtree(const CgroupLayout& layout, const CgroupOptions& options) {
  auto subtree = planSubtree(layout, options);
  if (!subtree) return subtree.error();
  for (const std::string& dir : subtree->subtree_dirs) {
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return ErrnoError() << "rmdir " << dir;
  }
  return {};
}

}  // namespace declaw::runtime
