// A classic BPF interpreter for seccomp programs, so tests can ask "what would the kernel do
// with this syscall?" without installing the filter. It follows the kernel's rules for seccomp
// filters (kernel/seccomp.c seccomp_check_filter, net/core/filter.c bpf_check_classic): loads
// only from struct seccomp_data, 32-bit aligned; jumps only forward and inside the program; the
// program must end in a return.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <ostream>
#include <span>
#include <vector>

#include "common/result.h"

namespace declaw::testing {

// A seccomp verdict that prints as ALLOW, ERRNO(EACCES), KILL_PROCESS... in test failures.
struct Action {
  uint32_t raw;
  bool operator==(const Action&) const = default;
};
std::ostream& operator<<(std::ostream& out, Action action);

inline constexpr Action kAllow{SECCOMP_RET_ALLOW};
constexpr Action errnoAction(int error) {
  return Action{SECCOMP_RET_ERRNO | static_cast<uint32_t>(error)};
}

// Reinterprets exported bytes (as from buildSeccompProgram) as instructions.
std::vector<sock_filter> toInstructions(std::span<const uint8_t> bytes);

// Checks the program as the kernel would on install: length, opcodes, jump targets, loads.
Result<void> checkSeccompProgram(std::span<const sock_filter> program);

// Runs the program over one syscall and returns its 32-bit verdict (SECCOMP_RET_* | data).
// A malformed program is an error rather than a verdict.
Result<uint32_t> evalSeccomp(std::span<const sock_filter> program, const seccomp_data& data);

}  // namespace declaw::testing
