#!/usr/bin/env python3
"""Writes the binary seeds of fuzz/corpus/: DNS queries, TLS ClientHellos and HTTP request heads
(fuzz_sniff; fuzz_netsvc gets them too, with upstream DNS responses), and daemon<->init packets
(fuzz_protocol). The files are committed; rerun this after
changing the wire formats. The ClientHellos are those of tests/unit/netpolicy_tls_samples.h."""

import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    for t in [target] + (["fuzz_netsvc"] if target == "fuzz_sniff" else []):
        path = CORPUS / t / name
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


def dns_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"


def rr(owner, rtype, rdata, ttl=300):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def upstream_response(qtype, answers, rcode=0, tc=False, qid=0x1234, name="example.test"):
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    out = struct.pack(">HHHHHH", qid, flags, 1, len(answers), 0, 0)
    out += dns_name(name) + struct.pack(">HH", qtype, 1)
    return out + b"".join(answers)


def netsvc_seeds():
    # Answers to the query fuzz_netsvc checks against: id 0x1234, example.test, A or AAAA.
    q = b"\xc0\x0c"  # a pointer to the question's name
    write("fuzz_netsvc", "upstream-a", upstream_response(
        1, [rr(q, 1, bytes([93, 184, 216, 34])), rr(q, 1, bytes([169, 254, 169, 254]), ttl=5)]))
    write("fuzz_netsvc", "upstream-aaaa", upstream_response(
        28, [rr(q, 28, bytes.fromhex("20010db8000000000000000000000010"))]))
    cname = dns_name("cdn.example.net")
    write("fuzz_netsvc", "upstream-cname", upstream_response(
        1, [rr(q, 5, cname), rr(dns_name("cdn.example.net"), 1, bytes([198, 18, 0, 10]))]))
    write("fuzz_netsvc", "upstream-nxdomain", upstream_response(1, [], rcode=3))
    write("fuzz_netsvc", "upstream-truncated",
          upstream_response(1, [rr(q, 1, bytes([93, 184, 216, 34]))], tc=True)[:-3])
    write("fuzz_netsvc", "resolv-conf", b"# generated\nnameserver 192.0.2.53\n"
          b"nameserver 2001:db8::53 # v6\nnameserver fe80::1%eth0\nsearch example.test\n")
    write("fuzz_netsvc", "socket-address", b"[2001:db8::1]:5353")


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
    config = (u8(1) + s("sbx-0123456789ab") + s("sbx-0123456789ab") + s("base") + u64(1 << 30) +
              u32(1000) + u32(1000) + s(bpf))
    write("fuzz_protocol", "config", config + u8(0))
    write("fuzz_protocol", "config-network",
          config + u8(1) + s("eth0") + s("198.18.0.2") + u32(30) + s("198.18.0.1") +
          s("198.18.0.1") + s("fd00:dc::2") + u32(126) + s("fd00:dc::1"))
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
    netsvc_seeds()
    protocol_seeds()
