#!/usr/bin/env python3
"""Writes the binary seeds of fuzz/corpus/: DNS queries, TLS ClientHellos and HTTP request heads
(fuzz_sniff), and daemon<->init packets (fuzz_protocol). The files are committed; rerun this after
changing the wire formats. The ClientHellos are those of tests/unit/netpolicy_tls_samples.h."""

import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- fuzz_sniff ---------------------------------------------------------------------------------


def dns_query(name, qtype=1, rd=True, edns=False, qid=0x1234):
    flags = 0x0100 if rd else 0
    out = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    for label in name.split(".") if name else []:
        out += bytes([len(label)]) + label.encode()
    out += b"\0" + struct.pack(">HH", qtype, 1)
    if edns:  # OPT: root name, type 41, UDP size 1232, no options
        out += b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return out


def tls_samples():
    header = (HERE.parent / "tests/unit/netpolicy_tls_samples.h").read_text()
    samples = {}
    for name, body in re.findall(r"constexpr const char\* (\w+) =\s*((?:\"[0-9a-f]*\"\s*)+);",
                                 header):
        samples[name] = bytes.fromhex("".join(re.findall(r"\"([0-9a-f]*)\"", body)))
    return samples


def sniff_seeds():
    write("fuzz_sniff", "dns-a", dns_query("Example.COM"))
    write("fuzz_sniff", "dns-aaaa-edns", dns_query("api.example.test", qtype=28, edns=True))
    write("fuzz_sniff", "dns-srv", dns_query("_http._tcp.example.test", qtype=33, rd=False))
    write("fuzz_sniff", "dns-root", dns_query("", qtype=2))
    for name, hello in tls_samples().items():
        write("fuzz_sniff", "tls-" + name[len("kClientHello"):].lower(), hello)
        # The same ClientHello split over two records.
        body = hello[5:]
        cut = len(body) // 2
        split = (hello[:3] + struct.pack(">H", cut) + body[:cut] + hello[:3] +
                 struct.pack(">H", len(body) - cut) + body[cut:])
        write("fuzz_sniff", "tls-split-" + name[len("kClientHello"):].lower(), split)
    write("fuzz_sniff", "http-get", b"GET /x HTTP/1.1\r\nHost: Example.COM:8080\r\nAccept: */*\r\n\r\n")
    write("fuzz_sniff", "http-absolute",
          b"GET http://a.example.test/p?q HTTP/1.1\r\nhost: a.example.test\r\n\r\nbody")
    write("fuzz_sniff", "http-connect", b"CONNECT [2001:db8::1]:443 HTTP/1.1\n\n")
    write("fuzz_sniff", "http-no-host", b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")


# --- fuzz_protocol ------------------------------------------------------------------------------
# runtime/protocol.h: a type byte, then fields in host (little-endian) order; strings are a u32
# length and the bytes; string lists a u32 count and the strings.


def u8(v):
    return struct.pack("<B", v)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def s(v):
    v = v.encode() if isinstance(v, str) else v
    return u32(len(v)) + v


def strs(items):
    return u32(len(items)) + b"".join(s(i) for i in items)


def entry(name, path, etype, size, mode, mtime, target=""):
    return s(name) + s(path) + u8(etype) + u64(size) + u32(mode) + u32(1000) + u32(1000) + \
        u64(mtime) + s(target)


def protocol_seeds():
    bpf = bytes(range(16))  # two sock_filter entries
    write("fuzz_protocol", "config",
          u8(1) + s("sbx-0123456789ab") + s("sbx-0123456789ab") + s("base") + u64(1 << 30) +
          u32(1000) + u32(1000) + s(bpf))
    write("fuzz_protocol", "spawn",
          u8(2) + u64(7) + strs(["/bin/bash", "-l", "-c", "echo hi"]) +
          strs(["HOME=/home/user", "PATH=/usr/bin"]) + s("/home/user") + u32(1000) + u32(1000) +
          u8(0) + u8(1) + u32(24) + u32(80))
    write("fuzz_protocol", "signal", u8(3) + u64(8) + u32(42) + u32(15) + u8(1))
    write("fuzz_protocol", "fileop-rename",
          u8(4) + u64(9) + u8(7) + s("/tmp/a") + s("/tmp/b") + u32(1000) + u32(1000) + u32(1) +
          u32(0o644))
    write("fuzz_protocol", "ready", u8(10))
    write("fuzz_protocol", "setup-failed", u8(11) + u32(1) + s("mount /proc"))
    stat = entry("x", "/tmp/x", 3, 6, 0o777, 1700000000, "/etc/passwd")
    write("fuzz_protocol", "reply-stat", u8(12) + u64(9) + u32(0) + s("") + u64(0) + s(stat))
    write("fuzz_protocol", "reply-error", u8(12) + u64(10) + u32(2) + s("open /nope") + u64(0) + s(""))
    write("fuzz_protocol", "exited", u8(13) + u32(42) + u32(0x0900))
    write("fuzz_protocol", "entries",
          u32(2) + entry("a", "/home/user/a", 1, 10, 0o644, 0) +
          entry("d", "/home/user/d", 2, 4096, 0o755, -1))


if __name__ == "__main__":
    sniff_seeds()
    protocol_seeds()
