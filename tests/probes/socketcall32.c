/* Tries to create an AF_INET socket through the i386 system call ABI (int $0x80) of a 64-bit
 * process: once with socketcall(SYS_SOCKET) and once with the i386 socket() syscall (359).
 *
 * A seccomp filter written for x86_64 numbers alone would not see these calls (i386 numbers
 * differ, and socketcall hides the family in memory), so declaw's filter must refuse non-native
 * ABIs outright. Prints "attempting" before the calls, so a caller can tell a probe that never ran
 * from one that seccomp killed, then one JSON line: {"socketcall": RET, "socket": RET}. A return
 * value >= 0 is a socket: the attack worked. Exit 0 if both failed, 1 if either worked. */
#define _GNU_SOURCE /* MAP_32BIT */
#include <stdio.h>
#include <sys/mman.h>

static long int80(long nr, long a, long b, long c) {
  long ret;
  /* The kernel zeroes r8-r11 on return from int $0x80 in 64-bit mode. */
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c)
                   : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

int main(void) {
  /* socketcall takes a pointer to its arguments; an i386 call can only pass 32-bit pointers. */
  unsigned int *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (args == MAP_FAILED) {
    perror("mmap MAP_32BIT");
    return 2;
  }
  args[0] = 2; /* AF_INET */
  args[1] = 1; /* SOCK_STREAM */
  args[2] = 0;
  printf("attempting\n");
  fflush(stdout);
  const long via_socketcall = int80(102 /* __NR_socketcall */, 1 /* SYS_SOCKET */, (long)args, 0);
  const long via_socket = int80(359 /* i386 __NR_socket */, 2, 1, 0);
  printf("{\"socketcall\": %ld, \"socket\": %ld}\n", via_socketcall, via_socket);
  return via_socketcall >= 0 || via_socket >= 0 ? 1 : 0;
}
