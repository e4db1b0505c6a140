/* A real 32-bit (i386) program, static and without a C library, for tests/probes/abi.c: it
 * attempts socketcall(SYS_SOCKET, AF_INET), the i386 socket() syscall, getpid(), write() and
 * exit_group() through int $0x80. Under a filter that refuses the i386 ABI every call fails,
 * exit_group included, and the program ends on ud2 (SIGILL); its tracer (abi.c) reads each
 * system call's number and result with PTRACE_GET_SYSCALL_INFO, since this program cannot
 * print anything itself. On a host that runs it unfiltered it writes a line and exits 0.
 *
 * Built with -m32 -nostdlib -static -ffreestanding: no headers, so the numbers are spelled out
 * (arch/x86/entry/syscalls/syscall_32.tbl). */
enum {
  kNrWrite = 4,
  kNrGetpid = 20,
  kNrSocketcall = 102,
  kNrExitGroup = 252,
  kNrSocket = 359,
  kSysSocket = 1, /* socketcall's call number for socket() */
  kAfInet = 2,
  kSockStream = 1,
};

static long int80(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

void _start(void) {
  static unsigned long socket_args[3] = {kAfInet, kSockStream, 0};
  static const char line[] = "i386 write went through\n";
  int80(kNrSocketcall, kSysSocket, (long)socket_args, 0);
  int80(kNrSocket, kAfInet, kSockStream, 0);
  int80(kNrGetpid, 0, 0, 0);
  int80(kNrWrite, 1, (long)line, sizeof line - 1);
  int80(kNrExitGroup, 0, 0, 0);
  for (;;) __asm__ volatile("ud2");
}
