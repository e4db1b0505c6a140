"""Network probe, run inside a sandbox with python3: attempts one network operation and prints a
JSON verdict on its last line: {"ok": true} if the operation worked (the attack succeeded),
{"ok": false, "errno": N, "error": "..."} if it failed.

It prints "attempting" first, so a test can tell a probe that never got to the attempt (broken
probe) from one that seccomp killed during it.

usage:
  net_probe.py socket FAMILY TYPE PROTO    raw socket(2) via syscall(), numbers (0x.. allowed)
  net_probe.py connect HOST PORT           TCP connect with a 5 s timeout
  net_probe.py io_uring                    io_uring_setup(8, &params)
  net_probe.py x32_socket                  socket(AF_INET, SOCK_STREAM) through the x32 ABI
"""
import ctypes
import errno
import json
import socket
import sys

NR_SOCKET = 41
NR_CLOSE = 3
NR_IO_URING_SETUP = 425
X32_SYSCALL_BIT = 0x40000000
IO_URING_PARAMS_SIZE = 120

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def syscall(nr, *args):
    # Every argument as a full 64-bit long: a plain int would leave the upper half of the
    # register undefined, which matters for the 0x100000002 family test.
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[a if isinstance(a, ctypes.Array) else ctypes.c_long(a)
                                            for a in args])
    return ret, ctypes.get_errno()


def verdict(ret, err):
    if ret >= 0:
        syscall(NR_CLOSE, ret)
        return {"ok": True, "ret": ret}
    return {"ok": False, "errno": err, "error": errno.errorcode.get(err, str(err))}


def main(argv):
    op = argv[1]
    print("attempting", flush=True)
    if op == "socket":
        family, kind, proto = (int(a, 0) for a in argv[2:5])
        result = verdict(*syscall(NR_SOCKET, family, kind, proto))
    elif op == "x32_socket":
        result = verdict(*syscall(X32_SYSCALL_BIT | NR_SOCKET, socket.AF_INET,
                                  socket.SOCK_STREAM, 0))
    elif op == "io_uring":
        params = ctypes.create_string_buffer(IO_URING_PARAMS_SIZE)
        result = verdict(*syscall(NR_IO_URING_SETUP, 8, params))
    elif op == "connect":
        host, port = argv[2], int(argv[3])
        try:
            with socket.create_connection((host, port), timeout=5):
                result = {"ok": True}
        except OSError as e:
            result = {"ok": False, "errno": e.errno, "error": f"{type(e).__name__}: {e}"}
    else:
        raise SystemExit(f"unknown operation {op!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
