#include "daemon/state_records.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/io.h"
#include "common/log.h"

namespace declaw::daemon {

namespace {
constexpr size_t kMaxRecordBytes = 64 * 1024;
constexpr auto kDeathWait = std::chrono::seconds(5);
}  // namespace

StateRecords::StateRecords(std::string state_dir) : dir_(std::move(state_dir) + "/sandboxes") {}

std::string StateRecords::pathFor(const std::string& sandbox_id) const {
  return dir_ + "/" + sandbox_id + ".json";
}

Result<void> StateRecords::prepare() {
  if (::mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST) return ErrnoError() << "mkdir " << dir_;
  return {};
}

namespace {

int64_t msOf(api::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

api::Clock::time_point timeOf(int64_t ms) {
  return api::Clock::time_point(
      std::chrono::duration_cast<api::Clock::duration>(std::chrono::milliseconds(ms)));
}

nlohmann::json specToJson(const api::CreateSandboxSpec& s) {
  return {{"template", s.template_name},
          {"timeout_s", s.timeout_s},
          {"envs", s.envs},
          {"metadata", s.metadata},
          {"allow_internet_access", s.allow_internet_access},
          {"loopback_inet", s.loopback_inet},
          {"allow_out", s.network.allow_out},
          {"deny_out", s.network.deny_out},
          {"cpu", s.resources.cpu},
          {"memory_mb", s.resources.memory_mb},
          {"pids", s.resources.pids},
          {"disk_mb", s.resources.disk_mb},
          {"on_timeout", s.on_timeout}};
}

api::CreateSandboxSpec specFromJson(const nlohmann::json& j) {
  api::CreateSandboxSpec s;
  s.template_name = j.at("template").get<std::string>();
  s.timeout_s = j.at("timeout_s").get<uint32_t>();
  s.envs = j.at("envs").get<api::StringMap>();
  s.metadata = j.at("metadata").get<api::StringMap>();
  s.allow_internet_access = j.at("allow_internet_access").get<bool>();
  s.loopback_inet = j.at("loopback_inet").get<bool>();
  s.network.allow_out = j.at("allow_out").get<std::vector<std::string>>();
  s.network.deny_out = j.at("deny_out").get<std::vector<std::string>>();
  s.resources.cpu = j.at("cpu").get<double>();
  s.resources.memory_mb = j.at("memory_mb").get<uint64_t>();
  s.resources.pids = j.at("pids").get<uint64_t>();
  s.resources.disk_mb = j.at("disk_mb").get<uint64_t>();
  s.on_timeout = j.at("on_timeout").get<std::string>();
  return s;
}

}  // namespace

std::optional<NamespaceInodes> namespaceInodesOf(pid_t pid) {
  NamespaceInodes inodes{};
  for (size_t i = 0; i < kRecordedNamespaces.size(); ++i) {
    struct stat st {};
    const std::string path =
        "/proc/" + std::to_string(pid) + "/ns/" + std::string(kRecordedNamespaces[i]);
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    inodes[i] = st.st_ino;
  }
  return inodes;
}

std::string recordToJson(const StateRecord& r) {
  nlohmann::json j = {{"sandbox_id", r.sandbox_id},
                      {"id_base", r.id_base},
                      {"init_pid", r.init_pid},
                      {"init_start_ticks", r.init_start_ticks}};
  if (r.ahead) j["ahead"] = true;
  if (r.sandbox) {
    const SandboxRecord& s = *r.sandbox;
    j["sandbox"] = {{"protocol", s.protocol},     {"owner", s.owner},
                    {"spec", specToJson(s.spec)}, {"started_at_ms", msOf(s.started_at)},
                    {"paused", s.paused},         {"end_at_ms", msOf(s.end_at)},
                    {"left_ms", s.left.count()},  {"template", s.template_name},
                    {"layers", s.layers},         {"usr_overlay", s.usr_overlay},
                    {"namespaces", s.namespaces}, {"net_subnet", s.net_subnet}};
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<StateRecord> recordFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return PlainError() << "not a JSON object";
  try {
    StateRecord r;
    r.sandbox_id = j.at("sandbox_id").get<std::string>();
    r.id_base = j.at("id_base").get<uint32_t>();
    r.init_pid = j.at("init_pid").get<pid_t>();
    r.init_start_ticks = j.at("init_start_ticks").get<uint64_t>();
    r.ahead = j.value("ahead", false);
    if (auto it = j.find("sandbox"); it != j.end()) {
      const nlohmann::json& sj = *it;
      SandboxRecord s;
      s.protocol = sj.at("protocol").get<uint32_t>();
      s.owner = sj.at("owner").get<uid_t>();
      s.spec = specFromJson(sj.at("spec"));
      s.started_at = timeOf(sj.at("started_at_ms").get<int64_t>());
      s.paused = sj.at("paused").get<bool>();
      s.end_at = timeOf(sj.at("end_at_ms").get<int64_t>());
      s.left = std::chrono::milliseconds(sj.at("left_ms").get<int64_t>());
      s.template_name = sj.at("template").get<std::string>();
      s.layers = sj.at("layers").get<std::vector<std::string>>();
      s.usr_overlay = sj.at("usr_overlay").get<bool>();
      s.namespaces = sj.at("namespaces").get<NamespaceInodes>();
      s.net_subnet = sj.at("net_subnet").get<std::string>();
      r.sandbox = std::move(s);
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return PlainError() << "malformed record: " << e.what();
  }
}

Result<void> StateRecords::write(const StateRecord& r) {
  // Write then rename, so a crash never leaves a half-written record.
  std::string tmp = pathFor(r.sandbox_id) + ".tmp";
  if (auto w = writeFile(tmp, recordToJson(r)); !w) return w;
  if (::rename(tmp.c_str(), pathFor(r.sandbox_id).c_str()) < 0) {
    return ErrnoError() << "rename " << tmp;
  }
  return {};
}

void StateRecords::remove(const std::string& sandbox_id) { ::unlink(pathFor(sandbox_id).c_str()); }

uint64_t StateRecords::processStartTicks(pid_t pid) {
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return 0;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  std::string rest = stat->substr(close + 2);
  // rest starts at field 3, the state: a zombie has ended (its parent has not reaped it yet).
  if (rest.empty() || rest[0] == 'Z' || rest[0] == 'X') return 0;
  // The start time is field 22.
  size_t pos = 0;
  for (int field = 3; field < 22; ++field) {
    pos = rest.find(' ', pos);
    if (pos == std::string::npos) return 0;
    ++pos;
  }
  return std::strtoull(rest.c_str() + pos, nullptr, 10);
}

std::vector<StateRecord> StateRecords::sweep(
    const std::function<bool(const StateRecord&)>& adoptable, const AlsoClean& also_clean,
    size_t* cleaned) {
  auto log = logger("daemon");
  std::vector<StateRecord> kept;
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
  }
  for (const auto& name : names) {
    std::string path = dir_ + "/" + name;
    auto text = readFile(path, kMaxRecordBytes);
    auto record = text ? recordFromJson(*text) : Result<StateRecord>(text.error());
    // A record is named after its sandbox: one whose name says otherwise is not ours to trust.
    if (!record || pathFor(record->sandbox_id) != path) {
      log->warn("removing the unreadable state record {}", path);
      ::unlink(path.c_str());
      ++*cleaned;
      continue;
    }
    if (adoptable && adoptable(*record)) {
      kept.push_back(std::move(*record));
      continue;
    }
    clean(*record, also_clean);
    if (!record->ahead) ++*cleaned;  // an init launched ahead was no sandbox yet
  }
  return kept;
}

void StateRecords::clean(const StateRecord& r, const AlsoClean& also_clean) {
  auto log = logger("daemon");
  const pid_t pid = r.init_pid;
  const uint64_t ticks = r.init_start_ticks;
  auto waitDeath = [&](std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (processStartTicks(pid) == ticks && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return processStartTicks(pid) != ticks;
  };
  bool cleaned_rest = false;
  if (pid > 1 && ticks != 0 && processStartTicks(pid) == ticks) {
    log->warn("[{}] killing leftover {} (pid {})", r.sandbox_id,
              r.ahead ? "init launched ahead" : "sandbox init", pid);
    ::kill(pid, SIGKILL);
    if (!waitDeath(std::chrono::milliseconds(1000)) && also_clean) {
      // A frozen (paused) init dies only once thawed: its cgroup's cleanup thaws and kills.
      also_clean(r.sandbox_id);
      cleaned_rest = true;
      (void)waitDeath(kDeathWait);
    }
  }
  if (also_clean && !cleaned_rest) also_clean(r.sandbox_id);
  ::unlink(pathFor(r.sandbox_id).c_str());
  log->info("[{}] removed the record of {} from a previous run", r.sandbox_id,
            r.ahead ? "an init launched ahead" : "a sandbox");
}

}  // namespace declaw::daemon
