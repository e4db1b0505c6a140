// The JSON request decoders of api/: wire.h (sandboxes, commands, files), process_wire.h
// (processes, signals, stdin, terminal sizes) and resource_wire.h (resources, lifecycle), plus
// the text helpers they lean on (base64, UTF-8 repair).
//
// Input: a request body as a client sends it. Every decoder sees it, with each Limits preset.
//
// Invariants: a decoder either returns a value inside the documented bounds or throws ApiError
// (never another exception: those would become 400s that quote nlohmann's internals, or 500s);
// base64 decodes what it encodes; repaired text is valid UTF-8 and keeps valid input unchanged.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/errors.h"
#include "api/json_fields.h"
#include "api/paths.h"
#include "api/process_wire.h"
#include "api/resource_wire.h"
#include "api/text.h"
#include "api/wire.h"
#include "fuzz/fuzz_check.h"
#include "image/template_name.h"

namespace {

namespace api = declaw::api;
namespace image = declaw::image;

// Runs one decoder: a value goes to `check`; ApiError is an answer; anything else is a bug.
template <typename Decode, typename Check>
void decodes(const char* what, Decode decode, Check check) {
  try {
    check(decode());
  } catch (const api::ApiError& e) {
    FUZZ_CHECK(e.status() >= 400 && e.status() <= 599, what);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string(what) + " threw " + e.what());
  }
}

bool isNormalised(const std::string& path) {
  return !path.empty() && api::normaliseSandboxPath(path) == path;
}

void checkRunSpec(const api::RunSpec& spec, const api::Limits& limits) {
  FUZZ_CHECK(spec.cmd.find('\0') == std::string::npos);
  FUZZ_CHECK(spec.cmd.size() <= api::kMaxCommandBytes);
  // An argv: instead of cmd, a program first, each argument and the whole within the limits.
  FUZZ_CHECK(spec.argv.empty() || spec.cmd.empty());
  FUZZ_CHECK(spec.argv.size() <= api::kMaxArgvEntries);
  FUZZ_CHECK(spec.argv.empty() || !spec.argv.front().empty());
  size_t argv_bytes = 0;
  for (const std::string& arg : spec.argv) {
    FUZZ_CHECK(arg.find('\0') == std::string::npos);
    FUZZ_CHECK(arg.size() <= api::kMaxCommandBytes);
    argv_bytes += arg.size() + 1;
  }
  FUZZ_CHECK(argv_bytes <= api::kMaxArgvBytes);
  // Empty: the template's default user (an image's User), resolved by the daemon.
  FUZZ_CHECK(spec.user.empty() || spec.user == "user" || spec.user == "root", spec.user);
  FUZZ_CHECK(spec.cwd.empty() || isNormalised(spec.cwd), spec.cwd);
  FUZZ_CHECK(spec.timeout_s <= limits.max_sandbox_timeout_s);
  FUZZ_CHECK(spec.envs.size() <= api::kMaxEnvEntries);
  for (const auto& [key, value] : spec.envs) {
    FUZZ_CHECK(api::isEnvName(key), key);
    FUZZ_CHECK(value.find('\0') == std::string::npos);
  }
}

void checkResources(const api::Resources& r, const api::Limits& limits) {
  FUZZ_CHECK(r.cpu > 0 && r.cpu <= limits.max_resources.cpu);
  FUZZ_CHECK(r.memory_mb > 0 && r.memory_mb <= limits.max_resources.memory_mb);
  FUZZ_CHECK(r.pids > 0 && r.pids <= limits.max_resources.pids);
  FUZZ_CHECK(r.disk_mb > 0 && r.disk_mb <= limits.max_resources.disk_mb);
}

void decodeAll(const nlohmann::json& body, const api::Limits& limits) {
  decodes(
      "parseCreateSandboxSpec", [&] { return api::parseCreateSandboxSpec(body, limits); },
      [&](const api::CreateSandboxSpec& spec) {
        FUZZ_CHECK(image::templateNameProblem(spec.template_name).empty(), spec.template_name);
        FUZZ_CHECK(spec.timeout_s >= 1 && spec.timeout_s <= limits.max_sandbox_timeout_s);
        FUZZ_CHECK(spec.metadata.size() <= limits.max_metadata_entries);
        FUZZ_CHECK(spec.on_timeout == "kill" || spec.on_timeout == "pause");
        checkResources(spec.resources, limits);
      });
  decodes(
      "parseTimeoutUpdate", [&] { return api::parseTimeoutUpdate(body, limits); },
      [&](uint32_t t) { FUZZ_CHECK(t >= 1 && t <= limits.max_sandbox_timeout_s); });
  for (bool cmd_optional : {false, true}) {
    decodes(
        "parseRunSpec",
        [&] { return api::parseRunSpec(body, limits, {.cmd_optional = cmd_optional}); },
        [&](const api::RunSpec& spec) {
          checkRunSpec(spec, limits);
          if (!cmd_optional) FUZZ_CHECK(!spec.cmd.empty() || !spec.argv.empty());
        });
  }
  for (auto kind :
       {api::ProcessKind::kBackground, api::ProcessKind::kStream, api::ProcessKind::kPty}) {
    decodes(
        "parseProcessSpec", [&] { return api::parseProcessSpec(body, limits, kind); },
        [&](const api::ProcessSpec& spec) {
          checkRunSpec(spec.run, limits);
          FUZZ_CHECK(spec.pty == (kind == api::ProcessKind::kPty));
          FUZZ_CHECK(spec.rows >= 1 && spec.rows <= 1000 && spec.cols >= 1 && spec.cols <= 1000);
        });
  }
  decodes(
      "parseFileContent", [&] { return api::parseFileContent(body); }, [](const std::string&) {});
  decodes(
      "parseNewPath", [&] { return api::parseNewPath(body); },
      [](const std::string& path) { FUZZ_CHECK(isNormalised(path), path); });
  decodes(
      "parseSignal", [&] { return api::parseSignal(body); },
      [](int signal) { FUZZ_CHECK(signal >= 1 && signal <= 64, std::to_string(signal)); });
  decodes(
      "parseStdinData", [&] { return api::parseStdinData(body); }, [](const std::string&) {});
  decodes(
      "parseTerminalSize",
      [&] {
        uint16_t rows = 0;
        uint16_t cols = 0;
        api::parseTerminalSize(body, "size", rows, cols);
        return std::pair(rows, cols);
      },
      [](std::pair<uint16_t, uint16_t> size) {
        FUZZ_CHECK(size.first >= 1 && size.first <= 1000 && size.second >= 1 &&
                   size.second <= 1000);
      });
  decodes(
      "parseResources", [&] { return api::parseResources(body, limits); },
      [&](const api::Resources& r) { checkResources(r, limits); });
  decodes(
      "parseLifecycle", [&] { return api::parseLifecycle(body); },
      [](const std::string& v) { FUZZ_CHECK(v == "kill" || v == "pause", v); });
}

void checkText(std::string_view bytes) {
  const std::string encoded = api::base64Encode(bytes);
  auto decoded = api::base64Decode(encoded);
  FUZZ_CHECK(decoded && *decoded == bytes, declaw::fuzz::show(encoded));
  // Whatever base64Decode accepts re-encodes to something it decodes to the same bytes.
  if (auto lenient = api::base64Decode(bytes)) {
    FUZZ_CHECK(api::base64Decode(api::base64Encode(*lenient)) == lenient);
  }
  const std::string repaired = api::replaceInvalidUtf8(bytes);
  FUZZ_CHECK(api::isValidUtf8(repaired), declaw::fuzz::show(repaired));
  if (api::isValidUtf8(bytes)) FUZZ_CHECK(repaired == bytes);
  // An error body quoting any bytes is valid JSON.
  api::Response error = api::errorForStatus(400, api::quoteInput(bytes, 16), "sbx-0123456789ab");
  FUZZ_CHECK(nlohmann::json::accept(error.body), error.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = declaw::fuzz::asText(data, size);
  checkText(text);

  nlohmann::json body;
  try {
    body = api::parseJsonObject(text, 1 << 20, true);
  } catch (const api::ApiError&) {
    return 0;
  }
  decodeAll(body, api::Limits{});
  // Tighter limits move the edges the fuzzer can reach.
  api::Limits tight;
  tight.max_sandbox_timeout_s = 10;
  tight.default_sandbox_timeout_s = 5;
  tight.default_command_timeout_s = 5;
  tight.max_metadata_entries = 2;
  tight.max_resources = {2, 512, 64, 128};
  tight.default_resources = {1, 256, 32, 64};
  decodeAll(body, tight);
  return 0;
}
