// Handlers of /v1/sandboxes/{id}/ports[/{port}] (docs/api.md "Ports"): a sandbox's port,
// forwarded from a unix socket on the host and, when asked, a TCP listener on the host's
// loopback.
#include "api/handlers.h"
#include "api/json_fields.h"
#include "api/wire.h"

namespace declaw::api {

namespace {

constexpr std::string_view kDefaultListen = "127.0.0.1:0";
constexpr size_t kMaxPortDigits = 5;
constexpr unsigned long kMaxPort = 65535;

uint16_t portOf(const Context& ctx) {
  const std::string& text = ctx.name;
  const bool digits = !text.empty() && text.size() <= kMaxPortDigits &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  const unsigned long port = digits ? std::stoul(text) : 0;
  if (port < 1 || port > kMaxPort) {
    throw badRequest("port '" + text.substr(0, kMaxPortDigits + 1) + "' must be 1..65535");
  }
  return static_cast<uint16_t>(port);
}

nlohmann::json toJson(const PortInfo& info) {
  return {{"port", info.port},
          {"unix_socket", info.unix_socket},
          {"host", info.host ? nlohmann::json(*info.host) : nlohmann::json(nullptr)}};
}

}  // namespace

Response getPort(const Context& ctx) {
  const uint16_t port = portOf(ctx);
  return jsonResponse(
      kStatusOk,
      toJson(unwrap(ctx.services.forwardPort(ctx.caller, ctx.sandbox_id, port, std::nullopt))));
}

Response openPort(const Context& ctx) {
  const uint16_t port = portOf(ctx);
  const nlohmann::json body = bodyOf(ctx, true);
  const std::string listen = stringField(body, "listen").value_or(std::string(kDefaultListen));
  return jsonResponse(
      kStatusOk,
      toJson(unwrap(ctx.services.forwardPort(ctx.caller, ctx.sandbox_id, port, listen))));
}

Response closePort(const Context& ctx) {
  const uint16_t port = portOf(ctx);
  unwrap(ctx.services.closePort(ctx.caller, ctx.sandbox_id, port));
  return noContent();
}

Response listPorts(const Context& ctx) {
  nlohmann::json ports = nlohmann::json::array();
  for (const PortInfo& info : unwrap(ctx.services.listPorts(ctx.caller, ctx.sandbox_id))) {
    ports.push_back(toJson(info));
  }
  return jsonResponse(kStatusOk, {{"ports", ports}});
}

}  // namespace declaw::api
