"""Shared by the AsyncSandbox tests: one real declawd per test class (as support.SdkTestCase),
each test a coroutine on its own event loop (unittest.IsolatedAsyncioTestCase). Sandboxes made
with self.create() are killed after the test, and the loop's connections are closed before
the loop ends."""
import unittest

from support import Daemon, declaw  # noqa: F401  (support puts clients/python on the path)

from declaw import AsyncSandbox


class AsyncSdkTestCase(unittest.IsolatedAsyncioTestCase):
    daemon_config = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(cls.daemon_config)
        cls.socket = cls.daemon.socket

    @classmethod
    def tearDownClass(cls):
        declaw.reset_transports()
        cls.daemon.stop()

    async def asyncSetUp(self):
        self._sandboxes = []

    async def asyncTearDown(self):
        for sbx in self._sandboxes:
            try:
                await sbx.kill()
            except declaw.SandboxException:
                pass
        await declaw.reset_async_transports()

    async def create(self, **spec):
        spec.setdefault("allow_internet_access", False)
        spec.setdefault("socket_path", self.socket)
        sbx = await AsyncSandbox.create(**spec)
        self._sandboxes.append(sbx)
        return sbx
