// run-code's side of the Python SDK's kernel bridge protocol (clients/python/declaw/
// _kernel_bridge.py's docstring, _run_code.py): where the bridge goes in the sandbox, its command
// line (which is also how a context's running bridge is found in the process list, so declawctl
// and the SDK share kernels), the JSON request lines, and the Execution its messages build.
// Pure; the requests are commands_code.cc's.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace declaw::ctl {

// The context run-code uses without --context: the SDK's default Python context.
inline constexpr std::string_view kDefaultCodeContext = "default-python";
// The SDK's defaults: the execution timeout (E2B's; 0 is none) and the kernel's cwd and user.
inline constexpr double kDefaultCodeTimeoutS = 300;
inline constexpr std::string_view kKernelCwd = "/home/user";
inline constexpr std::string_view kKernelUser = "user";

// /opt/declaw/kernel_bridge-<digest>.py (root's), and where it goes when root is refused.
std::string bridgePath();
std::string fallbackBridgePath();

// The bridge's argv for a context: [python3, bridge, --context ID, --language python, --cwd CWD,
// --dir /tmp/.declaw-kernels/ID].
std::vector<std::string> bridgeArgv(const std::string& bridge, const std::string& context_id,
                                    std::string_view cwd);

// The context id of a ProcessInfo when it is a running bridge, else nullopt.
std::optional<std::string> contextOfProcess(const nlohmann::json& process);

// {"op": "execute", ...} and {"op": "interrupt"} as lines for the bridge's stdin. timeout_s 0:
// none (null).
std::string executeLine(const std::string& request_id, const std::string& code, double timeout_s);
std::string interruptLine();

// Splits the bridge's stdout into its JSON messages (lines that are not JSON objects are
// skipped, as the SDK does); a partial last line waits for the next piece.
class BridgeLineSplitter {
 public:
  std::vector<nlohmann::json> feed(std::string_view bytes);

 private:
  std::string partial_;
};

// What one message means for the output: text to print on stdout or stderr.
struct ExecutionOutput {
  std::string out;
  std::string err;
};

// Builds the Execution of one request from the bridge's messages, ignoring other requests'.
class ExecutionBuilder {
 public:
  explicit ExecutionBuilder(std::string request_id) : request_id_(std::move(request_id)) {}

  // Applies a message (not a spill: read its file first); what to print live.
  ExecutionOutput apply(const nlohmann::json& message);

  const std::string& request() const { return request_id_; }
  bool finished() const { return finished_; }
  bool hasError() const { return !execution_["error"].is_null(); }
  // nullopt, or whether the kernel had to be restarted after the timeout.
  std::optional<bool> timedOut() const { return timed_out_; }
  // {"results": [...], "logs": {"stdout": [...], "stderr": [...]}, "error": {name, value,
  // traceback} or null, "execution_count": N or null}: the SDK's Execution.to_json() shape.
  const nlohmann::json& execution() const { return execution_; }

 private:
  std::string request_id_;
  nlohmann::json execution_ = {
      {"results", nlohmann::json::array()},
      {"logs", {{"stdout", nlohmann::json::array()}, {"stderr", nlohmann::json::array()}}},
      {"error", nullptr},
      {"execution_count", nullptr}};
  bool finished_ = false;
  std::optional<bool> timed_out_;
};

// How a result is shown: its text/plain plus a newline, or a note naming its formats when it
// has no text.
std::string resultText(const nlohmann::json& data);

// The message after a timeout, as the SDK's.
std::string timeoutMessage(bool restarted);

}  // namespace declaw::ctl
