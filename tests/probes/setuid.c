/* Run from a setuid-root (or file-capability) copy of itself, by the sandbox's `user`: what did
 * the exec grant? no_new_privs and the nosuid mounts must have made it grant nothing.
 *
 * Prints {"attempt": "credentials", "ruid": R, "euid": E, "suid": S, "egid": G,
 * "cap_effective": "0x...", "cap_permitted": "0x..."} and then tries to become root anyway:
 * setuid(0), setresuid(0, 0, 0), setgid(0), setgroups({0}) and capset of every capability,
 * one JSON line each (probe.h). */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  probeStart();
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  syscall(SYS_capget, &header, data);
  const uint64_t effective = (uint64_t)data[1].effective << 32 | data[0].effective;
  const uint64_t permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
  printf(
      "{\"attempt\": \"credentials\", \"ruid\": %u, \"euid\": %u, \"suid\": %u, \"egid\": %u, "
      "\"cap_effective\": \"0x%llx\", \"cap_permitted\": \"0x%llx\"}\n",
      ruid, euid, suid, egid, (unsigned long long)effective, (unsigned long long)permitted);
  fflush(stdout);
  PROBE_ATTEMPT("setuid 0", NULL, setuid(0));
  PROBE_ATTEMPT("setresuid 0 0 0", NULL, setresuid(0, 0, 0));
  PROBE_ATTEMPT("setgid 0", NULL, setgid(0));
  const gid_t root_group[] = {0};
  PROBE_ATTEMPT("setgroups 0", NULL, setgroups(1, root_group));
  for (int i = 0; i < 2; ++i) {
    data[i].effective = data[i].permitted = data[i].inheritable = 0xffffffff;
  }
  PROBE_ATTEMPT("capset all", NULL, syscall(SYS_capset, &header, data));
  return 0;
}
