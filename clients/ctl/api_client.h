// The declaw v1 API (docs/api.md) as typed calls over HttpClient. Every failure is an Error whose
// message is what declawctl prints after "declawctl: ", e.g. "sandbox sbx-1 not found (not_found)".
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "clients/ctl/http_client.h"
#include "clients/ctl/requests.h"
#include "clients/ctl/sse_parse.h"
#include "common/result.h"

namespace declaw::ctl {

// The Error for a non-2xx answer: "<message> (<code>)" from the API's error object, or a
// description of the status when the body is not one.
Error apiError(int status, std::string_view reason, std::string_view body);

// Parses a 2xx JSON body; an empty body is null.
Result<nlohmann::json> parseJsonBody(std::string_view body);

// Serializes a request body; strings that are not UTF-8 cannot be sent as JSON and are an Error.
Result<std::string> serializeJson(const nlohmann::json& value);

// Receives the events of a stream (a process's output, a directory watch) in order, as they
// arrive. Returning true ends the stream there (its last event, `exit` or `end`, has come); an
// Error ends it and is passed on.
using EventHandler = std::function<Result<bool>(const SseEvent&)>;

// What became of bytes sent to a process's stdin.
enum class StdinOutcome {
  kQueued,  // 204
  kBusy,    // 429: the process has not read enough of what was queued yet; try again later
  kClosed,  // 409 or 404: its stdin is closed, or it has finished
};

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path) : http_(std::move(socket_path)) {}

  // See HttpClient::setInterruptible().
  void setInterruptible(bool interruptible) { http_.setInterruptible(interruptible); }

  Result<nlohmann::json> createSandbox(const nlohmann::json& request);
  // query is the already-encoded query string without '?', possibly empty.
  Result<nlohmann::json> listSandboxes(std::string_view query);
  Result<nlohmann::json> getSandbox(std::string_view id);
  Result<void> killSandbox(std::string_view id);
  Result<nlohmann::json> setTimeout(std::string_view id, int64_t seconds);
  // POST .../pause and .../resume: the SandboxInfo after; idempotent.
  Result<nlohmann::json> pauseSandbox(std::string_view id);
  Result<nlohmann::json> resumeSandbox(std::string_view id);
  // GET .../metrics. Its cpu_cores_used averages since this process's previous call for that
  // sandbox (declawd keeps one window per client pid), or since the sandbox started.
  Result<nlohmann::json> sandboxMetrics(std::string_view id);
  // GET .../network: the egress rules, the link and the refusal counts.
  Result<nlohmann::json> getNetwork(std::string_view id);
  // PATCH .../network with buildNetworkPatch()'s body: the network as it is after.
  Result<nlohmann::json> updateNetwork(std::string_view id, const nlohmann::json& request);
  // POST .../commands: the result of a foreground command, or a background ProcessInfo.
  Result<nlohmann::json> runCommand(std::string_view id, const nlohmann::json& request);
  // POST .../commands/stream: the events of a new command, until handler is done or the stream
  // ends. Errors before the process starts are API errors.
  Result<void> streamCommand(std::string_view id, const nlohmann::json& request,
                             const EventHandler& handler);
  // GET .../commands/{pid}/stream?follow=...: what the ring buffers hold, then (follow) live.
  Result<void> attachProcess(std::string_view id, int64_t pid, bool follow,
                             const EventHandler& handler);
  // GET .../files/watch: the changes under the directory path as events (start, fs, lost, end),
  // until handler is done or the stream ends. user empty: the daemon's default ("user"). Errors
  // before the watch starts (a missing path, a file, no permission) are API errors.
  Result<void> watchDir(std::string_view id, std::string_view path, bool recursive,
                        std::string_view user, const EventHandler& handler);
  // POST .../ports/{port} {"listen": listen}: the PortForward, with its unix socket and a TCP
  // listener at listen (on the host's loopback).
  Result<nlohmann::json> forwardPort(std::string_view id, int port, const std::string& listen);
  // GET .../ports, unwrapped to the array of PortForward.
  Result<nlohmann::json> listPorts(std::string_view id);
  // DELETE .../ports/{port}: the forward's listeners, connections and socket go.
  Result<void> closePort(std::string_view id, int port);
  // POST .../pty: a ProcessInfo.
  Result<nlohmann::json> startTerminal(std::string_view id, const nlohmann::json& request);
  // GET .../commands, unwrapped to the array of ProcessInfo.
  Result<nlohmann::json> listProcesses(std::string_view id);
  // DELETE .../commands/{pid}: SIGKILL to its process group; succeeds when already finished.
  Result<void> killProcess(std::string_view id, int64_t pid);
  // POST .../commands/{pid}/signal; signal is a name or a number (signalRequestValue()).
  Result<void> signalProcess(std::string_view id, int64_t pid, const nlohmann::json& signal);
  // POST .../commands/{pid}/stdin with the exact bytes (data_base64).
  Result<StdinOutcome> sendStdin(std::string_view id, int64_t pid, std::string_view bytes);
  // DELETE .../commands/{pid}/stdin; succeeds when the process has finished (409).
  Result<void> closeStdin(std::string_view id, int64_t pid);
  // POST .../commands/{pid}/resize.
  Result<void> resizeTerminal(std::string_view id, int64_t pid, TerminalSize size);
  Result<nlohmann::json> fileInfo(std::string_view id, std::string_view path);
  // PUT .../files/raw: streams size bytes from fd; returns the EntryInfo.
  Result<nlohmann::json> uploadFile(std::string_view id, std::string_view path, int fd,
                                    uint64_t size);
  // GET .../files/raw: the bytes go to sink (opened only on success).
  Result<void> downloadFile(std::string_view id, std::string_view path, const BodySink& sink);

  // Small files as a given user (user empty: the daemon's default), in memory: run-code's bridge
  // and the messages it spills to files. fileExists is false for a 404.
  Result<bool> fileExists(std::string_view id, std::string_view path, std::string_view user);
  Result<void> writeFile(std::string_view id, std::string_view path, std::string_view user,
                         std::string_view bytes);
  Result<std::string> readFile(std::string_view id, std::string_view path, std::string_view user);

  // GET /v1/templates, unwrapped to the array of TemplateInfo.
  Result<nlohmann::json> listTemplates();
  Result<nlohmann::json> getTemplate(std::string_view name);
  // getTemplate(), with an unknown template (404) as nullopt instead of an Error.
  Result<std::optional<nlohmann::json>> findTemplate(std::string_view name);
  // PUT /v1/templates/{name}[?replace=true] with archive (an fd body: sized or chunked) as an
  // application/x-tar body: the new TemplateInfo.
  Result<nlohmann::json> importTemplate(std::string_view name, bool replace, RequestBody archive);
  Result<void> deleteTemplate(std::string_view name);
  // GET /v1/templates/{name}/archive: the tar goes to sink (opened only on success).
  Result<void> exportTemplate(std::string_view name, const BodySink& sink);
  // POST .../snapshots with buildSnapshotRequest()'s body: the new TemplateInfo.
  Result<nlohmann::json> snapshotSandbox(std::string_view id, const nlohmann::json& request);

 private:
  Result<nlohmann::json> callJson(std::string_view method, const std::string& target,
                                  const nlohmann::json* request);
  Result<nlohmann::json> checked(Result<HttpResponse> response);
  Result<void> readEvents(std::string_view method, const std::string& target,
                          const nlohmann::json* request, const EventHandler& handler);

  HttpClient http_;
};

}  // namespace declaw::ctl
