"""Connects to Unix sockets by name: paths ("/run/declaw/declaw.sock") and abstract names
("@name": the abstract namespace belongs to the network namespace, so a host listener's name
must lead nowhere from a sandbox). For an abstract name a datagram is also sent.

usage: unix_connect_probe.py NAME...
One JSON line per attempt: {"attempt": "connect"|"sendto", "name": NAME, "ok": bool,
"errno": N, "error": "ENAME"}.
"""
import errno
import json
import socket
import sys


def address(name):
    return "\0" + name[1:] if name.startswith("@") else name


def attempt(kind, name, action):
    line = {"attempt": kind, "name": name, "ok": True}
    try:
        action()
    except OSError as e:
        line.update(ok=False, errno=e.errno, error=errno.errorcode.get(e.errno, str(e)))
    print(json.dumps(line), flush=True)


def connect(name):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(address(name))


def send(name):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"declaw probe", address(name))


def main(argv):
    print("attempting", flush=True)
    for name in argv[1:]:
        attempt("connect", name, lambda: connect(name))
        if name.startswith("@"):
            attempt("sendto", name, lambda: send(name))


if __name__ == "__main__":
    main(sys.argv)
