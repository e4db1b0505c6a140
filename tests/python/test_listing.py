"""Sandbox.list() and AsyncSandbox.list() as the hosted SDKs' paginators (has_next,
next_token, next_items) against a real daemon, while sandboxes are killed between pages; the
ways code written for the earlier list() keeps working; and get_metrics(start=, end=) as a list
of the samples the daemon keeps, sync and async."""
import datetime
import time
import unittest
import uuid

from async_support import AsyncSdkTestCase
from support import SdkTestCase

import declaw
from declaw import AsyncSandbox, Sandbox, SandboxQuery, SandboxState

HISTORY = {"interval_s": 1, "keep_s": 60}


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class SyncListing(SdkTestCase):
    daemon_config = {"max_sandboxes": 16, "metrics_history": HISTORY}

    def mine(self, tag, **kw):
        return Sandbox.list(query=SandboxQuery(metadata={"t": tag}, **kw), limit=2,
                            socket_path=self.socket)

    def test_paging_through_more_sandboxes_than_a_page_with_kills_in_between(self):
        tag = uuid.uuid4().hex
        made = [self.create(metadata={"t": tag}) for _ in range(5)]
        paginator = self.mine(tag)
        self.assertIsInstance(paginator, declaw.SandboxPaginator)
        self.assertTrue(paginator.has_next)
        self.assertIsNone(paginator.next_token)
        first = paginator.next_items()
        self.assertEqual([i.sandbox_id for i in first], [made[4].sandbox_id, made[3].sandbox_id])
        self.assertTrue(paginator.has_next)
        self.assertIsInstance(paginator.next_token, str)
        made[2].kill()
        seen = [i.sandbox_id for i in first]
        while paginator.has_next:
            seen += [i.sandbox_id for i in paginator.next_items()]
        self.assertEqual(seen, [made[n].sandbox_id for n in (4, 3, 1, 0)])
        self.assertIsNone(paginator.next_token)
        with self.assertRaises(declaw.SandboxException):
            paginator.next_items()

    def test_a_paginator_goes_on_from_a_saved_next_token(self):
        tag = uuid.uuid4().hex
        made = [self.create(metadata={"t": tag}) for _ in range(3)]
        first = self.mine(tag)
        first.next_items()
        later = Sandbox.list(query={"metadata": {"t": tag}}, limit=2, next_token=first.next_token,
                             socket_path=self.socket)
        self.assertEqual([i.sandbox_id for i in later.next_items()], [made[0].sandbox_id])
        self.assertFalse(later.has_next)

    def test_a_bad_token_or_limit_is_invalid_argument(self):
        with self.assertRaises(declaw.InvalidArgumentException) as caught:
            Sandbox.list(next_token="nonsense", socket_path=self.socket).next_items()
        self.assertIn("'next_token' is malformed", str(caught.exception))
        with self.assertRaises(declaw.InvalidArgumentException):
            Sandbox.list(limit=0, socket_path=self.socket).next_items()

    def test_killed_sandboxes_are_listed_only_when_their_state_is_asked_for(self):
        tag = uuid.uuid4().hex
        alive = self.create(metadata={"t": tag})
        dead = self.create(metadata={"t": tag})
        dead.kill()
        self.assertEqual([i.sandbox_id for i in self.mine(tag)], [alive.sandbox_id])
        killed = self.mine(tag, state=[SandboxState.KILLED]).next_items()
        self.assertEqual([(i.sandbox_id, i.state) for i in killed],
                         [(dead.sandbox_id, SandboxState.KILLED)])

    def test_iterating_yields_every_sandbox_of_every_page_as_list_did(self):
        tag = uuid.uuid4().hex
        made = [self.create(metadata={"t": tag}) for _ in range(3)]
        self.assertEqual([i.sandbox_id for i in self.mine(tag)],
                         [s.sandbox_id for s in reversed(made)])
        self.assertEqual(len(list(self.mine(tag))), 3)

    def test_get_metrics_is_a_list_of_samples_ending_now(self):
        sbx = self.create()
        time.sleep(2.5)
        samples = sbx.get_metrics()
        self.assertIsInstance(samples, list)
        self.assertGreaterEqual(len(samples), 3, "the create's sample, two more, and now")
        self.assertTrue(all(isinstance(m, declaw.SandboxMetrics) for m in samples))
        times = [m.timestamp for m in samples]
        self.assertEqual(times, sorted(times))
        # The earlier single-sample get_metrics(): its fields are the newest sample's.
        self.assertEqual(samples.mem_used, samples[-1].mem_used)
        self.assertEqual(samples.pids_limit, samples[-1].pids_limit)
        with self.assertRaises(AttributeError):
            samples.no_such_field

    def test_start_and_end_select_the_samples(self):
        sbx = self.create()
        time.sleep(2.5)
        everything = sbx.get_metrics(end=utc_now())
        self.assertGreaterEqual(len(everything), 2)
        self.assertEqual(sbx.get_metrics(end=datetime.datetime(2000, 1, 1,
                                                               tzinfo=datetime.timezone.utc)), [])
        recent = sbx.get_metrics(start=time.time() + 3600)
        self.assertEqual(len(recent), 1, "only the reading taken now")
        by_id = Sandbox.get_metrics(sbx.sandbox_id, start=everything[-1].timestamp,
                                    end=utc_now(), socket_path=self.socket)
        self.assertGreaterEqual(len(by_id), 1)
        with self.assertRaises(declaw.InvalidArgumentException):
            sbx.get_metrics(start="yesterday")


class AsyncListing(AsyncSdkTestCase):
    daemon_config = {"max_sandboxes": 16, "metrics_history": HISTORY}

    async def test_paging_with_await_next_items_and_kills_in_between(self):
        tag = uuid.uuid4().hex
        made = [await self.create(metadata={"t": tag}) for _ in range(4)]
        paginator = AsyncSandbox.list(query=SandboxQuery(metadata={"t": tag}), limit=3,
                                      socket_path=self.socket)
        self.assertIsInstance(paginator, declaw.AsyncSandboxPaginator)
        first = await paginator.next_items()
        self.assertEqual(len(first), 3)
        self.assertTrue(paginator.has_next)
        await made[0].kill()
        self.assertEqual(await paginator.next_items(), [])
        self.assertFalse(paginator.has_next)
        again = AsyncSandbox.list(query=SandboxQuery(metadata={"t": tag}), limit=1,
                                  socket_path=self.socket)
        self.assertEqual([i.sandbox_id async for i in again],
                         [s.sandbox_id for s in reversed(made[1:])])

    async def test_awaiting_list_is_every_sandbox_as_before(self):
        tag = uuid.uuid4().hex
        made = [await self.create(metadata={"t": tag}) for _ in range(3)]
        listed = await AsyncSandbox.list(query={"metadata": {"t": tag}}, limit=2,
                                         socket_path=self.socket)
        self.assertEqual([i.sandbox_id for i in listed], [s.sandbox_id for s in reversed(made)])

    async def test_get_metrics_is_a_list_of_samples(self):
        sbx = await self.create()
        samples = await sbx.get_metrics()
        self.assertGreaterEqual(len(samples), 2, "the create's sample and now")
        self.assertEqual(samples.disk_total, samples[-1].disk_total)
        by_id = await AsyncSandbox.get_metrics(sbx.sandbox_id, end=utc_now(),
                                               socket_path=self.socket)
        self.assertGreaterEqual(len(by_id), 1)


if __name__ == "__main__":
    unittest.main()
