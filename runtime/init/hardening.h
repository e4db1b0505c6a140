// Process-wide hardening of declaw-init itself, applied last in setup.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.h"

namespace declaw::runtime::init {

// PR_SET_DUMPABLE 0: sandbox code, even namespace root without CAP_SYS_PTRACE, can then neither
// ptrace init nor open /proc/1/exe, /proc/1/mem or /proc/1/fd (the CVE-2019-5736 family):
// ptrace access mode checks require the target to be dumpable (ptrace(2), "Ptrace access mode
// checking"; proc(5), /proc/pid/ entries of non-dumpable processes).
Result<void> setNotDumpable();

// PR_SET_NO_NEW_PRIVS, then the daemon-built classic BPF program (struct sock_filter[]) with
// PR_SET_SECCOMP/SECCOMP_MODE_FILTER (seccomp(2)). Inherited by every process init starts.
// An empty or malformed program is refused (EINVAL): the sandbox never runs without seccomp.
Result<void> installSeccomp(const std::vector<uint8_t>& bpf);

}  // namespace declaw::runtime::init
