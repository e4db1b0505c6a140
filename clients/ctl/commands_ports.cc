// `declawctl port-forward ID PORT [LISTEN]`: a port of a sandbox's loopback, reachable from the
// host for as long as declawctl runs (docs/api.md "Ports"), as `kubectl port-forward` does it.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/port_forward_format.h"

namespace declaw::ctl {
namespace {

// How often declawctl asks whether the forward (and so the sandbox) is still there.
constexpr std::chrono::milliseconds kPollInterval{1000};

// Waits up to kPollInterval; true once SIGINT or SIGTERM came.
bool waitForInterrupt() {
  pollfd fds[1] = {{interruptWakeFd(), POLLIN, 0}};
  const int timeout_ms = static_cast<int>(kPollInterval.count());
  if (::poll(fds, 1, timeout_ms) < 0 && errno != EINTR) return g_interrupted != 0;
  return g_interrupted != 0;
}

// Whether the forward of port is still listed; an Error (the sandbox is gone: 404) says why not.
Result<bool> stillForwarded(ApiClient& api, const std::string& id, int port) {
  auto ports = api.listPorts(id);
  if (!ports) return ports.error();
  for (const auto& forward : *ports) {
    if (forward.is_object() && forward.value("port", 0) == port) return true;
  }
  return false;
}

// Why the forward went away by itself: the sandbox's state when it has ended, else a DELETE from
// someone else.
std::string endedReason(ApiClient& api, const std::string& id, int port) {
  auto info = api.getSandbox(id);
  if (info && info->is_object()) {
    const std::string state = info->value("state", std::string());
    if (state != "running" && state != "paused") {
      return "sandbox " + id + " ended (" + state + "); the forward of port " +
             std::to_string(port) + " is gone";
    }
  }
  return "the forward of port " + std::to_string(port) + " was ended (DELETE .../ports/" +
         std::to_string(port) + ")";
}

}  // namespace

int cmdPortForward(const GlobalOptions& global, const std::string& id, int port,
                   const std::string& listen) {
  // Installed before the forward exists, so a Ctrl-C right after the POST still removes it.
  installInterruptHandlers();
  ApiClient api(global.socket_path);
  auto forward = api.forwardPort(id, port, listen);
  if (!forward) return reportError(forward.error());
  auto printed =
      writeFully(STDOUT_FILENO, global.json ? forward->dump() + "\n" : forwardingLines(*forward));
  if (!printed) {
    (void)api.closePort(id, port);
    return reportError(printed.error());
  }
  while (!waitForInterrupt()) {
    auto alive = stillForwarded(api, id, port);
    if (g_interrupted != 0) break;
    if (!alive) return reportError(PlainError() << "the forward ended: " << alive.error().message);
    if (!*alive) return reportError(PlainError() << endedReason(api, id, port));
  }
  // Ctrl-C is how a forward is meant to end (kubectl exits 0 then too).
  if (auto closed = api.closePort(id, port); !closed) return reportError(closed.error());
  return 0;
}

}  // namespace declaw::ctl
