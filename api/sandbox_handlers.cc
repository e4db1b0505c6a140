// Handlers of /v1/health, /v1/sandboxes[/{id}[/timeout|/network|/pause|...]] and
// /v1/sandboxes/{id}/commands.
#include "api/handlers.h"
#include "api/json_fields.h"
#include "api/list_paging.h"
#include "api/network_wire.h"
#include "api/resource_wire.h"
#include "api/wire.h"

namespace declaw::api {

nlohmann::json bodyOf(const Context& ctx, bool empty_is_object) {
  return parseJsonObject(ctx.request.body, ctx.limits.max_json_body_bytes, empty_is_object);
}

Response noContent() {
  Response response;
  response.status = kStatusNoContent;
  response.content_type.clear();
  return response;
}

Response getHealth(const Context& ctx) {
  return jsonResponse(kStatusOk, toJson(ctx.services.health(), ctx.limits));
}

Response listSandboxes(const Context& ctx) {
  const ListQuery query = parseListQuery(ctx.query);
  const ListPage page = pageSandboxes(ctx.services.listSandboxes(ctx.caller), query);
  nlohmann::json sandboxes = nlohmann::json::array();
  for (const SandboxInfo& sandbox : page.sandboxes) sandboxes.push_back(toJson(sandbox));
  return jsonResponse(kStatusOk, {{"sandboxes", sandboxes},
                                  {"next_token", page.next_token ? nlohmann::json(*page.next_token)
                                                                 : nlohmann::json(nullptr)}});
}

Response createSandbox(const Context& ctx) {
  const CreateSandboxSpec spec = parseCreateSandboxSpec(bodyOf(ctx, true), ctx.limits);
  return jsonResponse(kStatusCreated, toJson(unwrap(ctx.services.createSandbox(ctx.caller, spec))));
}

Response getSandbox(const Context& ctx) {
  return jsonResponse(kStatusOk,
                      toJson(unwrap(ctx.services.getSandbox(ctx.caller, ctx.sandbox_id))));
}

Response killSandbox(const Context& ctx) {
  unwrap(ctx.services.killSandbox(ctx.caller, ctx.sandbox_id));
  return noContent();
}

Response setSandboxTimeout(const Context& ctx) {
  const uint32_t timeout_s = parseTimeoutUpdate(bodyOf(ctx), ctx.limits);
  return jsonResponse(
      kStatusOk, toJson(unwrap(ctx.services.setTimeout(ctx.caller, ctx.sandbox_id, timeout_s))));
}

Response getSandboxNetwork(const Context& ctx) {
  return jsonResponse(kStatusOk,
                      networkView(unwrap(ctx.services.getSandbox(ctx.caller, ctx.sandbox_id))));
}

Response updateSandboxNetwork(const Context& ctx) {
  const NetworkUpdate update = parseNetworkUpdate(bodyOf(ctx));
  return jsonResponse(
      kStatusOk,
      networkView(unwrap(ctx.services.updateNetwork(ctx.caller, ctx.sandbox_id, update))));
}

Response pauseSandbox(const Context& ctx) {
  return jsonResponse(kStatusOk,
                      toJson(unwrap(ctx.services.pauseSandbox(ctx.caller, ctx.sandbox_id))));
}

Response resumeSandbox(const Context& ctx) {
  return jsonResponse(kStatusOk,
                      toJson(unwrap(ctx.services.resumeSandbox(ctx.caller, ctx.sandbox_id))));
}

Response sandboxMetrics(const Context& ctx) {
  return jsonResponse(kStatusOk,
                      toJson(unwrap(ctx.services.sandboxMetrics(ctx.caller, ctx.sandbox_id))));
}

Response sandboxMetricsHistory(const Context& ctx) {
  const MetricsRange range = parseMetricsRange(ctx.query);
  nlohmann::json samples = nlohmann::json::array();
  for (const SandboxMetrics& sample :
       unwrap(ctx.services.sandboxMetricsHistory(ctx.caller, ctx.sandbox_id, range))) {
    samples.push_back(toJson(sample));
  }
  return jsonResponse(kStatusOk, {{"metrics", samples}});
}

Response daemonMetrics(const Context& ctx) {
  Response response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = prometheusText(ctx.services.daemonMetrics());
  return response;
}

Response runCommand(const Context& ctx) {
  const nlohmann::json body = bodyOf(ctx);
  if (boolField(body, "background").value_or(false)) return startBackground(ctx, body);
  const RunSpec spec = parseRunSpec(body, ctx.limits);
  return jsonResponse(kStatusOk,
                      toJson(unwrap(ctx.services.runCommand(ctx.caller, ctx.sandbox_id, spec))));
}

}  // namespace declaw::api
