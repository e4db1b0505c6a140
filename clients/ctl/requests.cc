#include "clients/ctl/requests.h"

#include <csignal>

#include "clients/ctl/format.h"

namespace declaw::ctl {
namespace {

constexpr int kMaxExitCode = 255;

bool flag(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// The exact bytes of one output stream: the base64 field wins, since the plain string has
// U+FFFD replacements exactly when the bytes were not UTF-8.
Result<std::string> streamBytes(const nlohmann::json& result, const std::string& name) {
  auto b64 = result.find(name + "_base64");
  if (b64 != result.end() && b64->is_string()) {
    auto bytes = base64Decode(b64->get_ref<const std::string&>());
    if (!bytes)
      return PlainError() << "bad response from declawd: " << name << "_base64 is not base64";
    return bytes;
  }
  auto text = result.find(name);
  if (text == result.end() || text->is_null()) return std::string();
  if (!text->is_string())
    return PlainError() << "bad response from declawd: " << name << " is not a string";
  return text->get<std::string>();
}

// user, cwd, envs and the timeout: what every way of starting a process takes alike.
Result<void> addProcessFlags(const ExecSpec& spec, nlohmann::json& request) {
  if (!spec.user.empty()) request["user"] = spec.user;
  if (!spec.cwd.empty()) request["cwd"] = spec.cwd;
  if (!spec.envs.empty()) {
    auto envs = parseKeyValues(spec.envs);
    if (!envs) return PlainError() << "--env: " << envs.error().message;
    request["envs"] = *envs;
  }
  if (waitsForExit(spec.mode) || spec.timeout_s) request["timeout"] = commandTimeout(spec);
  return Ok{};
}

}  // namespace

Result<nlohmann::json> buildCreateRequest(const SandboxSpec& spec) {
  nlohmann::json request = nlohmann::json::object();
  if (!spec.template_id.empty()) request["template"] = spec.template_id;
  if (spec.timeout_s) request["timeout"] = *spec.timeout_s;
  if (!spec.envs.empty()) {
    auto envs = parseKeyValues(spec.envs);
    if (!envs) return PlainError() << "--env: " << envs.error().message;
    request["envs"] = *envs;
  }
  if (!spec.metadata.empty()) {
    auto metadata = parseKeyValues(spec.metadata);
    if (!metadata) return PlainError() << "--meta: " << metadata.error().message;
    request["metadata"] = *metadata;
  }
  if (spec.internet) request["allow_internet_access"] = *spec.internet;
  nlohmann::json resources = nlohmann::json::object();
  if (spec.resources.cpu) resources["cpu"] = *spec.resources.cpu;
  if (spec.resources.memory_mb) resources["memory_mb"] = *spec.resources.memory_mb;
  if (spec.resources.pids) resources["pids"] = *spec.resources.pids;
  if (spec.resources.disk_mb) resources["disk_mb"] = *spec.resources.disk_mb;
  if (!resources.empty()) request["resources"] = std::move(resources);
  if (!spec.on_timeout.empty()) request["lifecycle"] = {{"on_timeout", spec.on_timeout}};
  nlohmann::json network = nlohmann::json::object();
  if (!spec.allow_out.empty()) network["allow_out"] = spec.allow_out;
  if (!spec.deny_out.empty()) network["deny_out"] = spec.deny_out;
  if (spec.loopback_inet) network["loopback_inet"] = true;
  if (!network.empty()) request["network"] = std::move(network);
  return request;
}

Result<nlohmann::json> buildTemplateSandboxRequest(const BuildSpec& spec) {
  SandboxSpec sandbox = spec.sandbox;
  if (!sandbox.timeout_s) sandbox.timeout_s = kBuildSandboxTimeoutS;
  return buildCreateRequest(sandbox);
}

nlohmann::json buildStepRequest(const BuildSpec& spec, size_t index) {
  return {{"cmd", spec.steps.at(index)},
          {"user", "root"},
          {"timeout", spec.step_timeout_s.value_or(0)}};
}

nlohmann::json buildSnapshotRequest(const std::string& name, bool replace) {
  return {{"name", name}, {"replace", replace}};
}

nlohmann::json buildNetworkPatch(const NetworkUpdate& update) {
  nlohmann::json request = nlohmann::json::object();
  if (update.allow_out) request["allow_out"] = *update.allow_out;
  if (update.deny_out) request["deny_out"] = *update.deny_out;
  if (update.internet) request["allow_internet_access"] = *update.internet;
  return request;
}

nlohmann::json commandFields(const std::vector<std::string>& argv) {
  if (argv.size() == 1) return {{"cmd", argv.front()}};
  return {{"argv", argv}};
}

bool waitsForExit(ExecMode mode) {
  return mode == ExecMode::kWait || mode == ExecMode::kBuffered || mode == ExecMode::kInteractive;
}

int64_t commandTimeout(const ExecSpec& spec) {
  if (spec.timeout_s) return *spec.timeout_s;
  return waitsForExit(spec.mode) ? kDefaultCommandTimeoutS : 0;
}

Result<nlohmann::json> buildCommandRequest(const ExecSpec& spec, const std::string& stdin_data) {
  if (spec.argv.empty()) return PlainError() << "no command given (put it after --)";
  nlohmann::json request = commandFields(spec.argv);
  if (auto r = addProcessFlags(spec, request); !r) return r.error();
  switch (spec.mode) {
    case ExecMode::kWait:
    case ExecMode::kBuffered:
      break;
    case ExecMode::kInteractive:
      request["stdin_open"] = true;
      break;
    case ExecMode::kDetach:
      request["background"] = true;
      break;
    case ExecMode::kTerminal:
      return PlainError() << "a terminal is started with buildPtyRequest";
  }
  if (spec.send_stdin) {
    if (!isValidUtf8(stdin_data)) {
      return PlainError() << "--stdin: input is not valid UTF-8 (the API carries stdin as a JSON "
                             "string; use `cp` for binary data)";
    }
    request["stdin"] = stdin_data;
  }
  return request;
}

Result<nlohmann::json> buildPtyRequest(const ExecSpec& spec, TerminalSize size) {
  nlohmann::json request = {{"size", {{"rows", size.rows}, {"cols", size.cols}}}};
  if (!spec.argv.empty()) request.update(commandFields(spec.argv));
  if (auto r = addProcessFlags(spec, request); !r) return r.error();
  return request;
}

Result<CommandOutcome> decodeCommandResult(const nlohmann::json& result) {
  if (!result.is_object()) return PlainError() << "bad response from declawd: not an object";
  auto code = result.find("exit_code");
  if (code == result.end() || !code->is_number_integer()) {
    return PlainError() << "bad response from declawd: no exit_code";
  }
  CommandOutcome out;
  auto out_bytes = streamBytes(result, "stdout");
  if (!out_bytes) return out_bytes.error();
  auto err_bytes = streamBytes(result, "stderr");
  if (!err_bytes) return err_bytes.error();
  out.stdout_bytes = std::move(*out_bytes);
  out.stderr_bytes = std::move(*err_bytes);
  out.timed_out = flag(result, "timed_out");
  out.stdout_truncated = flag(result, "stdout_truncated");
  out.stderr_truncated = flag(result, "stderr_truncated");
  out.oom_killed = flag(result, "oom_killed");

  // A shell cannot see exit statuses outside 0..255; keep an odd value from wrapping to 0.
  int64_t raw = code->get<int64_t>();
  out.exit_code = raw >= 0 && raw <= kMaxExitCode ? static_cast<int>(raw) : kMaxExitCode;
  if (out.timed_out) out.exit_code = kTimedOutExitCode;
  return out;
}

std::string oomNote(const nlohmann::json& sandbox_info) {
  std::string note = "the command was killed for lack of memory";
  if (sandbox_info.is_object()) {
    auto resources = sandbox_info.find("resources");
    if (resources != sandbox_info.end() && resources->is_object()) {
      auto memory = resources->find("memory_mb");
      if (memory != resources->end() && memory->is_number_integer()) {
        note += " (memory_mb=" + std::to_string(memory->get<int64_t>()) + ")";
      }
    }
  }
  return note;
}

bool mayBeOomKill(std::optional<int> signal, std::optional<int64_t> exit_code) {
  return signal == SIGKILL || exit_code == kKilledExitCode;
}

}  // namespace declaw::ctl
