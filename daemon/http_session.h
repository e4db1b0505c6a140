// One HTTP/1.1 connection, served on its own thread with blocking reads that time out. The
// request handling itself is api::Router's; this file only moves bytes, and is the one place
// that includes Beast's HTTP headers.
#pragma once

#include "api/router.h"

namespace declaw::daemon {

// Serves requests until the client closes, a limit or timeout is hit, or stop is requested.
void serveConnection(int socket, const api::Caller& caller, api::Router& router);

}  // namespace declaw::daemon
