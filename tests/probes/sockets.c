/* socket() for every address family 0..45 and every socket type, socket(AF_NETLINK) for every
 * netlink protocol 0..31, and socketpair() for every family, each with the family (and the
 * netlink protocol) as given, with bit 32 set, and with the whole upper half set.
 *
 * The kernel reads the family as an int: 0x100000002 is AF_INET to it. A seccomp filter that
 * compares all 64 bits of arg0 lets such a call through. Every attempt is one JSON line
 * (probe.h) with "family", "type", "protocol" and "high" (the upper bits, as a hex string); a
 * socket that was created is closed again at once. */
#define _GNU_SOURCE /* strerrorname_np, MAP_32BIT, ... */
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static const uint64_t kHighBits[] = {0, UINT64_C(1) << 32, UINT64_C(0xffffffff00000000)};
static const int kTypes[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET};
enum { kLastFamily = 45, kLastNetlinkProtocol = 31 };

static void trySocket(uint64_t family, uint64_t type, uint64_t protocol, uint64_t high) {
  char args[160];
  snprintf(args, sizeof args,
           "\"family\": %u, \"type\": %u, \"protocol\": %u, \"high\": \"0x%llx\"", (unsigned)family,
           (unsigned)type, (unsigned)protocol, (unsigned long long)high);
  errno = 0;
  const long fd = syscall(SYS_socket, high | family, type, protocol);
  probeReport("socket", args, fd, errno);
  if (fd >= 0) close((int)fd);
}

int main(void) {
  probeStart();
  for (uint64_t family = 0; family <= kLastFamily; ++family) {
    for (size_t t = 0; t < sizeof kTypes / sizeof kTypes[0]; ++t) {
      for (size_t h = 0; h < sizeof kHighBits / sizeof kHighBits[0]; ++h) {
        trySocket(family, (uint64_t)kTypes[t], 0, kHighBits[h]);
      }
    }
  }
  /* The protocol is arg2; the high bits go on it as well as on the family. */
  for (uint64_t protocol = 0; protocol <= kLastNetlinkProtocol; ++protocol) {
    for (size_t h = 0; h < sizeof kHighBits / sizeof kHighBits[0]; ++h) {
      trySocket(AF_NETLINK, SOCK_RAW, kHighBits[h] | protocol, kHighBits[h]);
    }
  }
  for (uint64_t family = 0; family <= kLastFamily; ++family) {
    for (size_t h = 0; h < sizeof kHighBits / sizeof kHighBits[0]; ++h) {
      char args[120];
      snprintf(args, sizeof args, "\"family\": %u, \"type\": %d, \"high\": \"0x%llx\"",
               (unsigned)family, SOCK_STREAM, (unsigned long long)kHighBits[h]);
      int pair[2] = {-1, -1};
      errno = 0;
      const long ret = syscall(SYS_socketpair, kHighBits[h] | family, SOCK_STREAM, 0, pair);
      probeReport("socketpair", args, ret, errno);
      if (ret == 0) {
        close(pair[0]);
        close(pair[1]);
      }
    }
  }
  return 0;
}
