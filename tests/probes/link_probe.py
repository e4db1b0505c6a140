"""Hard links from inside a sandbox to files that are not the sandbox's own (the host's /usr,
bound read-only; host device nodes bound into /dev; host /etc directories): a link on the
writable root would be a name the sandbox controls for a host inode, writable wherever the
inode's permissions allow.

usage: link_probe.py SOURCE DEST [SOURCE DEST ...]
For each pair, link(SOURCE, DEST), then linkat through an O_PATH fd of SOURCE with
AT_EMPTY_PATH, then linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW (the two ways to link an
open file). One JSON line per attempt: {"attempt": "...", "source": S, "dest": D, "ok": bool,
"errno": N, "error": "ENAME"}. A link that was made is removed again.
"""
import ctypes
import errno
import json
import os
import sys

AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000

libc = ctypes.CDLL(None, use_errno=True)


def linkat(olddirfd, oldpath, newpath, flags):
    if libc.linkat(olddirfd, oldpath.encode(), AT_FDCWD, newpath.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def attempt(name, source, dest, action):
    line = {"attempt": name, "source": source, "dest": dest, "ok": True}
    try:
        action()
        os.unlink(dest)
    except OSError as e:
        line.update(ok=False, errno=e.errno, error=errno.errorcode.get(e.errno, str(e)))
    print(json.dumps(line), flush=True)


def main(argv):
    pairs = argv[1:]
    for source, dest in zip(pairs[0::2], pairs[1::2]):
        attempt("link", source, dest, lambda: os.link(source, dest, follow_symlinks=False))
        fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
        try:
            attempt("linkat AT_EMPTY_PATH", source, dest,
                    lambda: linkat(fd, "", dest, AT_EMPTY_PATH))
            attempt("linkat /proc/self/fd AT_SYMLINK_FOLLOW", source, dest,
                    lambda: linkat(AT_FDCWD, f"/proc/self/fd/{fd}", dest, AT_SYMLINK_FOLLOW))
        finally:
            os.close(fd)


if __name__ == "__main__":
    main(sys.argv)
