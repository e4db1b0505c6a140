// `declawctl template ...` and `snapshot`: image archives imported (streamed from the file or
// stdin, with a progress bar on a terminal) and exported, templates listed, inspected and
// removed, templates built from steps in a sandbox, and snapshots of running sandboxes.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <optional>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/format.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/template_format.h"
#include "clients/ctl/terminal.h"
#include "common/unique_fd.h"

namespace declaw::ctl {
namespace {

// How often the import's progress bar is redrawn at most.
constexpr auto kProgressRedraw = std::chrono::milliseconds(100);
constexpr std::string_view kClearLine = "\r\x1b[K";

// The progress bar of an import on stderr, when that is a terminal and the archive is big
// (progressVisible()). Once the last byte is out it says the daemon is checking the archive,
// which for a big image takes a while; finish() wipes the line before anything else is printed.
class ImportProgress {
 public:
  ImportProgress(std::string label, std::optional<uint64_t> total)
      : label_(std::move(label)), total_(total), terminal_(::isatty(STDERR_FILENO) == 1) {}
  ImportProgress(const ImportProgress&) = delete;
  ImportProgress& operator=(const ImportProgress&) = delete;
  ~ImportProgress() { finish(); }

  void sent(uint64_t bytes) {
    if (!progressVisible(terminal_, total_, bytes)) return;
    const auto now = std::chrono::steady_clock::now();
    const bool last = total_ && bytes >= *total_;
    if (drawn_ && !last && now - last_draw_ < kProgressRedraw) return;
    last_draw_ = now;
    drawn_ = true;
    auto size = terminalSize(STDERR_FILENO);
    std::string line = progressLine(label_, bytes, total_, size ? size->cols : 0);
    if (last) line += "  checking...";
    if (size && line.size() > static_cast<size_t>(size->cols)) line.resize(size->cols);
    (void)writeFully(STDERR_FILENO, std::string(kClearLine) + line);
  }

  void finish() {
    if (drawn_) (void)writeFully(STDERR_FILENO, kClearLine);
    drawn_ = false;
  }

 private:
  std::string label_;
  std::optional<uint64_t> total_;
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_;
};

// What a command that publishes a template prints: its name, or with --json the TemplateInfo.
int printTemplate(const GlobalOptions& global, const nlohmann::json& info) {
  if (global.json) {
    printJson(info);
  } else {
    std::cout << displayField(info, "name") << "\n";
  }
  return 0;
}

// A build whose name could not be published fails before its sandbox is made, not after its
// steps ran: a name declawd refuses (400), a built-in, or one that exists without --replace
// (409, as the snapshot would answer).
Result<void> checkBuildName(ApiClient& api, const std::string& name, bool replace) {
  auto found = api.findTemplate(name);
  if (!found) return found.error();
  if (!*found) return Ok{};
  if (displayField(**found, "source") == "builtin") {
    return PlainError() << "template " << name
                        << " is a built-in and cannot be replaced (conflict)";
  }
  if (!replace) {
    return PlainError() << "template " << name << " already exists: pass --replace to replace it"
                        << " (conflict)";
  }
  return Ok{};
}

// Runs the steps in order; 0 when all of them exited 0. A failed step's output goes to stderr,
// then what failed.
int runSteps(ApiClient& api, const std::string& id, const BuildSpec& spec) {
  const size_t count = spec.steps.size();
  for (size_t i = 0; i < count; ++i) {
    if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
    std::cerr << "[" << i + 1 << "/" << count << "] " << escapeControl(spec.steps[i]) << "\n"
              << std::flush;
    auto result = api.runCommand(id, buildStepRequest(spec, i));
    if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
    if (!result) {
      return reportError(PlainError() << "build failed at step " << i + 1 << "/" << count << ": "
                                      << result.error().describe() << "; nothing was published");
    }
    auto outcome = decodeCommandResult(*result);
    if (!outcome) return reportError(outcome.error());
    if (outcome->exit_code == 0 && !outcome->timed_out) continue;
    (void)writeFully(STDERR_FILENO, outcome->stdout_bytes);
    (void)writeFully(STDERR_FILENO, outcome->stderr_bytes);
    if (outcome->stdout_truncated || outcome->stderr_truncated) {
      warn("the step's output was truncated by declawd (over max_output_bytes)");
    }
    return reportError(PlainError() << "build failed: "
                                    << stepFailure(i, count, spec.steps[i], *outcome,
                                                   spec.step_timeout_s.value_or(0))
                                    << "; nothing was published");
  }
  return 0;
}

}  // namespace

int cmdTemplateImport(const GlobalOptions& global, const std::string& file, const std::string& name,
                      bool replace) {
  auto source = openStreamSource(file);
  if (!source) return reportError(source.error());
  // Ctrl-C ends the upload (declawd drops what it received) and wipes the progress bar.
  installInterruptHandlers();
  ImportProgress progress(name, source->size);
  RequestBody archive;
  archive.fd = source->fd.get();
  if (source->size) {
    archive.fd_size = *source->size;
  } else {
    archive.chunked = true;
  }
  archive.progress = [&progress](uint64_t sent) { progress.sent(sent); };
  ApiClient api(global.socket_path);
  api.setInterruptible(true);
  auto info = api.importTemplate(name, replace, std::move(archive));
  progress.finish();
  if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
  if (!info) return reportError(info.error());
  return printTemplate(global, *info);
}

int cmdTemplateList(const GlobalOptions& global) {
  ApiClient api(global.socket_path);
  auto templates = api.listTemplates();
  if (!templates) return reportError(templates.error());
  if (global.json) {
    printJson(*templates);
  } else {
    std::cout << formatTemplateTable(*templates);
  }
  return 0;
}

int cmdTemplateInspect(const GlobalOptions& global, const std::string& name) {
  ApiClient api(global.socket_path);
  auto info = api.getTemplate(name);
  if (!info) return reportError(info.error());
  if (global.json) {
    printJson(*info);
  } else {
    std::cout << formatTemplateInfo(*info);
  }
  return 0;
}

int cmdTemplateRemove(const GlobalOptions& global, const std::vector<std::string>& names) {
  ApiClient api(global.socket_path);
  int rc = 0;
  for (const auto& name : names) {
    if (auto r = api.deleteTemplate(name); !r) rc = reportError(r.error());
  }
  return rc;
}

int cmdTemplateExport(const GlobalOptions& global, const std::string& name,
                      const std::string& output) {
  const bool to_stdout = output.empty() || output == "-";
  if (to_stdout && ::isatty(STDOUT_FILENO) == 1) {
    return reportError(PlainError() << "refusing to write a tar archive to a terminal: redirect "
                                       "stdout (> FILE.tar) or give -o FILE");
  }
  // As `cp` downloads: the file is created only once declawd answers 2xx, and a transfer that
  // fails midway removes what it wrote.
  UniqueFd out;
  bool created = false;
  uint64_t written = 0;
  BodySink sink;
  sink.open = [&]() -> Result<void> {
    if (to_stdout) return Ok{};
    out.reset(::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (!out) return ErrnoError() << output;
    created = true;
    return Ok{};
  };
  sink.write = [&](std::string_view bytes) -> Result<void> {
    if (auto r = writeFully(to_stdout ? STDOUT_FILENO : out.get(), bytes); !r) {
      return PlainError() << (to_stdout ? std::string("stdout") : output) << ": "
                          << r.error().describe();
    }
    written += bytes.size();
    return Ok{};
  };
  ApiClient api(global.socket_path);
  auto done = api.exportTemplate(name, sink);
  if (!done) {
    if (created) ::unlink(output.c_str());
    return reportError(done.error());
  }
  if (out && ::fsync(out.get()) != 0 && errno != EINVAL) {
    Error e = ErrnoError() << output;
    ::unlink(output.c_str());
    return reportError(e);
  }
  if (global.json) printJson({{"name", name}, {"file", output}, {"bytes", written}});
  return 0;
}

int cmdTemplateBuild(const GlobalOptions& global, const std::string& name, const BuildSpec& spec,
                     bool replace) {
  auto create = buildTemplateSandboxRequest(spec);
  if (!create) return reportError(create.error());
  ApiClient api(global.socket_path);
  if (auto r = checkBuildName(api, name, replace); !r) return reportError(r.error());

  // Ctrl-C must not leave the build's sandbox behind: the signal ends the request in flight,
  // and the reaper kills the sandbox on the way out (a request begun after the signal runs).
  installInterruptHandlers();
  api.setInterruptible(true);
  auto info = api.createSandbox(*create);
  if (!info && g_interrupted != 0) return kSignalExitBase + g_interrupted;
  if (!info) return reportError(info.error());
  if (!info->is_object() || !info->contains("sandbox_id") || !(*info)["sandbox_id"].is_string()) {
    return reportError(PlainError() << "bad response from declawd: no sandbox_id");
  }
  const std::string id = (*info)["sandbox_id"].get<std::string>();
  Result<nlohmann::json> published = PlainError() << "not published";
  {
    SandboxReaper reaper(api, id);
    std::cerr << "building " << name << " from "
              << (spec.sandbox.template_id.empty() ? "base" : spec.sandbox.template_id) << " in "
              << id << "\n";
    if (int rc = runSteps(api, id, spec); rc != 0) return rc;
    if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
    std::cerr << "snapshot " << name << "\n" << std::flush;
    published = api.snapshotSandbox(id, buildSnapshotRequest(name, replace));
  }
  if (g_interrupted != 0) return kSignalExitBase + g_interrupted;
  if (!published) return reportError(published.error());
  return printTemplate(global, *published);
}

int cmdSnapshot(const GlobalOptions& global, const std::string& id, const std::string& name,
                bool replace) {
  ApiClient api(global.socket_path);
  auto info = api.snapshotSandbox(id, buildSnapshotRequest(name, replace));
  if (!info) return reportError(info.error());
  return printTemplate(global, *info);
}

}  // namespace declaw::ctl
