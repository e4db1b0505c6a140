// The process routes of docs/api.md ("Commands"): background and streamed commands, PTYs, and
// the process list with attach, wait, signals, stdin and resize.
#include <signal.h>

#include <charconv>

#include "api/handlers.h"
#include "api/json_fields.h"
#include "api/process_wire.h"
#include "api/wire.h"

namespace declaw::api {

namespace {

constexpr uint64_t kDefaultWaitS = 60;

// A process's output as Server-Sent Events: start, the output, then exit (or the end of what
// is buffered, when not following).
class ProcessEventSource : public BodySource {
 public:
  explicit ProcessEventSource(std::unique_ptr<ProcessWatch> watch) : watch_(std::move(watch)) {}

  std::string keepAlive() const override { return std::string(kSseKeepAlive); }

  std::optional<std::string> next(std::chrono::milliseconds idle) override {
    if (!started_) {
      started_ = true;
      return sseStart(watch_->pid());
    }
    if (ended_) return std::nullopt;
    auto event = watch_->next(idle);
    if (!event) return std::string();
    if (event->kind == OutputEvent::Kind::kEnd) {
      ended_ = true;
      return std::nullopt;
    }
    if (event->kind == OutputEvent::Kind::kExit) ended_ = true;
    return sseEvent(watch_->pid(), *event);
  }

 private:
  std::unique_ptr<ProcessWatch> watch_;
  bool started_ = false;
  bool ended_ = false;
};

Response eventStream(std::unique_ptr<ProcessWatch> watch) {
  Response response;
  response.content_type = "text/event-stream";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.stream = std::make_unique<ProcessEventSource>(std::move(watch));
  return response;
}

Response processResponse(const ProcessInfo& info) { return jsonResponse(kStatusOk, toJson(info)); }

int pidOf(const Context& ctx) { return parsePid(ctx.pid); }

bool followOf(const Context& ctx) { return ctx.query.flag("follow").value_or(true); }

}  // namespace

Response startBackground(const Context& ctx, const nlohmann::json& body) {
  const ProcessSpec spec = parseProcessSpec(body, ctx.limits, ProcessKind::kBackground);
  return processResponse(unwrap(ctx.services.startProcess(ctx.caller, ctx.sandbox_id, spec)));
}

Response streamCommand(const Context& ctx) {
  const ProcessSpec spec = parseProcessSpec(bodyOf(ctx), ctx.limits, ProcessKind::kStream);
  const ProcessInfo info = unwrap(ctx.services.startProcess(ctx.caller, ctx.sandbox_id, spec));
  return eventStream(unwrap(ctx.services.watchProcess(ctx.caller, ctx.sandbox_id, info.pid, true)));
}

Response createPty(const Context& ctx) {
  const ProcessSpec spec = parseProcessSpec(bodyOf(ctx), ctx.limits, ProcessKind::kPty);
  return processResponse(unwrap(ctx.services.startProcess(ctx.caller, ctx.sandbox_id, spec)));
}

Response listProcesses(const Context& ctx) {
  nlohmann::json list = nlohmann::json::array();
  for (const ProcessInfo& info : unwrap(ctx.services.listProcesses(ctx.caller, ctx.sandbox_id))) {
    list.push_back(toJson(info));
  }
  return jsonResponse(kStatusOk, {{"processes", list}});
}

Response getProcess(const Context& ctx) {
  return processResponse(unwrap(ctx.services.getProcess(ctx.caller, ctx.sandbox_id, pidOf(ctx))));
}

Response attachProcess(const Context& ctx) {
  const int pid = pidOf(ctx);
  const bool follow = followOf(ctx);
  return eventStream(unwrap(ctx.services.watchProcess(ctx.caller, ctx.sandbox_id, pid, follow)));
}

Response waitProcess(const Context& ctx) {
  const int pid = pidOf(ctx);
  uint64_t timeout_s = kDefaultWaitS;
  if (auto text = ctx.query.single("timeout")) {
    const char* end = text->data() + text->size();
    auto [stop, ec] = std::from_chars(text->data(), end, timeout_s);
    if (ec != std::errc() || stop != end || timeout_s > ctx.limits.max_wait_s) {
      throw badRequest("query parameter 'timeout' must be 0.." +
                       std::to_string(ctx.limits.max_wait_s) + " seconds");
    }
  }
  return processResponse(unwrap(
      ctx.services.waitProcess(ctx.caller, ctx.sandbox_id, pid, std::chrono::seconds(timeout_s))));
}

Response killProcess(const Context& ctx) {
  auto killed = ctx.services.signalProcess(ctx.caller, ctx.sandbox_id, pidOf(ctx), SIGKILL);
  // Killing a process that has already finished is done, as killing a sandbox is.
  if (!killed && killed.error().code != ESRCH) throw apiErrorFrom(killed.error());
  if (!killed) {
    // ESRCH also means "sandbox not running": tell the two apart.
    unwrap(ctx.services.getProcess(ctx.caller, ctx.sandbox_id, pidOf(ctx)));
  }
  return noContent();
}

Response signalProcess(const Context& ctx) {
  const int signal = parseSignal(bodyOf(ctx));
  unwrap(ctx.services.signalProcess(ctx.caller, ctx.sandbox_id, pidOf(ctx), signal));
  return noContent();
}

Response writeStdin(const Context& ctx) {
  std::string data = parseStdinData(bodyOf(ctx));
  unwrap(ctx.services.writeStdin(ctx.caller, ctx.sandbox_id, pidOf(ctx), std::move(data)));
  return noContent();
}

Response closeStdin(const Context& ctx) {
  unwrap(ctx.services.closeStdin(ctx.caller, ctx.sandbox_id, pidOf(ctx)));
  return noContent();
}

Response resizePty(const Context& ctx) {
  uint16_t rows = 0;
  uint16_t cols = 0;
  parseTerminalSize(bodyOf(ctx), "the body", rows, cols);
  unwrap(ctx.services.resizePty(ctx.caller, ctx.sandbox_id, pidOf(ctx), rows, cols));
  return noContent();
}

}  // namespace declaw::api
