// Finding what the host offers at the paths the rootfs plan may use (runtime/host_facts.h: the
// only input of the plan besides InitConfig). Unit tests build the facts by hand.
#pragma once

#include "runtime/host_facts.h"

namespace declaw::runtime::init {

// lstat()s every fixed path the plan may ask about, and every entry of the host's /etc (so that
// prefix allow-lists such as "python3*" can be matched). Never follows symlinks.
HostFacts probeHost();

}  // namespace declaw::runtime::init
