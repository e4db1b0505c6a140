"""Swap-race probe, run inside a sandbox with python3: for SECONDS, atomically exchanges DIR/d and
DIR/other with renameat2(RENAME_EXCHANGE) as fast as it can, so that DIR/d is a real directory
one instant and a symlink out of the sandbox the next. A file API that checks a path and then
opens it (instead of resolving and opening in one step, inside the root) would be tricked into
following the symlink on the host.

usage: swap_probe.py DIR SECONDS    prints {"swaps": N, "errno": E} (E non-zero if it had to stop)
"""
import ctypes
import json
import os
import sys
import time

AT_FDCWD = -100
RENAME_EXCHANGE = 2

libc = ctypes.CDLL(None, use_errno=True)


def main(argv):
    directory, seconds = argv[1], float(argv[2])
    os.chdir(directory)
    swaps, err = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            if libc.renameat2(AT_FDCWD, b"d", AT_FDCWD, b"other", RENAME_EXCHANGE) != 0:
                err = ctypes.get_errno()
                break
            swaps += 1
        if err:
            break
    if swaps % 2:  # leave d as it was found
        libc.renameat2(AT_FDCWD, b"d", AT_FDCWD, b"other", RENAME_EXCHANGE)
    print(json.dumps({"swaps": swaps, "errno": err}), flush=True)


if __name__ == "__main__":
    main(sys.argv)
