// An in-memory Services for the api/ tests: it records every call with its arguments and
// answers with canned values, or with the Error set for that method in `failures`.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/services.h"
#include "common/io.h"

namespace declaw::api::testing {

inline UniqueFd makeMemFile(const std::string& content) {
  UniqueFd fd(::memfd_create("api-test", MFD_CLOEXEC));
  if (fd && !content.empty()) (void)writeAll(fd.get(), content);
  if (fd) ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

inline std::string readMemFile(const UniqueFd& fd) {
  ::lseek(fd.get(), 0, SEEK_SET);
  auto bytes = readAll(fd.get(), 1 << 20);
  return bytes ? *bytes : std::string("<unreadable>");
}

// A watch that gives a fixed list of events.
class ScriptedDirWatch : public DirWatch {
 public:
  explicit ScriptedDirWatch(std::vector<std::optional<WatchEvent>> events)
      : events_(std::move(events)) {}
  std::optional<WatchEvent> next(std::chrono::milliseconds /*wait*/) override {
    if (next_ >= events_.size()) return std::nullopt;
    return events_[next_++];
  }

 private:
  std::vector<std::optional<WatchEvent>> events_;
  size_t next_ = 0;
};

class FakeServices : public Services {
 public:
  // Canned answers.
  HealthInfo health_info{.version = "0.1.0",
                         .features = {{"user_namespaces", true}},
                         .limits = {},
                         .sandboxes_running = 1,
                         .cgroup = "v1",
                         .leftovers_cleaned = 0,
                         .network = std::nullopt};
  std::vector<SandboxInfo> sandboxes;  // listSandboxes
  SandboxInfo sandbox;                 // createSandbox, getSandbox, setTimeout
  RunResult run_result;
  FileEntry entry;  // statPath, renamePath
  std::vector<FileEntry> listing;
  bool make_dir_creates = true;
  std::string file_content;  // what openForRead hands out
  // openForRead reports this size instead of the content's (a file that grew after the open).
  std::optional<uint64_t> reported_size;
  SandboxMetrics metrics;
  std::vector<SandboxMetrics> history;  // sandboxMetricsHistory
  MetricsRange history_range;           // what it was asked
  DaemonMetrics daemon_metrics;
  std::vector<int> statuses;           // countResponse
  ProcessInfo process;                 // startProcess, getProcess, waitProcess
  std::vector<ProcessInfo> processes;  // listProcesses
  std::vector<OutputEvent> events;     // what watchProcess's watch yields, in order
  // Method name -> the error it returns.
  std::map<std::string, Error> failures;

  // What was asked.
  std::vector<std::string> calls;
  Caller last_caller;
  std::string last_id;
  std::string last_path;
  std::string last_user;
  std::string last_new_path;
  NetworkUpdate last_network_update;
  uint32_t last_timeout = 0;
  uint32_t last_depth = 0;
  CreateSandboxSpec last_create;
  RunSpec last_run;
  ProcessSpec last_process;
  int last_pid = 0;
  int last_signal = 0;
  bool last_follow = false;
  std::chrono::milliseconds last_wait{0};
  std::string last_stdin;
  uint16_t last_rows = 0;
  uint16_t last_cols = 0;
  UniqueFd written;  // a second handle on the file openForWrite gave out

  std::string writtenBytes() const { return readMemFile(written); }
  bool called(const std::string& method) const {
    for (const auto& call : calls) {
      if (call == method) return true;
    }
    return false;
  }

  HealthInfo health() override {
    calls.push_back("health");
    return health_info;
  }
  Result<SandboxInfo> createSandbox(const Caller& caller, const CreateSandboxSpec& spec) override {
    record("createSandbox", caller, "");
    last_create = spec;
    return answer("createSandbox", sandbox);
  }
  std::vector<SandboxInfo> listSandboxes(const Caller& caller) override {
    record("listSandboxes", caller, "");
    return sandboxes;
  }
  Result<SandboxInfo> getSandbox(const Caller& caller, const std::string& id) override {
    record("getSandbox", caller, id);
    return answer("getSandbox", sandbox);
  }
  Result<void> killSandbox(const Caller& caller, const std::string& id) override {
    record("killSandbox", caller, id);
    if (auto it = failures.find("killSandbox"); it != failures.end()) return it->second;
    return {};
  }
  Result<SandboxInfo> setTimeout(const Caller& caller, const std::string& id,
                                 uint32_t timeout_s) override {
    record("setTimeout", caller, id);
    last_timeout = timeout_s;
    return answer("setTimeout", sandbox);
  }
  Result<SandboxInfo> updateNetwork(const Caller& caller, const std::string& id,
                                    const NetworkUpdate& update) override {
    record("updateNetwork", caller, id);
    last_network_update = update;
    return answer("updateNetwork", sandbox);
  }
  Result<RunResult> runCommand(const Caller& caller, const std::string& id,
                               const RunSpec& spec) override {
    record("runCommand", caller, id);
    last_run = spec;
    return answer("runCommand", run_result);
  }
  Result<SandboxInfo> pauseSandbox(const Caller& caller, const std::string& id) override {
    record("pauseSandbox", caller, id);
    return answer("pauseSandbox", sandbox);
  }
  Result<SandboxInfo> resumeSandbox(const Caller& caller, const std::string& id) override {
    record("resumeSandbox", caller, id);
    return answer("resumeSandbox", sandbox);
  }
  Result<SandboxMetrics> sandboxMetrics(const Caller& caller, const std::string& id) override {
    record("sandboxMetrics", caller, id);
    return answer("sandboxMetrics", metrics);
  }
  Result<std::vector<SandboxMetrics>> sandboxMetricsHistory(const Caller& caller,
                                                            const std::string& id,
                                                            const MetricsRange& range) override {
    record("sandboxMetricsHistory", caller, id);
    history_range = range;
    return answer("sandboxMetricsHistory", history);
  }
  DaemonMetrics daemonMetrics() override {
    calls.push_back("daemonMetrics");
    return daemon_metrics;
  }
  void countResponse(int status) override { statuses.push_back(status); }
  Result<ProcessInfo> startProcess(const Caller& caller, const std::string& id,
                                   const ProcessSpec& spec) override {
    record("startProcess", caller, id);
    last_process = spec;
    return answer("startProcess", process);
  }
  Result<std::vector<ProcessInfo>> listProcesses(const Caller& caller,
                                                 const std::string& id) override {
    record("listProcesses", caller, id);
    return answer("listProcesses", processes);
  }
  Result<ProcessInfo> getProcess(const Caller& caller, const std::string& id, int pid) override {
    recordPid("getProcess", caller, id, pid);
    return answer("getProcess", process);
  }
  Result<std::unique_ptr<ProcessWatch>> watchProcess(const Caller& caller, const std::string& id,
                                                     int pid, bool follow) override {
    recordPid("watchProcess", caller, id, pid);
    last_follow = follow;
    if (auto it = failures.find("watchProcess"); it != failures.end()) return it->second;
    return std::unique_ptr<ProcessWatch>(new ScriptedWatch(pid, events));
  }
  Result<ProcessInfo> waitProcess(const Caller& caller, const std::string& id, int pid,
                                  std::chrono::milliseconds timeout) override {
    recordPid("waitProcess", caller, id, pid);
    last_wait = timeout;
    return answer("waitProcess", process);
  }
  Result<void> signalProcess(const Caller& caller, const std::string& id, int pid,
                             int signal) override {
    recordPid("signalProcess", caller, id, pid);
    last_signal = signal;
    return answerVoid("signalProcess");
  }
  Result<void> writeStdin(const Caller& caller, const std::string& id, int pid,
                          std::string data) override {
    recordPid("writeStdin", caller, id, pid);
    last_stdin = std::move(data);
    return answerVoid("writeStdin");
  }
  Result<void> closeStdin(const Caller& caller, const std::string& id, int pid) override {
    recordPid("closeStdin", caller, id, pid);
    return answerVoid("closeStdin");
  }
  Result<void> resizePty(const Caller& caller, const std::string& id, int pid, uint16_t rows,
                         uint16_t cols) override {
    recordPid("resizePty", caller, id, pid);
    last_rows = rows;
    last_cols = cols;
    return answerVoid("resizePty");
  }
  Result<FileEntry> statPath(const Caller& caller, const std::string& id, const std::string& path,
                             const std::string& user) override {
    recordFile("statPath", caller, id, path, user);
    return answer("statPath", entry);
  }
  Result<std::vector<FileEntry>> listDir(const Caller& caller, const std::string& id,
                                         const std::string& path, uint32_t depth,
                                         const std::string& user) override {
    recordFile("listDir", caller, id, path, user);
    last_depth = depth;
    return answer("listDir", listing);
  }
  Result<bool> makeDir(const Caller& caller, const std::string& id, const std::string& path,
                       const std::string& user) override {
    recordFile("makeDir", caller, id, path, user);
    return answer("makeDir", make_dir_creates);
  }
  Result<void> removePath(const Caller& caller, const std::string& id, const std::string& path,
                          const std::string& user) override {
    recordFile("removePath", caller, id, path, user);
    if (auto it = failures.find("removePath"); it != failures.end()) return it->second;
    return {};
  }
  Result<FileEntry> renamePath(const Caller& caller, const std::string& id, const std::string& from,
                               const std::string& to, const std::string& user) override {
    recordFile("renamePath", caller, id, from, user);
    last_new_path = to;
    return answer("renamePath", entry);
  }
  Result<OpenedFile> openForRead(const Caller& caller, const std::string& id,
                                 const std::string& path, const std::string& user) override {
    recordFile("openForRead", caller, id, path, user);
    if (auto it = failures.find("openForRead"); it != failures.end()) return it->second;
    return OpenedFile{makeMemFile(file_content), reported_size.value_or(file_content.size())};
  }
  Result<UniqueFd> openForWrite(const Caller& caller, const std::string& id,
                                const std::string& path, const std::string& user) override {
    recordFile("openForWrite", caller, id, path, user);
    if (auto it = failures.find("openForWrite"); it != failures.end()) return it->second;
    UniqueFd fd = makeMemFile("");
    written = UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
    return fd;
  }
  // Ports.
  PortInfo port_info;
  std::optional<std::string> last_listen;
  uint16_t last_port = 0;
  Result<PortInfo> forwardPort(const Caller& caller, const std::string& id, uint16_t port,
                               const std::optional<std::string>& listen) override {
    record("forwardPort", caller, id);
    last_port = port;
    last_listen = listen;
    return answer("forwardPort", port_info);
  }
  Result<std::vector<PortInfo>> listPorts(const Caller& caller, const std::string& id) override {
    record("listPorts", caller, id);
    return answer("listPorts", std::vector<PortInfo>{port_info});
  }
  Result<void> closePort(const Caller& caller, const std::string& id, uint16_t port) override {
    record("closePort", caller, id);
    last_port = port;
    return answerVoid("closePort");
  }
  // watchDir: the events the watch gives, in order (nullopt: a quiet interval), then none.
  std::vector<std::optional<WatchEvent>> watch_events;
  bool last_recursive = false;
  Result<std::unique_ptr<DirWatch>> watchDir(const Caller& caller, const std::string& id,
                                             const std::string& path, bool recursive,
                                             const std::string& user) override {
    recordFile("watchDir", caller, id, path, user);
    last_recursive = recursive;
    if (auto it = failures.find("watchDir"); it != failures.end()) return it->second;
    return std::unique_ptr<DirWatch>(std::make_unique<ScriptedDirWatch>(watch_events));
  }

  // Templates.
  std::vector<TemplateInfo> templates;  // listTemplates
  TemplateInfo template_info;           // getTemplate, importTemplate, snapshotSandbox
  std::string export_content;           // what exportTemplate hands out
  std::string last_template;
  ImportSpec last_import;
  std::string imported_bytes;  // what importTemplate read from its fd

  std::vector<TemplateInfo> listTemplates(const Caller& caller) override {
    record("listTemplates", caller, "");
    return templates;
  }
  Result<TemplateInfo> getTemplate(const Caller& caller, const std::string& name) override {
    record("getTemplate", caller, "");
    last_template = name;
    return answer("getTemplate", template_info);
  }
  Result<void> deleteTemplate(const Caller& caller, const std::string& name) override {
    record("deleteTemplate", caller, "");
    last_template = name;
    return answerVoid("deleteTemplate");
  }
  Result<UniqueFd> openImportSpool(const Caller& caller) override {
    record("openImportSpool", caller, "");
    if (auto it = failures.find("openImportSpool"); it != failures.end()) return it->second;
    return makeMemFile("");
  }
  Result<TemplateInfo> importTemplate(const Caller& caller, const ImportSpec& spec,
                                      int archive_fd) override {
    record("importTemplate", caller, "");
    last_import = spec;
    auto bytes = readAll(archive_fd, 1 << 20);
    imported_bytes = bytes ? *bytes : "<unreadable>";
    return answer("importTemplate", template_info);
  }
  Result<OpenedFile> exportTemplate(const Caller& caller, const std::string& name) override {
    record("exportTemplate", caller, "");
    last_template = name;
    if (auto it = failures.find("exportTemplate"); it != failures.end()) return it->second;
    return OpenedFile{makeMemFile(export_content), export_content.size()};
  }
  Result<TemplateInfo> snapshotSandbox(const Caller& caller, const std::string& id,
                                       const ImportSpec& spec) override {
    record("snapshotSandbox", caller, id);
    last_import = spec;
    return answer("snapshotSandbox", template_info);
  }

 private:
  // Yields the scripted events, then nothing (as a watch that waits in vain).
  class ScriptedWatch : public ProcessWatch {
   public:
    ScriptedWatch(int pid, std::vector<OutputEvent> events)
        : pid_(pid), events_(std::move(events)) {}
    int pid() const override { return pid_; }
    std::optional<OutputEvent> next(std::chrono::milliseconds) override {
      if (next_ >= events_.size()) return std::nullopt;
      return events_[next_++];
    }

   private:
    int pid_;
    std::vector<OutputEvent> events_;
    size_t next_ = 0;
  };

  void recordPid(const std::string& method, const Caller& caller, const std::string& id, int pid) {
    record(method, caller, id);
    last_pid = pid;
  }
  Result<void> answerVoid(const std::string& method) {
    if (auto it = failures.find(method); it != failures.end()) return it->second;
    return {};
  }
  void record(const std::string& method, const Caller& caller, const std::string& id) {
    calls.push_back(method);
    last_caller = caller;
    last_id = id;
  }
  void recordFile(const std::string& method, const Caller& caller, const std::string& id,
                  const std::string& path, const std::string& user) {
    record(method, caller, id);
    last_path = path;
    last_user = user;
  }
  template <typename T>
  Result<T> answer(const std::string& method, const T& value) {
    if (auto it = failures.find(method); it != failures.end()) return it->second;
    return value;
  }
};

}  // namespace declaw::api::testing
