"""Attacks from a sandbox WITH internet access (tests/security/test_network_on.py), run as `root`
(Docker's capability set: CAP_NET_RAW, no CAP_NET_ADMIN) or as `user`. It prints "attempting",
then one JSON line per attempt, as net_probe.py does:
{"attempt": "...", "ok": true, ...} when the call worked, {"attempt": "...", "ok": false,
"errno": N, "error": "ENAME"} when it failed (a wait with no answer is ETIMEDOUT).

A sendto() that works says only that the packet left the sandbox's socket; whether it got
anywhere is for the test to see at the other end.

usage (WAIT, seconds to wait for an answer, from --wait, default 2):
  inet_probe.py spoof-udp DEST PORT TOKEN SRC...   raw IPv4 (IP_HDRINCL): one UDP datagram
                                                   "TOKEN SRC" to DEST:PORT from each SRC
  inet_probe.py spoof-icmp DEST TOKEN SRC...       the same as ICMP echo requests
  inet_probe.py transparent DEST PORT TOKEN SRC... a UDP socket with IP_TRANSPARENT bound to
                                                   each SRC, sending "TOKEN SRC"
  inet_probe.py bound-udp DEST PORT TOKEN SRC...   a plain UDP socket bound to SRC (no options)
  inet_probe.py packet-sockets                     AF_PACKET sockets, and SOCK_PACKET through
                                                   AF_INET and AF_INET6 (the kernel turns
                                                   AF_INET + SOCK_PACKET into AF_PACKET); with
                                                   64-bit family arguments too. A socket that is
                                                   made sends one Ethernet frame on eth0.
  inet_probe.py ping DEST...                       raw ICMP echo to each DEST; ok when its reply
                                                   came
  inet_probe.py udp DEST PORT HEX                  one datagram; ok when an answer came
  inet_probe.py tcp DEST PORT                      connect; ok when it connected
  inet_probe.py dns SERVER udp|tcp HEX...          each DNS message (hex) to SERVER:53: rcode,
                                                   answer count and the reply (hex)
  inet_probe.py redirect SRC DST TARGET GATEWAY    ICMP host redirect from SRC to DST: "for
                                                   TARGET use GATEWAY"
  inet_probe.py ra IFACE PREFIX                    an ICMPv6 router advertisement to ff02::1 on
                                                   IFACE: default router, PREFIX::/64 on-link
                                                   and autonomous
  inet_probe.py serve-udp PORT LOG                 UDP echo server; appends "SOURCE HEX" to LOG
  inet_probe.py serve-tcp PORT LOG                 TCP server; appends each peer to LOG
"""
import ctypes
import errno
import json
import os
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOCK_PACKET = 10  # not in Python's socket module
SYS_SOCKET = 41  # x86_64
ICMP_ECHO, ICMP_ECHOREPLY, ICMP_REDIRECT = 8, 0, 5
ICMP_REDIRECT_HOST = 1
ND_ROUTER_ADVERT = 134
WAIT = 2.0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def report(attempt, error=None, **fields):
    line = {"attempt": attempt, "ok": error is None, **fields}
    if error is not None:
        number = error.errno if isinstance(error, OSError) and error.errno else errno.ETIMEDOUT
        line.update(errno=number, error=errno.errorcode.get(number, str(number)))
    print(json.dumps(line), flush=True)


def timed_out():
    return OSError(errno.ETIMEDOUT, "no answer")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_header(src, dst, proto, payload_len, ident=0x4242):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def udp_packet(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, length)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    sum_ = checksum(pseudo + header + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, length, sum_) + payload
    return ipv4_header(src, dst, socket.IPPROTO_UDP, len(udp)) + udp


def icmp_message(kind, code, rest, payload):
    head = struct.pack("!BBH", kind, code, 0) + rest
    return struct.pack("!BBH", kind, code, checksum(head + payload)) + rest + payload


def raw_ipv4_socket():
    """IPPROTO_RAW implies IP_HDRINCL: the probe writes the whole IP header, source included."""
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def send_forged(attempt, dest, make_packet, sources):
    try:
        s = raw_ipv4_socket()
    except OSError as e:
        return report("raw socket", e)
    with s:
        for src in sources:
            try:
                s.sendto(make_packet(src), (dest, 0))
                report(attempt, source=src, dest=dest)
            except OSError as e:
                report(attempt, e, source=src, dest=dest)


def spoof_udp(dest, port, token, *sources):
    def packet(src):
        return udp_packet(src, dest, 40000, int(port), f"{token} {src}".encode())
    send_forged("forged udp", dest, packet, sources)


def spoof_icmp(dest, token, *sources):
    def packet(src):
        icmp = icmp_message(ICMP_ECHO, 0, struct.pack("!HH", 0x4242, 1),
                            f"{token} {src}".encode())
        return ipv4_header(src, dest, socket.IPPROTO_ICMP, len(icmp)) + icmp
    send_forged("forged icmp", dest, packet, sources)


def bound_udp(dest, port, token, sources, transparent):
    for src in sources:
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as e:
            report("udp socket", e)
            continue
        with s:
            try:
                if transparent:
                    s.setsockopt(socket.SOL_IP, socket.IP_TRANSPARENT, 1)
                s.bind((src, 0))
            except OSError as e:
                report("bind", e, source=src, transparent=transparent)
                continue
            try:
                s.sendto(f"{token} {src}".encode(), (dest, int(port)))
                report("sendto", source=src, dest=dest, transparent=transparent)
            except OSError as e:
                report("sendto", e, source=src, dest=dest, transparent=transparent)


def transparent(dest, port, token, *sources):
    bound_udp(dest, port, token, sources, True)


def bound(dest, port, token, *sources):
    bound_udp(dest, port, token, sources, False)


def raw_socket_call(family, kind, proto):
    """socket(2) with a 64-bit family argument, past Python's int conversion."""
    fd = _libc.syscall(ctypes.c_long(SYS_SOCKET), ctypes.c_long(family), ctypes.c_long(kind),
                       ctypes.c_long(proto))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def broadcast_frame():
    """An Ethernet broadcast frame carrying an empty IPv4-looking payload: enough to prove that
    a link-layer socket can write onto the wire."""
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", ETH_P_IP) + b"\0" * 46


def send_on_packet_socket(fd, kind):
    """A frame on eth0: sockaddr_pkt for SOCK_PACKET, sockaddr_ll for AF_PACKET."""
    frame = broadcast_frame()
    if kind == SOCK_PACKET:
        address = struct.pack("=H14s", socket.AF_PACKET, b"eth0") + struct.pack("!H", ETH_P_IP)
    else:
        address = struct.pack("=HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_IP),
                              socket.if_nametoindex("eth0"), 0, 0, 6, b"\xff" * 6)
    buf = ctypes.create_string_buffer(frame, len(frame))
    addr = ctypes.create_string_buffer(address, len(address))
    if kind == socket.SOCK_DGRAM:  # the kernel writes the Ethernet header itself
        buf = ctypes.create_string_buffer(frame[14:], len(frame) - 14)
    n = _libc.sendto(fd, buf, len(buf), 0, addr, len(address))
    if n < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return n


def packet_sockets():
    tries = [("AF_PACKET", socket.AF_PACKET, socket.SOCK_RAW),
             ("AF_PACKET", socket.AF_PACKET, socket.SOCK_DGRAM),
             ("AF_PACKET", socket.AF_PACKET, SOCK_PACKET),
             ("AF_INET", socket.AF_INET, SOCK_PACKET),
             ("AF_INET6", socket.AF_INET6, SOCK_PACKET)]
    for name, family, kind in tries:
        for high in (0, 1 << 32):
            fields = {"family": family, "type": kind, "high": hex(high), "name": name}
            try:
                fd = raw_socket_call(high | family, kind, socket.htons(ETH_P_ALL))
            except OSError as e:
                report("socket", e, **fields)
                continue
            report("socket", **fields)
            try:
                sent = send_on_packet_socket(fd, kind)
                report("send frame", bytes=sent, **fields)
            except OSError as e:
                report("send frame", e, **fields)
            finally:
                os.close(fd)


def ping(*dests):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except OSError as e:
        return report("raw icmp socket", e)
    with s:
        for seq, dest in enumerate(dests, 1):
            ident = os.getpid() & 0xFFFF
            token = os.urandom(8)
            s.sendto(icmp_message(ICMP_ECHO, 0, struct.pack("!HH", ident, seq), token), (dest, 0))
            deadline = time.monotonic() + WAIT
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([s], [], [], left)[0]:
                    report("ping", timed_out(), dest=dest)
                    break
                packet, peer = s.recvfrom(65536)
                icmp = packet[(packet[0] & 0x0F) * 4:]
                if icmp[0] == ICMP_ECHOREPLY and icmp[8:16] == token:
                    report("ping", dest=dest, peer=peer[0])
                    break


def udp(dest, port, payload):
    with socket.socket(socket.AF_INET6 if ":" in dest else socket.AF_INET,
                       socket.SOCK_DGRAM) as s:
        s.settimeout(WAIT)
        try:
            s.sendto(bytes.fromhex(payload), (dest, int(port)))
            reply, _ = s.recvfrom(65536)
            report("udp", dest=dest, reply=reply.hex())
        except OSError as e:
            report("udp", e, dest=dest)


def tcp(dest, port):
    family = socket.AF_INET6 if ":" in dest else socket.AF_INET
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError as e:
        return report("socket", e, dest=dest)
    report("socket", dest=dest, family=family)
    with s:
        s.settimeout(WAIT)
        try:
            s.connect(socket.getaddrinfo(dest, int(port), family, socket.SOCK_STREAM)[0][4])
            report("connect", dest=dest)
        except OSError as e:
            report("connect", e, dest=dest)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(errno.ECONNRESET, "closed early")
        data += chunk
    return data


def dns_exchange(server, over_tcp, query):
    if over_tcp:
        with socket.create_connection((server, 53), timeout=WAIT) as s:
            s.sendall(struct.pack("!H", len(query)) + query)
            return recv_exact(s, struct.unpack("!H", recv_exact(s, 2))[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(WAIT)
        s.connect((server, 53))
        s.send(query)
        return s.recv(65536)


def dns(server, transport, *queries):
    for n, query in enumerate(queries):
        try:
            reply = dns_exchange(server, transport == "tcp", bytes.fromhex(query))
            flags, answers = struct.unpack("!H", reply[2:4])[0], struct.unpack("!H", reply[6:8])[0]
            report("dns", index=n, rcode=flags & 0xF, answers=answers, reply=reply.hex())
        except OSError as e:
            report("dns", e, index=n)


def redirect(src, dst, target, gateway):
    """What a router says to a host that sent it a packet for TARGET: the redirect quotes that
    packet's IP header (from DST to TARGET) and 8 bytes of it. The quoted packet is an echo
    reply, which the kernel itself sends: it applies a redirect about one without looking for a
    socket (icmp_err), while one about UDP, TCP or an echo request needs the socket that sent
    it."""
    echo = icmp_message(ICMP_ECHOREPLY, 0, struct.pack("!HH", 0x4242, 1), b"")
    quoted = ipv4_header(dst, target, socket.IPPROTO_ICMP, len(echo)) + echo
    icmp = icmp_message(ICMP_REDIRECT, ICMP_REDIRECT_HOST, socket.inet_aton(gateway), quoted)
    packet = ipv4_header(src, dst, socket.IPPROTO_ICMP, len(icmp)) + icmp
    try:
        with raw_ipv4_socket() as s:
            s.sendto(packet, (dst, 0))
        report("redirect", source=src, dest=dst, target=target, gateway=gateway)
    except OSError as e:
        report("redirect", e, source=src, dest=dst)


def router_advertisement(prefix):
    # Hop limit 64, flags 0, router lifetime 1800 s, reachable 0, retrans 0.
    ra = struct.pack("!BBHBBHII", ND_ROUTER_ADVERT, 0, 0, 64, 0, 1800, 0, 0)
    # Prefix information: type 3, length 4 (32 bytes), /64, on-link and autonomous, lifetimes.
    ra += struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0,
                      socket.inet_pton(socket.AF_INET6, prefix + "::"))
    return ra  # the kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket


def ra(iface, prefix):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except OSError as e:
        return report("raw icmpv6 socket", e)
    with s:
        try:
            index = socket.if_nametoindex(iface)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            s.sendto(router_advertisement(prefix), ("ff02::1", 0, 0, index))
            report("router advertisement", iface=iface)
        except OSError as e:
            report("router advertisement", e, iface=iface)


def append(log, line):
    with open(log, "a") as f:
        f.write(line + "\n")


def serve_udp(port, log):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", int(port)))
        report("serve-udp", port=int(port))
        while True:
            data, peer = s.recvfrom(65536)
            append(log, f"{peer[0]} {data.hex()}")
            s.sendto(data, peer)


def serve_tcp(port, log):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        s.listen(16)
        report("serve-tcp", port=int(port))
        while True:
            conn, peer = s.accept()
            append(log, peer[0])
            conn.close()


OPS = {"spoof-udp": spoof_udp, "spoof-icmp": spoof_icmp, "transparent": transparent,
       "bound-udp": bound, "packet-sockets": packet_sockets, "ping": ping, "udp": udp,
       "tcp": tcp, "dns": dns, "redirect": redirect, "ra": ra, "serve-udp": serve_udp,
       "serve-tcp": serve_tcp}


def main(argv):
    global WAIT
    if len(argv) > 2 and argv[1] == "--wait":
        WAIT = float(argv[2])
        argv = argv[:1] + argv[3:]
    print("attempting", flush=True)
    OPS[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
