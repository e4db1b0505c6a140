"""A small world for tests of the DNS stub and the egress proxy run by netsvc_harness (not by a
daemon), made of network namespaces the test creates (netns.Netns) that vanish with it:

    S "sandbox"  eth0 198.18.0.2/30, 2001:db8:18::2/126, default via the gateway
       |  veth
    H "host"     dcwtest 198.18.0.1 (the gateway); netsvc_harness runs here, and nftables
       |         redirects TCP 80/443 arriving on dcwtest to the proxy port
    I "internet" fake_internet.FakeInternet: HTTP, TLS, DNS on 198.19.0.0/24

No packet leaves these namespaces (the test network rule in DESIGN.md).
"""
from fake_internet import FakeInternet
from netns import Netns, close_all

PROXY_PORT = 3128


class World:
    """host, sandbox (Netns) and internet (FakeInternet); on failure none is left behind."""

    def __init__(self, workdir):
        made = []
        try:
            self.host = Netns()
            made.append(self.host)
            self.sandbox = Netns()
            made.append(self.sandbox)
            _wire_sandbox(self.host, self.sandbox)
            self.internet = FakeInternet(self.host, workdir)
        except BaseException:
            close_all(made)
            raise
        self.dns = self.internet.dns

    def close(self):
        self.internet.close()
        close_all([self.sandbox, self.host])


def _wire_sandbox(host, sandbox):
    h, s = host.run, sandbox.run
    h("ip", "link", "add", "dcwtest", "type", "veth", "peer", "name", "eth0", "netns",
      str(sandbox.pid))
    h("ip", "addr", "add", "198.18.0.1/30", "dev", "dcwtest")
    h("ip", "-6", "addr", "add", "2001:db8:18::1/126", "dev", "dcwtest", "nodad")
    h("ip", "link", "set", "dcwtest", "up")
    h("ip", "route", "add", "198.18.0.4/30", "dev", "dcwtest")  # a stranger's address
    s("ip", "addr", "add", "198.18.0.2/30", "dev", "eth0")
    s("ip", "addr", "add", "198.18.0.6/32", "dev", "eth0")
    s("ip", "-6", "addr", "add", "2001:db8:18::2/126", "dev", "eth0", "nodad")
    s("ip", "link", "set", "eth0", "up")
    s("ip", "route", "add", "default", "via", "198.18.0.1")
    s("ip", "-6", "route", "add", "default", "via", "2001:db8:18::1")
    # What declawd's nat chain does for a sandbox with name rules.
    rules = ("table inet dcwtest {\n chain pre {\n  type nat hook prerouting priority dstnat;\n"
             f'  iifname "dcwtest" tcp dport {{ 80, 443 }} redirect to :{PROXY_PORT}\n }}\n}}\n')
    host.run("nft", "-f", "-", input=rules)
