"""Access probe, run inside a sandbox with python3: tries to open or list each path given and
prints one JSON object per line: {"path": P, "op": OP, "ok": bool, "errno": N, "error": "..."}.

usage: open_probe.py OP PATH...   with OP one of
  open      open(PATH, O_RDONLY) (nothing is read: /proc/PID/mem at offset 0 would fail to read
            even when the open, which is the attack, worked)
  openw     open(PATH, O_WRONLY) (nothing is written)
  rewrite   read PATH, then open it O_WRONLY and write the same bytes back: a real write that
            would change nothing if it got through (for host tunables such as core_pattern)
  read      open(PATH, O_RDONLY) and read up to 4 KiB
  list      os.listdir(PATH)
  readlink  os.readlink(PATH)
"""
import errno
import json
import os
import sys


def attempt(op, path):
    if op == "open":
        os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    elif op == "read":
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.read(fd, 4096)
        finally:
            os.close(fd)
    elif op == "openw":
        os.close(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
    elif op == "rewrite":
        with open(path, "rb") as f:
            content = f.read()
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
    elif op == "list":
        os.listdir(path)
    elif op == "readlink":
        os.readlink(path)
    else:
        raise SystemExit(f"unknown operation {op!r}")


def main(argv):
    op = argv[1]
    for path in argv[2:]:
        result = {"path": path, "op": op, "ok": True}
        try:
            attempt(op, path)
        except OSError as e:
            result.update(ok=False, errno=e.errno, error=errno.errorcode.get(e.errno, str(e)))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
