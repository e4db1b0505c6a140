// What `declawctl port-forward` parses and prints, kept apart from the requests so the unit tests
// see it: the LISTEN argument as the API's `listen` address, and kubectl's "Forwarding from"
// lines for a PortForward (docs/api.md "Ports").
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace declaw::ctl {

// The listener asked for when LISTEN is not given: any free port on the host's IPv4 loopback.
inline constexpr std::string_view kDefaultListen = "127.0.0.1:0";

// LISTEN as the API's `listen`: "18000" is 127.0.0.1:18000; "HOST:PORT" and "[V6]:PORT" are
// passed on as given once their port is a number 0..65535 (whether HOST is on the host's
// loopback is the daemon's to say: it answers 400 otherwise, in its own words).
Result<std::string> parseListenAddress(std::string_view text);

// "Forwarding from <host> -> <port>\n" for the TCP listener (when it has one), then the same for
// the unix socket, as kubectl port-forward prints its listeners.
std::string forwardingLines(const nlohmann::json& forward);

}  // namespace declaw::ctl
