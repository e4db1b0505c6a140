"""Ports through the SDK (sbx.get_host, get_port_socket, close_port, list_ports) against a real
daemon: an HTTP server on 127.0.0.1 inside a sandbox with loopback_inet (no internet access)
answers from the host over the forward's unix socket and over its loopback TCP listener, the
async client asks for several at once, a sandbox without inet sockets is refused by name, and
forwards end with close_port() and with the sandbox.

The test daemon runs in a network namespace of its own (harness.Daemon), so its TCP listeners
are on that namespace's loopback: the TCP checks connect from a thread inside it
(daemon.netns.call). Unix sockets are files, reached from anywhere on the host."""
import asyncio
import http.client
import os
import socket
import stat
import unittest

from async_support import AsyncSdkTestCase
from support import SdkTestCase, declaw, eventually

SITE = "/tmp/site"
SERVE = "python3 -m http.server {port} --bind 127.0.0.1 --directory " + SITE


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket, as `curl --unix-socket PATH http://x/`."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def http_get(connection, path="/"):
    """(status, body) of GET PATH; None when the connection closed before an answer (the
    forward closes it at once while nothing listens inside)."""
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    except (http.client.RemoteDisconnected, ConnectionError):
        return None
    finally:
        connection.close()


def get_over_unix(path, url="/"):
    return http_get(UnixHTTPConnection(path), url)


def get_over_tcp(host, url="/"):
    address, port = host.rsplit(":", 1)
    return http_get(http.client.HTTPConnection(address, int(port), timeout=10), url)


def tcp_connect(host):
    """Connects to HOST ("127.0.0.1:N") and closes; raises ConnectionRefusedError when nothing
    listens there."""
    address, port = host.rsplit(":", 1)
    socket.create_connection((address, int(port)), timeout=10).close()


def write_site(files):
    files.make_dir(SITE)
    files.write(SITE + "/hello.txt", "hello from inside\n")


class Ports(SdkTestCase):
    def serving(self, *ports):
        """A python sandbox with loopback TCP and an http.server on each of PORTS, answering
        through the forward's unix socket before this returns."""
        sbx = self.create(template="python", network={"loopback_inet": True})
        write_site(sbx.files)
        for port in ports:
            sbx.commands.run(SERVE.format(port=port), background=True)
            path = sbx.get_port_socket(port)
            eventually(lambda: get_over_unix(path), what=f"http.server on {port} answering")
        return sbx

    def test_get_host_is_a_loopback_address_that_reaches_the_server_inside(self):
        sbx = self.serving(8000)
        host = sbx.get_host(8000)
        address, port = host.rsplit(":", 1)
        self.assertEqual(address, "127.0.0.1")
        self.assertGreater(int(port), 0)
        status, body = self.daemon.netns.call(get_over_tcp, host, "/hello.txt")
        self.assertEqual((status, body), (200, "hello from inside\n"))
        # Asking again is the same listener.
        self.assertEqual(sbx.get_host(8000), host)

    def test_the_port_socket_serves_http_and_is_the_owners(self):
        sbx = self.serving(8000)
        path = sbx.get_port_socket(8000)
        self.assertEqual(sbx.get_port_socket(8000), path)
        self.assertTrue(path.endswith(f"/{sbx.sandbox_id}/8000.sock"), path)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        status, body = get_over_unix(path)
        self.assertEqual(status, 200)
        self.assertIn("Directory listing", body)
        self.assertIn("hello.txt", body)

    def test_list_ports_and_close_port(self):
        sbx = self.serving(8000)
        self.assertEqual(sbx.list_ports(), [declaw.PortForward(
            port=8000, unix_socket=sbx.get_port_socket(8000), host=None)])
        host = sbx.get_host(8000)
        [forward] = sbx.list_ports()
        self.assertEqual(forward.host, host)
        self.assertTrue(sbx.close_port(8000))
        self.assertFalse(os.path.exists(forward.unix_socket))
        self.assertRaises(ConnectionRefusedError, self.daemon.netns.call, tcp_connect, host)
        self.assertEqual(sbx.list_ports(), [])
        # Not forwarded (any more): False, as kill() of an unknown sandbox.
        self.assertFalse(sbx.close_port(8000))
        self.assertFalse(sbx.close_port(8123))
        # It can be forwarded again.
        self.assertEqual(get_over_unix(sbx.get_port_socket(8000))[0], 200)

    def test_forwards_end_with_the_sandbox(self):
        sbx = self.serving(8000)
        path = sbx.get_port_socket(8000)
        host = sbx.get_host(8000)
        sbx.kill()
        self.assertFalse(os.path.exists(path))
        self.assertRaises(ConnectionRefusedError, self.daemon.netns.call, tcp_connect, host)
        with self.assertRaises(declaw.SandboxException):
            sbx.get_port_socket(8000)

    def test_a_sandbox_without_inet_sockets_is_refused_by_name(self):
        sbx = self.create()
        for ask in (sbx.get_host, sbx.get_port_socket):
            with self.subTest(ask=ask.__name__):
                with self.assertRaises(declaw.ConflictException) as caught:
                    ask(8000)
                self.assertIn("loopback_inet", str(caught.exception))

    def test_bad_ports_and_unknown_sandboxes(self):
        sbx = self.create(network={"loopback_inet": True})
        for bad in (0, 65536, -1, "8000", True, None):
            with self.subTest(port=bad):
                with self.assertRaises(declaw.InvalidArgumentException):
                    sbx.get_port_socket(bad)
        gone = declaw.Sandbox("sbx-000000000000", socket_path=self.socket)
        for ask in (gone.get_host, gone.get_port_socket, gone.close_port):
            with self.subTest(ask=ask.__name__):
                with self.assertRaises(declaw.SandboxNotFoundException):
                    ask(8000)


class AsyncPorts(AsyncSdkTestCase):
    async def test_several_ports_at_once(self):
        sbx = await self.create(template="python", network={"loopback_inet": True})
        await sbx.files.make_dir(SITE)
        await sbx.files.write(SITE + "/hello.txt", "hello from inside\n")
        ports = (8000, 8001, 8002)
        await asyncio.gather(*(sbx.commands.run(SERVE.format(port=p), background=True)
                               for p in ports))
        paths = await asyncio.gather(*(sbx.get_port_socket(p) for p in ports))
        self.assertEqual(len(set(paths)), len(ports))
        # The blocking HTTP clients run in threads: the loop stays free.
        await asyncio.gather(*(asyncio.to_thread(eventually, lambda p=path: get_over_unix(p),
                                                 what="http.server answering")
                               for path in paths))
        hosts = await asyncio.gather(*(sbx.get_host(p) for p in ports))
        self.assertEqual(len(set(hosts)), len(ports))
        answers = await asyncio.gather(*(
            asyncio.to_thread(self.daemon.netns.call, get_over_tcp, host, "/hello.txt")
            for host in hosts))
        self.assertEqual(answers, [(200, "hello from inside\n")] * len(ports))
        listed = await sbx.list_ports()
        self.assertEqual(sorted((f.port, f.unix_socket, f.host) for f in listed),
                         list(zip(ports, paths, hosts)))
        self.assertEqual(await asyncio.gather(*(sbx.close_port(p) for p in ports)),
                         [True] * len(ports))
        self.assertFalse(await sbx.close_port(8000))
        self.assertEqual(await sbx.list_ports(), [])

    async def test_a_sandbox_without_inet_sockets_is_refused_by_name(self):
        sbx = await self.create()
        with self.assertRaises(declaw.ConflictException) as caught:
            await sbx.get_host(8000)
        self.assertIn("loopback_inet", str(caught.exception))

    async def test_forwards_end_with_the_sandbox(self):
        sbx = await self.create(template="python", network={"loopback_inet": True})
        path = await sbx.get_port_socket(8000)
        self.assertTrue(os.path.exists(path))
        await sbx.kill()
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
