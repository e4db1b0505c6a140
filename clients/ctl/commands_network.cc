// `declawctl network`: a sandbox's egress rules, shown or changed.
#include <iostream>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/network_format.h"

namespace declaw::ctl {

int cmdNetwork(const GlobalOptions& global, const std::string& id, const NetworkUpdate& update) {
  ApiClient api(global.socket_path);
  auto network =
      update.empty() ? api.getNetwork(id) : api.updateNetwork(id, buildNetworkPatch(update));
  if (!network) return reportError(network.error());
  if (global.json) {
    printJson(*network);
  } else {
    std::cout << formatNetwork(*network);
  }
  return 0;
}

}  // namespace declaw::ctl
