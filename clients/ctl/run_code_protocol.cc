#include "clients/ctl/run_code_protocol.h"

#include "clients/ctl/kernel_bridge.h"

namespace declaw::ctl {
namespace {

constexpr std::string_view kPython = "/usr/bin/python3";
constexpr std::string_view kKernelsDir = "/tmp/.declaw-kernels";
constexpr std::string_view kBridgeName = "kernel_bridge";

std::string stringOf(const nlohmann::json& message, const char* key) {
  auto it = message.find(key);
  if (it == message.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string bridgePath() {
  return "/opt/declaw/kernel_bridge-" + std::string(kKernelBridgeDigest) + ".py";
}

std::string fallbackBridgePath() {
  return "/tmp/.declaw-kernel_bridge-" + std::string(kKernelBridgeDigest) + ".py";
}

std::vector<std::string> bridgeArgv(const std::string& bridge, const std::string& context_id,
                                    std::string_view cwd) {
  return {std::string(kPython),
          bridge,
          "--context",
          context_id,
          "--language",
          "python",
          "--cwd",
          std::string(cwd),
          "--dir",
          std::string(kKernelsDir) + "/" + context_id};
}

std::optional<std::string> contextOfProcess(const nlohmann::json& process) {
  if (!process.is_object() || !process.value("running", false)) return std::nullopt;
  auto argv = process.find("argv");
  if (argv == process.end() || !argv->is_array() || argv->size() < 2) return std::nullopt;
  for (const auto& arg : *argv) {
    if (!arg.is_string()) return std::nullopt;
  }
  const std::string program = basename((*argv)[1].get<std::string>());
  // kernel_bridge-<digest>.py, or at the /tmp fallback .declaw-kernel_bridge-<digest>.py (as
  // the SDK's context_of_process).
  if (program.rfind(std::string(kBridgeName) + "-", 0) != 0 &&
      program.rfind(".declaw-" + std::string(kBridgeName) + "-", 0) != 0) {
    return std::nullopt;
  }
  for (size_t i = 2; i + 1 < argv->size(); i += 2) {
    if ((*argv)[i] == "--context") return (*argv)[i + 1].get<std::string>();
  }
  return std::nullopt;
}

std::string executeLine(const std::string& request_id, const std::string& code, double timeout_s) {
  nlohmann::json request = {{"op", "execute"},
                            {"id", request_id},
                            {"code", code},
                            {"timeout", timeout_s > 0 ? nlohmann::json(timeout_s) : nullptr}};
  return request.dump() + "\n";
}

std::string interruptLine() { return nlohmann::json({{"op", "interrupt"}}).dump() + "\n"; }

std::vector<nlohmann::json> BridgeLineSplitter::feed(std::string_view bytes) {
  partial_ += bytes;
  std::vector<nlohmann::json> messages;
  size_t start = 0;
  for (size_t end = partial_.find('\n'); end != std::string::npos;
       end = partial_.find('\n', start)) {
    auto message = nlohmann::json::parse(partial_.substr(start, end - start), nullptr,
                                         /*allow_exceptions=*/false);
    if (message.is_object()) messages.push_back(std::move(message));
    start = end + 1;
  }
  partial_.erase(0, start);
  return messages;
}

ExecutionOutput ExecutionBuilder::apply(const nlohmann::json& message) {
  ExecutionOutput out;
  if (!message.is_object() || stringOf(message, "id") != request_id_) return out;
  const std::string type = stringOf(message, "type");
  if (type == "stdout" || type == "stderr") {
    const std::string text = stringOf(message, "text");
    execution_["logs"][type].push_back(text);
    (type == "stdout" ? out.out : out.err) = text;
  } else if (type == "result") {
    const nlohmann::json data = message.value("data", nlohmann::json::object());
    nlohmann::json result = data.is_object() ? data : nlohmann::json::object();
    result["is_main_result"] = message.value("is_main_result", false);
    execution_["results"].push_back(result);
    out.out = resultText(data);
  } else if (type == "error") {
    execution_["error"] = {{"name", stringOf(message, "name")},
                           {"value", stringOf(message, "value")},
                           {"traceback", stringOf(message, "traceback")}};
    std::string traceback = stringOf(message, "traceback");
    if (!traceback.empty() && traceback.back() != '\n') traceback += '\n';
    out.err = traceback;
  } else if (type == "execution_count") {
    execution_["execution_count"] = message.value("execution_count", nlohmann::json());
  } else if (type == "died") {
    finished_ = true;
    execution_["error"] = {
        {"name", "KernelDied"}, {"value", stringOf(message, "message")}, {"traceback", ""}};
    out.err = "KernelDied: " + stringOf(message, "message") + "\n";
  } else if (type == "timeout") {
    finished_ = true;
    timed_out_ = message.value("restarted", false);
  } else if (type == "done" || type == "restarted") {
    finished_ = true;
  }
  return out;
}

std::string resultText(const nlohmann::json& data) {
  if (!data.is_object()) return "";
  auto text = data.find("text/plain");
  if (text != data.end() && text->is_string()) return text->get<std::string>() + "\n";
  std::string kinds;
  for (const auto& [mime, value] : data.items()) {
    (void)value;
    kinds += (kinds.empty() ? "" : ", ") + mime;
  }
  return kinds.empty() ? "" : "<a result without text: " + kinds + "; see --json>\n";
}

std::string timeoutMessage(bool restarted) {
  return restarted ? "execution timed out: the code ignored the interrupt, so its kernel was "
                     "restarted (its variables are gone)"
                   : "execution timed out: the code was interrupted (the context keeps its "
                     "variables)";
}

}  // namespace declaw::ctl
