// The namespaces every sandbox's init starts in, for the daemon's launcher and init's zygote.
#pragma once

#include <sched.h>

namespace declaw::runtime {

inline constexpr unsigned long kSandboxNamespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
                                                    CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
                                                    CLONE_NEWCGROUP;

}  // namespace declaw::runtime
