// `declawctl run-code ID [--context ID] [--timeout S] [CODE | -]`: Python on the sandbox's
// stateful Jupyter kernel, through the Python SDK's bridge (run_code_protocol.h): the same file
// in the sandbox, the same contexts, so a variable set by declawctl is there for the SDK.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/kernel_bridge.h"
#include "clients/ctl/process_events.h"
#include "clients/ctl/run_code_protocol.h"

namespace declaw::ctl {
namespace {

constexpr size_t kMaxCodeBytes = size_t{16} * 1024 * 1024;
constexpr size_t kRequestIdBytes = 16;
// How long to wait between tries while the bridge's stdin queue is full (429).
constexpr std::chrono::milliseconds kStdinRetry{50};

Result<std::string> newRequestId() {
  UniqueFd random(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  if (!random) return ErrnoError() << "open /dev/urandom";
  unsigned char bytes[kRequestIdBytes];
  if (::read(random.get(), bytes, sizeof(bytes)) != static_cast<ssize_t>(sizeof(bytes))) {
    return ErrnoError() << "read /dev/urandom";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

// The pid of the context's running bridge, if any (started by declawctl or an SDK).
Result<std::optional<int64_t>> findBridge(ApiClient& api, const std::string& id,
                                          const std::string& context) {
  auto processes = api.listProcesses(id);
  if (!processes) return processes.error();
  for (const auto& process : *processes) {
    if (contextOfProcess(process) != context) continue;
    auto pid = pidOf(process);
    if (!pid) return pid.error();
    return std::optional<int64_t>(*pid);
  }
  return std::optional<int64_t>();
}

// Writes the bridge where the SDK does (root's /opt/declaw, else the user's /tmp); its path.
Result<std::string> installBridge(ApiClient& api, const std::string& id) {
  const std::string path = bridgePath();
  auto exists = api.fileExists(id, path, "root");
  if (exists && *exists) return path;
  if (exists && api.writeFile(id, path, "root", kKernelBridgeSource)) return path;
  const std::string fallback = fallbackBridgePath();
  if (auto r = api.writeFile(id, fallback, kKernelUser, kKernelBridgeSource); !r) {
    return r.error();
  }
  return fallback;
}

Result<int64_t> startBridge(ApiClient& api, const std::string& id, const std::string& context) {
  auto bridge = installBridge(api, id);
  if (!bridge) return bridge.error();
  nlohmann::json request = {{"argv", bridgeArgv(*bridge, context, kKernelCwd)},
                            {"background", true},
                            {"user", kKernelUser},
                            {"cwd", kKernelCwd},
                            {"timeout", 0}};
  auto process = api.runCommand(id, request);
  if (!process) return process.error();
  return pidOf(*process);
}

// Sends a line to the bridge; false when its stdin is closed (it has exited).
Result<bool> sendLine(ApiClient& api, const std::string& id, int64_t pid, const std::string& line) {
  for (;;) {
    auto sent = api.sendStdin(id, pid, line);
    if (!sent) return sent.error();
    if (*sent == StdinOutcome::kQueued) return true;
    if (*sent == StdinOutcome::kClosed) return false;
    std::this_thread::sleep_for(kStdinRetry);
  }
}

Result<void> writeText(int fd, const std::string& text) {
  if (text.empty()) return Ok{};
  return writeFully(fd, text);
}

// Follows the bridge's output and applies its messages to builder until the request is over.
class BridgeFollower {
 public:
  BridgeFollower(ApiClient& files, std::string id, ExecutionBuilder& builder, bool live)
      : files_(files), id_(std::move(id)), builder_(builder), live_(live) {}

  Result<bool> onEvent(const SseEvent& sse) {
    auto event = decodeProcessEvent(sse);
    if (!event) return event.error();
    if (auto* exit = std::get_if<ExitEvent>(&*event)) {
      return PlainError() << "the code interpreter ended"
                          << (exit->error.empty() ? "" : ": " + exit->error)
                          << "; the next run-code starts a new kernel";
    }
    if (std::holds_alternative<LostEvent>(*event)) {
      return PlainError() << "declawd dropped some of the code interpreter's output";
    }
    auto* output = std::get_if<OutputEvent>(&*event);
    if (output == nullptr || output->stream != OutputStream::kStdout) return false;
    for (auto& message : splitter_.feed(output->bytes)) {
      if (message.value("type", "") == "fatal") {
        return PlainError() << "the code interpreter could not start: "
                            << message.value("message", "");
      }
      if (message.value("type", "") == "spill" && message.value("id", "") == builder_.request()) {
        auto text = files_.readFile(id_, message.value("path", ""), kKernelUser);
        if (!text) return text.error();
        message = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
      }
      ExecutionOutput out = builder_.apply(message);
      if (live_) {
        if (auto r = writeText(STDOUT_FILENO, out.out); !r) return r.error();
        if (auto r = writeText(STDERR_FILENO, out.err); !r) return r.error();
      }
      if (builder_.finished()) return true;
    }
    return false;
  }

 private:
  ApiClient& files_;
  std::string id_;
  ExecutionBuilder& builder_;
  bool live_;
  BridgeLineSplitter splitter_;
};

}  // namespace

int cmdRunCode(const GlobalOptions& global, const std::string& id, const CodeArgs& args) {
  std::string code = args.code;
  if (code == "-" || !args.code_given) {
    auto all = readFully(STDIN_FILENO, kMaxCodeBytes);
    if (!all) return reportError(all.error());
    code = std::move(*all);
  }
  const std::string context =
      args.context.empty() ? std::string(kDefaultCodeContext) : args.context;
  auto request_id = newRequestId();
  if (!request_id) return reportError(request_id.error());
  ApiClient api(global.socket_path);
  auto found = findBridge(api, id, context);
  if (!found) return reportError(found.error());
  const std::string line = executeLine(*request_id, code, args.timeout_s);
  int64_t pid = 0;
  bool sent = false;
  if (*found) {
    pid = **found;
    auto r = sendLine(api, id, pid, line);
    if (!r) return reportError(r.error());
    sent = *r;  // false: it exited since the list; a new one below
  }
  if (!sent) {
    auto started = startBridge(api, id, context);
    if (!started) return reportError(started.error());
    pid = *started;
    auto r = sendLine(api, id, pid, line);
    if (!r) return reportError(r.error());
    if (!*r) return reportError(PlainError() << "the code interpreter exited at its start");
  }

  // Ctrl-C interrupts the code (the kernel keeps its state) and ends declawctl with 128+N.
  installInterruptHandlers();
  ApiClient stream(global.socket_path);
  stream.setInterruptible(true);
  ExecutionBuilder builder(*request_id);
  BridgeFollower follower(api, id, builder, !global.json);
  auto followed = stream.attachProcess(id, pid, /*follow=*/true,
                                       [&](const SseEvent& e) { return follower.onEvent(e); });
  if (g_interrupted != 0) {
    (void)sendLine(api, id, pid, interruptLine());
    return kSignalExitBase + g_interrupted;
  }
  if (!followed) return reportError(followed.error());
  if (!builder.finished()) {
    return reportError(PlainError() << "the code interpreter's output ended early");
  }
  if (global.json) {
    if (auto r = writeFully(STDOUT_FILENO, builder.execution().dump() + "\n"); !r) {
      return reportError(r.error());
    }
  }
  if (builder.timedOut()) return reportError(PlainError() << timeoutMessage(*builder.timedOut()));
  return builder.hasError() ? 1 : 0;
}

}  // namespace declaw::ctl
