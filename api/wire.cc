#include "api/wire.h"

#include <algorithm>
#include <ctime>

#include "api/errors.h"
#include "api/json_fields.h"
#include "api/network_wire.h"
#include "api/paths.h"
#include "api/resource_wire.h"
#include "api/template_wire.h"
#include "api/text.h"

namespace declaw::api {

namespace {

StringMapRules envRules() {
  return {.max_entries = kMaxEnvEntries,
          .max_key_bytes = kMaxMapKeyBytes,
          .max_value_bytes = kMaxMapValueBytes,
          .keys_are_env_names = true};
}

StringMapRules metadataRules(const Limits& limits) {
  return {.max_entries = limits.max_metadata_entries,
          .max_key_bytes = kMaxMapKeyBytes,
          .max_value_bytes = kMaxMapValueBytes,
          .keys_are_env_names = false};
}

}  // namespace

CreateSandboxSpec parseCreateSandboxSpec(const nlohmann::json& body, const Limits& limits) {
  CreateSandboxSpec spec;
  // Which templates exist is the daemon's to say (an unknown one is a 400 from createSandbox).
  spec.template_name =
      validateTemplateName(stringField(body, "template").value_or("base"), "template");
  spec.timeout_s =
      static_cast<uint32_t>(integerField(body, "timeout", 1, limits.max_sandbox_timeout_s)
                                .value_or(limits.default_sandbox_timeout_s));
  spec.envs = stringMapField(body, "envs", envRules()).value_or(StringMap{});
  spec.metadata = stringMapField(body, "metadata", metadataRules(limits)).value_or(StringMap{});
  // A client that names an egress policy means the sandbox to have a network: absent
  // allow_internet_access then defaults to true. An explicit false denies everything.
  spec.network = parseNetworkLists(body);
  spec.allow_internet_access =
      boolField(body, "allow_internet_access").value_or(namesEgressPolicy(body));
  // With internet access, loopback works anyway: the flag is then implied, not an error.
  spec.loopback_inet = parseLoopbackInet(body) || spec.allow_internet_access;
  spec.resources = parseResources(body, limits);
  spec.on_timeout = parseLifecycle(body);
  return spec;
}

uint32_t parseTimeoutUpdate(const nlohmann::json& body, const Limits& limits) {
  auto timeout = integerField(body, "timeout", 1, limits.max_sandbox_timeout_s);
  if (!timeout) throw badRequest("'timeout' is required");
  return static_cast<uint32_t>(*timeout);
}

namespace {

std::vector<std::string> parseArgv(const nlohmann::json& argv) {
  const char* kShape = "'argv' must be a non-empty array of strings, the program first";
  if (!argv.is_array() || argv.empty()) throw badRequest(kShape);
  if (argv.size() > kMaxArgvEntries) {
    throw tooLarge("'argv' has more than " + std::to_string(kMaxArgvEntries) + " arguments");
  }
  std::vector<std::string> out;
  out.reserve(argv.size());
  size_t total = 0;
  for (const auto& arg : argv) {
    if (!arg.is_string()) throw badRequest(kShape);
    std::string text = arg.get<std::string>();
    if (text.find('\0') != std::string::npos) {
      throw badRequest("'argv' must not contain NUL bytes");
    }
    if (text.size() > kMaxCommandBytes) {
      throw tooLarge("an 'argv' argument is longer than " + std::to_string(kMaxCommandBytes) +
                     " bytes");
    }
    total += text.size() + 1;
    if (total > kMaxArgvBytes) {
      throw tooLarge("'argv' is longer than " + std::to_string(kMaxArgvBytes) + " bytes");
    }
    out.push_back(std::move(text));
  }
  if (out.front().empty()) throw badRequest("'argv[0]' (the program) must not be empty");
  return out;
}

}  // namespace

RunSpec parseRunSpec(const nlohmann::json& body, const Limits& limits, RunDefaults defaults) {
  RunSpec spec;
  auto cmd = stringField(body, "cmd");
  if (const nlohmann::json* argv = findField(body, "argv"); argv && !argv->is_null()) {
    if (cmd) throw badRequest("give 'cmd' (a shell command line) or 'argv', not both");
    spec.argv = parseArgv(*argv);
    cmd = std::string();
  } else if (!defaults.cmd_optional && (!cmd || cmd->empty())) {
    throw badRequest("'cmd' or 'argv' is required and must not be empty");
  }
  if (!cmd) cmd = std::string();
  if (cmd->find('\0') != std::string::npos) throw badRequest("'cmd' must not contain NUL bytes");
  if (cmd->size() > kMaxCommandBytes) {
    throw tooLarge("'cmd' is longer than " + std::to_string(kMaxCommandBytes) + " bytes");
  }
  spec.cmd = std::move(*cmd);
  spec.envs = stringMapField(body, "envs", envRules()).value_or(StringMap{});
  if (auto cwd = stringField(body, "cwd")) spec.cwd = normaliseSandboxPath(*cwd, "cwd");
  if (auto user = stringField(body, "user")) spec.user = validateUser(*user);
  spec.stdin_data = stringField(body, "stdin").value_or("");
  spec.timeout_s = static_cast<uint32_t>(
      integerField(body, "timeout", 0, limits.max_sandbox_timeout_s)
          .value_or(defaults.timeout_s.value_or(limits.default_command_timeout_s)));
  return spec;
}

std::string parseFileContent(const nlohmann::json& body) {
  auto content = stringField(body, "content");
  auto encoded = stringField(body, "content_base64");
  if (content && encoded) throw badRequest("give 'content' or 'content_base64', not both");
  if (content) return std::move(*content);
  if (!encoded) throw badRequest("'content' or 'content_base64' is required");
  auto bytes = base64Decode(*encoded);
  if (!bytes) throw badRequest("'content_base64' is not valid base64");
  return std::move(*bytes);
}

std::string parseNewPath(const nlohmann::json& body) {
  auto new_path = stringField(body, "new_path");
  if (!new_path) throw badRequest("'new_path' is required");
  return normaliseSandboxPath(*new_path, "new_path");
}

std::string formatTime(Clock::time_point time) {
  const std::time_t seconds = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(time));
  std::tm utc{};
  if (!gmtime_r(&seconds, &utc)) return "1970-01-01T00:00:00Z";
  char text[64];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, n);
}

Clock::time_point timeFromUnixSeconds(int64_t seconds) {
  using std::chrono::duration_cast;
  constexpr int64_t kMost = duration_cast<std::chrono::seconds>(Clock::duration::max()).count();
  constexpr int64_t kLeast = duration_cast<std::chrono::seconds>(Clock::duration::min()).count();
  return Clock::time_point(std::chrono::seconds(std::clamp(seconds, kLeast, kMost)));
}

std::string permissionsString(uint32_t mode) {
  std::string text = "---------";
  const char kLetters[] = "rwx";
  for (int bit = 0; bit < 9; ++bit) {
    if (mode & (0400u >> bit)) text[bit] = kLetters[bit % 3];
  }
  // setuid, setgid, sticky replace the x of user, group, other.
  const struct {
    uint32_t flag;
    size_t at;
    char with_x;
    char without_x;
  } kSpecial[] = {{04000, 2, 's', 'S'}, {02000, 5, 's', 'S'}, {01000, 8, 't', 'T'}};
  for (const auto& special : kSpecial) {
    if (mode & special.flag) {
      text[special.at] = text[special.at] == 'x' ? special.with_x : special.without_x;
    }
  }
  return text;
}

nlohmann::json toJson(const SandboxInfo& info) {
  return {{"sandbox_id", info.sandbox_id},
          {"template_id", info.template_id},
          {"state", info.state},
          {"metadata", info.metadata},
          {"envs", info.envs},
          {"allow_internet_access", info.allow_internet_access},
          {"network", networkJson(info)},
          {"started_at", formatTime(info.started_at)},
          {"end_at", formatTime(info.end_at)},
          {"owner_uid", info.owner_uid},
          {"resources", toJson(info.resources)},
          {"lifecycle", {{"on_timeout", info.on_timeout}}}};
}

nlohmann::json toJson(const RunResult& result) {
  nlohmann::json out = {{"pid", result.pid},
                        {"exit_code", result.exit_code},
                        {"timed_out", result.timed_out},
                        {"stdout_truncated", result.stdout_truncated},
                        {"stderr_truncated", result.stderr_truncated}};
  putBytes(out, "stdout", result.stdout_data);
  putBytes(out, "stderr", result.stderr_data);
  if (result.signal) out["signal"] = *result.signal;
  if (result.oom_killed) out["oom_killed"] = true;
  return out;
}

nlohmann::json toJson(const FileEntry& entry) {
  return {{"name", entry.name},
          {"path", entry.path},
          {"type", entry.type},
          {"size", entry.size},
          {"mode", entry.mode},
          {"permissions", permissionsString(entry.mode)},
          {"owner", entry.owner},
          {"group", entry.group},
          {"modified_time", formatTime(entry.modified_time)},
          {"symlink_target", entry.type == "symlink" ? nlohmann::json(entry.symlink_target)
                                                     : nlohmann::json(nullptr)}};
}

nlohmann::json toJson(const Limits& limits) {
  return {{"max_json_body_bytes", limits.max_json_body_bytes},
          {"max_upload_bytes", limits.max_upload_bytes},
          {"max_header_bytes", limits.max_header_bytes},
          {"max_text_read_bytes", limits.max_text_read_bytes},
          {"idle_timeout_s", limits.idle_timeout_s},
          {"max_connections", limits.max_connections},
          {"max_sandboxes", limits.max_sandboxes},
          {"max_output_bytes", limits.max_output_bytes},
          {"default_sandbox_timeout_s", limits.default_sandbox_timeout_s},
          {"max_sandbox_timeout_s", limits.max_sandbox_timeout_s},
          {"default_command_timeout_s", limits.default_command_timeout_s},
          {"max_list_depth", limits.max_list_depth},
          {"max_metadata_entries", limits.max_metadata_entries},
          {"output_buffer_bytes", limits.output_buffer_bytes},
          {"max_processes", limits.max_processes},
          {"max_finished_processes", limits.max_finished_processes},
          {"max_stdin_buffer_bytes", limits.max_stdin_buffer_bytes},
          {"max_buffered_output_bytes", limits.max_buffered_output_bytes},
          {"default_resources", toJson(limits.default_resources)},
          {"max_resources", toJson(limits.max_resources)}};
}

nlohmann::json toJson(const HealthInfo& health, const Limits& limits) {
  nlohmann::json limits_json = toJson(limits);
  for (const auto& [name, value] : health.limits) limits_json[name] = value;
  nlohmann::json network = nullptr;
  if (health.network) {
    const HealthNetwork& n = *health.network;
    network = {{"pool", n.pool},
               {"pool6", n.pool6 ? nlohmann::json(*n.pool6) : nlohmann::json(nullptr)},
               {"dns_upstream", n.dns_upstream},
               {"proxy_port", n.proxy_port}};
  }
  return {{"status", "ok"},
          {"version", health.version},
          {"sandboxes_running", health.sandboxes_running},
          {"cgroup", health.cgroup},
          {"leftovers_cleaned", health.leftovers_cleaned},
          {"sandboxes_restored", health.sandboxes_restored},
          {"restore_failures", health.restore_failures},
          {"features", health.features},
          {"network", network},
          {"limits", limits_json}};
}

Response jsonResponse(int status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace declaw::api
