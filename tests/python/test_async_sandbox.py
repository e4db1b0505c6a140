"""AsyncSandbox's lifecycle against a real daemon: create, connect, list, get_info,
set_timeout, get_metrics, pause and resume, kill (instance and class forms), `async with`,
the NotFoundException subclasses, and the hosted SDKs' options declaw does not implement.
Commands: test_async_commands.py; files: test_async_files.py."""
import datetime
import unittest
import uuid
import warnings

from async_support import AsyncSdkTestCase

import declaw
from declaw import AsyncSandbox, SandboxQuery, SandboxState

UNKNOWN_ID = "sbx-000000000000"


def seconds_left(info):
    return (info.end_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()


class AsyncSandboxLifecycle(AsyncSdkTestCase):
    async def test_create_returns_a_running_sandbox_with_what_was_asked(self):
        tag = uuid.uuid4().hex
        sbx = await self.create(template="python", timeout=120, metadata={"run": tag},
                                envs={"GREETING": "hello"})
        self.assertIsInstance(sbx, AsyncSandbox)
        self.assertTrue(sbx.sandbox_id.startswith("sbx-"))
        self.assertEqual(sbx.socket_path, self.socket)
        info = await sbx.get_info()
        self.assertIsInstance(info, declaw.SandboxInfo)
        self.assertEqual((info.template_id, info.state, info.metadata, info.envs),
                         ("python", SandboxState.RUNNING, {"run": tag}, {"GREETING": "hello"}))
        self.assertFalse(info.allow_internet_access)
        self.assertAlmostEqual((info.end_at - info.started_at).total_seconds(), 120, delta=2)
        self.assertTrue(await sbx.is_running())

    async def test_the_class_forms_take_a_sandbox_id(self):
        sbx = await self.create()
        info = await AsyncSandbox.get_info(sbx.sandbox_id, socket_path=self.socket)
        self.assertEqual(info.sandbox_id, sbx.sandbox_id)
        metrics = await AsyncSandbox.get_metrics(sbx.sandbox_id, socket_path=self.socket)
        self.assertIsInstance(metrics[-1], declaw.SandboxMetrics)
        self.assertTrue(await AsyncSandbox.kill(sbx.sandbox_id, socket_path=self.socket))
        self.assertFalse(await sbx.is_running())
        self.assertFalse(await AsyncSandbox.kill_by_id(UNKNOWN_ID, socket_path=self.socket))

    async def test_connect_reaches_a_sandbox_and_resets_its_timeout(self):
        sbx = await self.create(timeout=600)
        await sbx.files.write("/home/user/note.txt", "from the first handle")
        other = await AsyncSandbox.connect(sbx.sandbox_id, timeout=30, socket_path=self.socket)
        self.assertEqual(other.sandbox_id, sbx.sandbox_id)
        self.assertEqual(await other.files.read("/home/user/note.txt"), "from the first handle")
        self.assertAlmostEqual(seconds_left(await sbx.get_info()), 30, delta=3)

    async def test_list_filters_by_metadata_and_state(self):
        tag = uuid.uuid4().hex
        first = await self.create(metadata={"run": tag})
        second = await self.create(metadata={"run": tag})
        await self.create(metadata={"run": "other"})
        listed = await AsyncSandbox.list(query=SandboxQuery(metadata={"run": tag}),
                                         socket_path=self.socket)
        self.assertEqual({i.sandbox_id for i in listed}, {first.sandbox_id, second.sandbox_id})
        page = await AsyncSandbox.list(query={"metadata": {"run": tag}}, limit=1,
                                       socket_path=self.socket).next_items()
        self.assertEqual(len(page), 1)
        await second.kill()
        killed = await AsyncSandbox.list(
            query=SandboxQuery(metadata={"run": tag}, state=[SandboxState.KILLED]),
            socket_path=self.socket)
        self.assertEqual([i.sandbox_id for i in killed], [second.sandbox_id])

    async def test_set_timeout_moves_the_end(self):
        sbx = await self.create(timeout=600)
        self.assertIsNone(await sbx.set_timeout(45))
        self.assertAlmostEqual(seconds_left(await sbx.get_info()), 45, delta=3)

    async def test_metrics_pause_and_resume(self):
        sbx = await self.create(timeout=600)
        metrics = await sbx.get_metrics()
        self.assertGreater(metrics.mem_total, 0)
        self.assertGreaterEqual(metrics.pids, 0)
        paused = await sbx.pause()
        self.assertEqual(paused.state, SandboxState.PAUSED)
        self.assertFalse(await sbx.is_running())
        with self.assertRaises(declaw.ConflictException) as caught:
            await sbx.commands.run("true")
        self.assertIn("paused", str(caught.exception))
        resumed = await sbx.resume(timeout=120)
        self.assertEqual(resumed.state, SandboxState.RUNNING)
        self.assertAlmostEqual(seconds_left(resumed), 120, delta=3)
        self.assertEqual((await sbx.commands.run("echo back")).stdout, "back\n")

    async def test_connect_resumes_a_paused_sandbox(self):
        sbx = await self.create()
        await sbx.pause()
        await AsyncSandbox.connect(sbx.sandbox_id, socket_path=self.socket)
        self.assertEqual((await sbx.get_info()).state, SandboxState.RUNNING)

    async def test_async_with_kills_the_sandbox_also_when_the_block_raises(self):
        async with await AsyncSandbox.create(allow_internet_access=False,
                                             socket_path=self.socket) as sbx:
            self.assertTrue(await sbx.is_running())
        self.assertEqual((await sbx.get_info()).state, SandboxState.KILLED)
        with self.assertRaises(RuntimeError):
            async with await AsyncSandbox.create(allow_internet_access=False,
                                                 socket_path=self.socket) as other:
                raise RuntimeError("the block failed")
        self.assertEqual((await other.get_info()).state, SandboxState.KILLED)

    async def test_a_killed_sandbox_is_not_running_and_cannot_be_connected_to(self):
        sbx = await self.create()
        self.assertTrue(await sbx.kill())
        self.assertTrue(await sbx.kill())
        with self.assertRaises(declaw.SandboxNotRunningException):
            await AsyncSandbox.connect(sbx.sandbox_id, socket_path=self.socket)
        with self.assertRaises(declaw.SandboxNotRunningException):
            await sbx.commands.run("true")


class AsyncNotFound(AsyncSdkTestCase):
    async def test_an_unknown_sandbox_id_is_SandboxNotFoundException(self):
        for call in (lambda: AsyncSandbox.connect(UNKNOWN_ID, socket_path=self.socket),
                     lambda: AsyncSandbox.get_info(UNKNOWN_ID, socket_path=self.socket),
                     lambda: AsyncSandbox(UNKNOWN_ID, socket_path=self.socket).get_metrics(),
                     lambda: AsyncSandbox(UNKNOWN_ID, socket_path=self.socket).commands.run("true"),
                     lambda: AsyncSandbox(UNKNOWN_ID, socket_path=self.socket).files.read("/x"),
                     lambda: AsyncSandbox.connect("not-an-id", socket_path=self.socket)):
            with self.assertRaises(declaw.SandboxNotFoundException) as caught:
                await call()
            self.assertIsInstance(caught.exception, declaw.NotFoundException)
            self.assertNotIsInstance(caught.exception, declaw.FileNotFoundException)
            self.assertEqual(caught.exception.status, 404)

    async def test_the_blocking_client_says_the_same(self):
        with self.assertRaises(declaw.SandboxNotFoundException):
            declaw.Sandbox.connect(UNKNOWN_ID, socket_path=self.socket)
        self.assertFalse(declaw.Sandbox.kill(UNKNOWN_ID, socket_path=self.socket))

    async def test_without_a_daemon_it_is_ConnectionException(self):
        with self.assertRaises(declaw.ConnectionException) as caught:
            await AsyncSandbox.create(socket_path=self.daemon.dir + "/no-such.sock")
        self.assertIn("cannot reach declawd at", str(caught.exception))
        self.assertIsInstance(caught.exception, ConnectionError)


class HostedOptions(AsyncSdkTestCase):
    """Options of the hosted SDKs that declaw does not implement: refused where ignoring them
    would change the sandbox, warned about where they only concern the hosted connection;
    never a bare TypeError. The blocking client behaves the same."""

    REFUSED = {"security": {"pii": {"enabled": True}}, "vault_refs": {"TOKEN": "vault://x"},
               "volumes": [{"name": "data", "path": "/data"}], "mcp": {"github": {}},
               "auto_pause": True}
    IGNORED = {"debug": True, "proxy": "http://proxy:3128", "headers": {"X-A": "b"},
               "access_token": "t"}

    async def test_behaviour_changing_options_are_not_implemented_and_make_no_sandbox(self):
        before = await AsyncSandbox.list(socket_path=self.socket)
        for name, value in self.REFUSED.items():
            for client in (AsyncSandbox, declaw.Sandbox):
                with self.subTest(option=name, client=client.__name__):
                    with self.assertRaises(declaw.NotImplementedException) as caught:
                        outcome = client.create(allow_internet_access=False,
                                                socket_path=self.socket, **{name: value})
                        if client is AsyncSandbox:
                            await outcome
                    self.assertIn(f"({name}=...) is not available in declaw",
                                  str(caught.exception))
                    self.assertIsInstance(caught.exception, NotImplementedError)
        self.assertEqual(await AsyncSandbox.list(socket_path=self.socket), before)

    async def test_asking_for_none_of_it_is_fine(self):
        sbx = await self.create(security=None, vault_refs={}, volumes=[], auto_pause=False)
        self.assertTrue(await sbx.is_running())

    async def test_connection_options_are_ignored_with_a_warning(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sbx = await self.create(api_key="k", domain="d.example", secure=False,
                                    **self.IGNORED)
            other = await AsyncSandbox.connect(sbx.sandbox_id, debug=True,
                                               socket_path=self.socket)
            blocking = declaw.Sandbox.create(allow_internet_access=False,
                                             socket_path=self.socket, proxy="http://p:1")
            blocking.kill()
        self.assertTrue(await other.is_running())
        messages = [str(w.message) for w in caught
                    if issubclass(w.category, declaw.HostedOptionWarning)]
        for name in self.IGNORED:
            self.assertIn(f"AsyncSandbox.create({name}=...) is ignored", " ".join(messages))
        self.assertIn("AsyncSandbox.connect(debug=...) is ignored", " ".join(messages))
        self.assertIn("Sandbox.create(proxy=...) is ignored", " ".join(messages))
        self.assertFalse(any("api_key" in m or "domain" in m for m in messages))

    async def test_a_name_no_hosted_sdk_has_is_still_a_TypeError_naming_it(self):
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'tempalte'"):
            await AsyncSandbox.create(tempalte="python", socket_path=self.socket)
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'tempalte'"):
            declaw.Sandbox.create(tempalte="python", socket_path=self.socket)


if __name__ == "__main__":
    unittest.main()
