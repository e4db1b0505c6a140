"""declawd under systemd (Type=notify): what it tells the service manager over NOTIFY_SOCKET.
The test plays systemd: it binds the datagram socket, starts the real daemon with NOTIFY_SOCKET
and WATCHDOG_USEC in its environment, and reads what arrives: READY=1 only once the API socket
answers, STATUS= with the live count, WATCHDOG=1 pings at half the watchdog interval, and
STOPPING=1 at SIGTERM. Without NOTIFY_SOCKET the daemon sends nothing (every other test)."""
import os
import socket
import tempfile
import time
import unittest

from harness import Client, Daemon
from support import wait_for

WATCHDOG_USEC = 400_000  # pings every 200 ms


class NotifySocket:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="declaw-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class SystemdNotifyTest(unittest.TestCase):

    def test_ready_status_watchdog_and_stopping(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        d = Daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
        stopped = False
        try:
            # READY=1 came, and only after the socket answered: the harness's first successful
            # GET /v1/health is what Daemon() waits for, and READY is sent after accepting
            # starts, so a client that waits for READY never finds the socket missing.
            self.assertTrue(wait_for(lambda: any("READY=1" in m for m in notify.drain()), 10),
                            notify.messages)
            ready = next(m for m in notify.messages if "READY=1" in m)
            self.assertIn("STATUS=0 sandboxes running", ready)
            self.assertEqual(Client(d.socket).request("GET", "/v1/health").status, 200)

            sbx = d.client.create(timeout=60)
            self.assertTrue(wait_for(lambda: any("STATUS=1 sandbox running" in m
                                                 for m in notify.drain()), 10), notify.messages)
            d.client.kill(sbx)

            # Watchdog pings, several within a second (every 200 ms).
            notify.messages.clear()
            time.sleep(1.2)
            pings = [m for m in notify.drain() if "WATCHDOG=1" in m]
            self.assertGreaterEqual(len(pings), 3, notify.messages)
            self.assertLessEqual(len(pings), 12, notify.messages)

            d.stop()
            stopped = True
            self.assertTrue(any("STOPPING=1" in m for m in notify.drain()), notify.messages)
        finally:
            if not stopped:
                d.stop()

    def test_without_a_watchdog_only_status_updates(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        d = Daemon(env={"NOTIFY_SOCKET": notify.path})
        try:
            self.assertTrue(wait_for(lambda: any("READY=1" in m for m in notify.drain()), 10))
            self.assertFalse(any("WATCHDOG=1" in m for m in notify.messages))
        finally:
            d.stop()
        self.assertTrue(any("STOPPING=1" in m for m in notify.drain()), notify.messages)


if __name__ == "__main__":
    unittest.main()
