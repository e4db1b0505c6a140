#include "runtime/init/hardening.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <cstring>

namespace declaw::runtime::init {

Result<void> setNotDumpable() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ErrnoError() << "prctl(PR_SET_DUMPABLE)";
  return {};
}

Result<void> installSeccomp(const std::vector<uint8_t>& bpf) {
  const size_t count = bpf.size() / sizeof(sock_filter);
  if (bpf.empty() || bpf.size() % sizeof(sock_filter) != 0 || count > BPF_MAXINSNS) {
    return ErrnoError(EINVAL) << "seccomp filter is empty or malformed (" << bpf.size()
                              << " bytes)";
  }
  // Copied into properly aligned storage: the bytes came off the wire.
  std::vector<sock_filter> program(count);
  std::memcpy(program.data(), bpf.data(), bpf.size());
  sock_fprog prog{static_cast<unsigned short>(count), program.data()};
  // Without CAP_SYS_ADMIN in the initial namespace, a filter can only be installed under
  // no_new_privs (seccomp(2)); it also keeps setuid binaries from gaining anything.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return ErrnoError() << "prctl(PR_SET_NO_NEW_PRIVS)";
  }
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    return ErrnoError() << "prctl(PR_SET_SECCOMP)";
  }
  return {};
}

}  // namespace declaw::runtime::init
