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

Result<void> StateRecords::write(const StateRecord& r) {
  nlohmann::json j = {{"sandbox_id", r.sandbox_id},
                      {"id_base", r.id_base},
                      {"init_pid", r.init_pid},
                      {"init_start_ticks", r.init_start_ticks}};
  // Write then rename, so a crash never leaves a half-written record.
  std::string tmp = pathFor(r.sandbox_id) + ".tmp";
  if (auto w = writeFile(tmp, j.dump()); !w) return w;
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
  // rest starts at field 3; the start time is field 22.
  size_t pos = 0;
  for (int field = 3; field < 22; ++field) {
    pos = rest.find(' ', pos);
    if (pos == std::string::npos) return 0;
    ++pos;
  }
  return std::strtoull(rest.c_str() + pos, nullptr, 10);
}

size_t StateRecords::cleanLeftovers(
    const std::function<void(const std::string& sandbox_id)>& also_clean) {
  auto log = logger("daemon");
  size_t cleaned = 0;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const auto& name : names) {
    std::string path = dir_ + "/" + name;
    auto text = readFile(path, kMaxRecordBytes);
    nlohmann::json j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (j.is_object()) {
      pid_t pid = j.value("init_pid", 0);
      uint64_t ticks = j.value("init_start_ticks", uint64_t{0});
      std::string id = j.value("sandbox_id", std::string("?"));
      if (pid > 1 && ticks != 0 && processStartTicks(pid) == ticks) {
        log->warn("[{}] killing leftover sandbox init (pid {})", id, pid);
        ::kill(pid, SIGKILL);
        auto deadline = std::chrono::steady_clock::now() + kDeathWait;
        while (processStartTicks(pid) == ticks && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      if (also_clean && j.contains("sandbox_id")) also_clean(id);
      log->info("[{}] removed the record of a sandbox from a previous run", id);
    }
    ::unlink(path.c_str());
    ++cleaned;
  }
  return cleaned;
}

}  // namespace declaw::daemon
