"""Network probe, run inside a sandbox with python3: attempts network operations and prints one
JSON line per attempt: {"attempt": "...", "ok": true, ...} if it worked (the attack succeeded),
{"attempt": "...", "ok": false, "errno": N, "error": "ENAME"} if it failed.

It prints "attempting" first, so a test can tell a probe that never got to the attempt (broken
probe) from one that was stopped during it.

usage:
  net_probe.py connect HOST PORT   TCP connect with a 5 s timeout (the attempt is named
                                   "socket" when the socket could not even be made)
  net_probe.py udp HOST PORT       a DNS query for example.com sent over UDP
  net_probe.py ping                the sockets ping uses: raw and datagram ICMP and ICMPv6,
                                   and AF_PACKET for a hand-made echo request
  net_probe.py resolve NAME        getaddrinfo(NAME): {"ok": false, "gai_error": "EAI_..."}
"""
import errno
import json
import socket
import sys

ETH_P_IP = 0x0800
# A DNS query for example.com, type A.
DNS_QUERY = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
PING_SOCKETS = {
    "raw ICMP": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "datagram ICMP": (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
    "raw ICMPv6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
    "datagram ICMPv6": (socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6),
    "AF_PACKET": (socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)),
}
GAI_ERRORS = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}


def report(attempt, error=None, **fields):
    line = {"attempt": attempt, "ok": error is None, **fields}
    if error is not None:
        line.update(errno=error.errno, error=errno.errorcode.get(error.errno, str(error)))
    print(json.dumps(line), flush=True)


def connect(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError as e:
        return report("socket", e, host=host)
    with s:
        s.settimeout(5)
        try:
            s.connect((host, port))
            report("connect", host=host)
        except OSError as e:
            report("connect", e, host=host)


def udp(host, port):
    try:
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as e:
        return report("socket", e, host=host)
    with s:
        try:
            s.sendto(DNS_QUERY, (host, port))
            report("sendto", host=host)
        except OSError as e:
            report("sendto", e, host=host)


def ping():
    for name, (family, kind, proto) in PING_SOCKETS.items():
        try:
            socket.socket(family, kind, proto).close()
            report(name)
        except OSError as e:
            report(name, e)


def resolve(name):
    try:
        addresses = sorted({a[4][0] for a in socket.getaddrinfo(name, 80)})
        report("getaddrinfo", name=name, addresses=addresses)
    except socket.gaierror as e:
        print(json.dumps({"attempt": "getaddrinfo", "name": name, "ok": False,
                          "gai_error": GAI_ERRORS.get(e.errno, str(e.errno))}), flush=True)


def main(argv):
    op = argv[1]
    print("attempting", flush=True)
    if op == "connect":
        connect(argv[2], int(argv[3]))
    elif op == "udp":
        udp(argv[2], int(argv[3]))
    elif op == "ping":
        ping()
    elif op == "resolve":
        resolve(argv[2])
    else:
        raise SystemExit(f"unknown operation {op!r}")


if __name__ == "__main__":
    main(sys.argv)
