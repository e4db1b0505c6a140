// The sandbox's network namespace holds only `lo`, created down; this brings it up.
#pragma once

#include "common/result.h"

namespace declaw::runtime::init {

// SIOCGIFFLAGS/SIOCSIFFLAGS with IFF_UP on an AF_INET datagram socket (netdevice(7)). Needs
// CAP_NET_ADMIN over the network namespace, which namespace root of its owning user ns has.
Result<void> bringUpLoopback();

}  // namespace declaw::runtime::init
