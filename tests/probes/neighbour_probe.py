"""Looks for another sandbox from inside this one. The other sandbox (the test's "neighbour")
put TOKEN everywhere it could: in file names under /tmp, /home/user, /var/tmp, /dev/shm and
/run, in the command line and environment of a running process (other than this one and its
parents, which name TOKEN too), in System V IPC objects with
the key KEY, and as the abstract Unix socket "@TOKEN" and the path socket /tmp/TOKEN.sock.

usage: neighbour_probe.py TOKEN KEY
One JSON line per attempt: {"attempt": "...", "ok": bool, ...}. ok means the neighbour was
found: file names and processes list what matched ("found": [...]); the IPC and socket attempts
report the errno of the refusal.
"""
import ctypes
import errno
import json
import os
import socket
import sys

IPC_GETTERS = ("shmget", "msgget", "semget")
SEARCHED_DIRS = ("/tmp", "/home", "/var/tmp", "/dev/shm", "/run", "/root")

libc = ctypes.CDLL(None, use_errno=True)


def report(attempt, ok, **fields):
    print(json.dumps({"attempt": attempt, "ok": ok, **fields}), flush=True)


def failed(attempt, e, **fields):
    report(attempt, False, errno=e.errno, error=errno.errorcode.get(e.errno, str(e)), **fields)


def file_names(token):
    found = []
    for top in SEARCHED_DIRS:
        for root, dirs, files in os.walk(top):
            found += [os.path.join(root, n) for n in dirs + files if token in n]
    report("file names", bool(found), found=found)


def ancestry():
    """This process and its parents: their command lines name the token too."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(str(pid))
        status = open(f"/proc/{pid}/status").read()
        pid = int(status.split("PPid:")[1].split()[0])
    return pids


def processes(token):
    found = []
    mine = ancestry()
    for pid in set(filter(str.isdigit, os.listdir("/proc"))) - mine:
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    if token.encode() in f.read():
                        found.append(f"{pid}/{what}")
            except OSError:
                pass
    report("processes", bool(found), found=found)


def ipc(key):
    for getter in IPC_GETTERS:
        fn = getattr(libc, getter)
        args = (key, 0, 0) if getter != "msgget" else (key, 0)
        ctypes.set_errno(0)
        ident = fn(*args)
        if ident >= 0:
            report(getter, True, id=ident)
        else:
            failed(getter, OSError(ctypes.get_errno(), ""))


def sockets(token):
    for name, addr in (("@" + token, "\0" + token), (f"/tmp/{token}.sock", f"/tmp/{token}.sock")):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(addr)
            report("connect", True, name=name)
        except OSError as e:
            failed("connect", e, name=name)


def main(argv):
    token, key = argv[1], int(argv[2], 0)
    print("attempting", flush=True)
    file_names(token)
    processes(token)
    ipc(key)
    sockets(token)


if __name__ == "__main__":
    main(sys.argv)
