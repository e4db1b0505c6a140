"""Walks the sandbox's whole filesystem (not following symlinks, skipping /proc, whose entries
are per process) and reports every Unix socket file found: a host socket bound or copied into
the sandbox would be a way to talk to a host service (docker.sock, the declaw API, D-Bus).

usage: fs_sockets_probe.py
Prints {"socket": PATH, "dev": D, "ino": I} per socket file, then {"walked": N, "errors": E}
(N entries looked at; E directories that could not be listed, e.g. root-only ones for `user`).
"""
import json
import os
import stat
import sys


def main():
    walked = 0
    errors = 0

    def onerror(_):
        nonlocal errors
        errors += 1

    for top, dirs, files in os.walk("/", onerror=onerror):
        if top == "/":
            dirs[:] = [d for d in dirs if d != "proc"]
        for name in dirs + files:
            path = os.path.join(top, name)
            walked += 1
            try:
                st = os.lstat(path)
            except OSError:
                errors += 1
                continue
            if stat.S_ISSOCK(st.st_mode):
                print(json.dumps({"socket": path, "dev": st.st_dev, "ino": st.st_ino}),
                      flush=True)
    print(json.dumps({"walked": walked, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
