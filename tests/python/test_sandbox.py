"""Sandbox lifecycle through the SDK: create (every parameter), connect, list, get_info,
set_timeout, is_running, kill, and the context manager. Resources, metrics, pause and resume:
test_resources.py; internet access and network rules: test_network.py."""
import datetime
import os
import time
import unittest
import uuid
from unittest import mock

from support import SdkTestCase, kill_quietly

import declaw
from declaw import Sandbox, SandboxQuery, SandboxState


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class SandboxLifecycle(SdkTestCase):
    def test_create_sends_every_parameter_and_get_info_reports_them(self):
        tag = uuid.uuid4().hex
        sbx = self.create(template="python", timeout=120, metadata={"run": tag, "ü": "ß"},
                          envs={"GREETING": "hello"}, allow_internet_access=False,
                          api_key="ignored", domain="ignored.example", secure=False,
                          request_timeout=30, socket_path=self.socket)
        self.assertTrue(sbx.sandbox_id.startswith("sbx-"))
        self.assertEqual(sbx.socket_path, self.socket)
        info = sbx.get_info()
        self.assertIsInstance(info, declaw.SandboxInfo)
        self.assertEqual(info.sandbox_id, sbx.sandbox_id)
        self.assertEqual(info.template_id, "python")
        self.assertEqual(info.name, "python")
        self.assertEqual(info.state, SandboxState.RUNNING)
        self.assertEqual(info.state, "running")
        self.assertEqual(info.metadata, {"run": tag, "ü": "ß"})
        self.assertEqual(info.envs, {"GREETING": "hello"})
        self.assertFalse(info.allow_internet_access)
        self.assertEqual(info.owner_uid, 0)
        self.assertEqual(info.started_at.tzinfo, datetime.timezone.utc)
        self.assertAlmostEqual((info.end_at - info.started_at).total_seconds(), 120, delta=2)
        self.assertEqual(sbx.commands.run("echo $GREETING").stdout, "hello\n")
        self.assertEqual(sbx.commands.run("python3 -c 'print(6*7)'").stdout, "42\n")

    def test_create_defaults_to_the_base_template_and_300_seconds(self):
        info = self.create().get_info()
        self.assertEqual(info.template_id, "base")
        self.assertAlmostEqual((info.end_at - info.started_at).total_seconds(), 300, delta=2)
        self.assertEqual(info.metadata, {})
        self.assertEqual(info.envs, {})

    def test_bad_values_are_invalid_arguments(self):
        for spec in ({"template": "no-such-template"}, {"timeout": 10 ** 9},
                     {"envs": {"1BAD NAME": "x"}}):
            with self.subTest(spec=spec), self.assertRaises(declaw.InvalidArgumentException):
                self.create(**spec)

    def test_connect_reaches_a_sandbox_created_elsewhere(self):
        sbx = self.create()
        sbx.files.write("/home/user/note.txt", "from the first handle")
        other = Sandbox.connect(sbx.sandbox_id, api_key="ignored", domain="ignored.example",
                                request_timeout=30, socket_path=self.socket)
        self.assertEqual(other.sandbox_id, sbx.sandbox_id)
        self.assertEqual(other.request_timeout, 30)
        self.assertEqual(other.get_info(request_timeout=10).state, SandboxState.RUNNING)
        self.assertEqual(other.files.read("/home/user/note.txt"), "from the first handle")
        other.commands.run("echo second > /home/user/reply.txt")
        self.assertEqual(sbx.files.read("/home/user/reply.txt"), "second\n")

    def test_connect_with_a_timeout_resets_the_sandbox_timeout(self):
        sbx = self.create(timeout=600)
        Sandbox.connect(sbx.sandbox_id, timeout=30, socket_path=self.socket)
        remaining = (sbx.get_info().end_at - now()).total_seconds()
        self.assertAlmostEqual(remaining, 30, delta=3)

    def test_connect_finds_the_socket_through_DECLAW_SOCKET(self):
        sbx = self.create()
        with mock.patch.dict(os.environ, {"DECLAW_SOCKET": self.socket}):
            other = Sandbox.connect(sbx.sandbox_id)
            self.assertEqual(other.socket_path, self.socket)
            self.assertIn(sbx.sandbox_id, {i.sandbox_id for i in Sandbox.list()})

    def test_connect_to_an_unknown_sandbox_is_not_found(self):
        with self.assertRaises(declaw.NotFoundException) as caught:
            Sandbox.connect("sbx-000000000000", socket_path=self.socket)
        self.assertEqual(caught.exception.sandbox_id, "sbx-000000000000")
        for odd in ("not-an-id", "../health", "x?path=/etc", "sbx-000000000000/files"):
            with self.subTest(sandbox_id=odd), self.assertRaises(declaw.NotFoundException):
                Sandbox.connect(odd, socket_path=self.socket)

    def test_connect_to_a_killed_sandbox_says_it_is_not_running(self):
        sbx = self.create()
        sbx.kill()
        with self.assertRaises(declaw.SandboxNotRunningException) as caught:
            Sandbox.connect(sbx.sandbox_id, socket_path=self.socket)
        self.assertIn("killed", str(caught.exception))

    def test_list_filters_by_metadata_and_state_newest_first(self):
        tag = uuid.uuid4().hex
        first = self.create(metadata={"suite": tag, "n": "1"})
        second = self.create(metadata={"suite": tag, "n": "2"})
        self.create(metadata={"suite": "other"})
        mine = list(Sandbox.list(query=SandboxQuery(metadata={"suite": tag}),
                                 socket_path=self.socket))
        self.assertEqual([i.sandbox_id for i in mine], [second.sandbox_id, first.sandbox_id])
        self.assertTrue(all(isinstance(i, declaw.SandboxInfo) for i in mine))
        both = Sandbox.list(query={"metadata": {"suite": tag, "n": "1"}}, socket_path=self.socket)
        self.assertEqual([i.sandbox_id for i in both], [first.sandbox_id])
        limited = Sandbox.list(query=SandboxQuery(metadata={"suite": tag}), limit=1,
                               next_token=None, api_key="x", domain="y",
                               request_timeout=10, socket_path=self.socket)
        self.assertEqual([i.sandbox_id for i in limited.next_items()], [second.sandbox_id])

        first.kill()
        live = Sandbox.list(query=SandboxQuery(metadata={"suite": tag}), socket_path=self.socket)
        self.assertEqual([i.sandbox_id for i in live], [second.sandbox_id])
        killed = Sandbox.list(query=SandboxQuery(metadata={"suite": tag},
                                                 state=[SandboxState.KILLED]),
                              socket_path=self.socket)
        self.assertEqual([(i.sandbox_id, i.state) for i in killed],
                         [(first.sandbox_id, SandboxState.KILLED)])
        every = Sandbox.list(query=SandboxQuery(metadata={"suite": tag},
                                                state=["running", "killed"]),
                             socket_path=self.socket)
        self.assertEqual(len(list(every)), 2)

    def test_list_matches_metadata_values_with_url_characters_exactly(self):
        odd = {"query": "a&b=c", "sp ace": "ü +%20", "tag": uuid.uuid4().hex}
        sbx = self.create(metadata=odd)
        found = list(Sandbox.list(query=SandboxQuery(metadata=odd), socket_path=self.socket))
        self.assertEqual([i.sandbox_id for i in found], [sbx.sandbox_id])
        self.assertEqual(found[0].metadata, odd)
        near = dict(odd, query="a")
        self.assertEqual(
            list(Sandbox.list(query=SandboxQuery(metadata=near), socket_path=self.socket)), [])

    def test_set_timeout_counts_from_now(self):
        sbx = self.create(timeout=60)
        self.assertIsNone(sbx.set_timeout(900, request_timeout=10))
        remaining = (sbx.get_info().end_at - now()).total_seconds()
        self.assertAlmostEqual(remaining, 900, delta=3)
        with self.assertRaises(declaw.InvalidArgumentException):
            sbx.set_timeout(0)

    def test_a_sandbox_past_its_timeout_is_killed(self):
        sbx = self.create(timeout=1)
        deadline = time.time() + 15
        while sbx.is_running() and time.time() < deadline:
            time.sleep(0.2)
        self.assertFalse(sbx.is_running())
        self.assertEqual(sbx.get_info().state, SandboxState.KILLED)
        with self.assertRaises(declaw.SandboxNotRunningException) as caught:
            sbx.commands.run("true")
        self.assertIn("timeout", str(caught.exception))

    def test_kill_stops_the_sandbox_and_is_idempotent(self):
        sbx = self.create()
        self.assertTrue(sbx.is_running())
        self.assertTrue(sbx.kill())
        self.assertFalse(sbx.is_running())
        self.assertTrue(sbx.kill(request_timeout=10), "killing a killed sandbox is fine")
        with self.assertRaises(declaw.SandboxNotRunningException):
            sbx.files.write("/tmp/x", "y")

    def test_kill_by_id_on_the_class(self):
        a, b = self.create(), self.create()
        self.assertTrue(Sandbox.kill(a.sandbox_id, socket_path=self.socket))
        self.assertTrue(Sandbox.kill_by_id(b.sandbox_id, socket_path=self.socket))
        self.assertFalse(a.is_running())
        self.assertFalse(b.is_running())
        self.assertFalse(Sandbox.kill("sbx-000000000000", socket_path=self.socket))
        self.assertFalse(a.is_running(request_timeout=10))

    def test_is_running_is_false_for_a_sandbox_the_daemon_does_not_know(self):
        self.assertFalse(Sandbox("sbx-000000000000", socket_path=self.socket).is_running())

    def test_with_block_kills_the_sandbox_at_its_end(self):
        with Sandbox.create(allow_internet_access=False, socket_path=self.socket) as sbx:
            self.assertTrue(sbx.is_running())
        self.assertFalse(sbx.is_running())

    def test_with_block_kills_the_sandbox_when_the_block_raises(self):
        with self.assertRaises(KeyError):
            with Sandbox.create(allow_internet_access=False, socket_path=self.socket) as sbx:
                self.addCleanup(kill_quietly, sbx)
                raise KeyError("boom")
        self.assertFalse(sbx.is_running())


if __name__ == "__main__":
    unittest.main()
