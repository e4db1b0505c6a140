"""The SDK from 8 threads at once: one Sandbox object shared by all, and a sandbox per thread;
kept-alive connections are reused, and never more are opened than threads run at once."""
import threading
import unittest

from support import SdkTestCase, kill_quietly

import declaw
from declaw import Sandbox

THREADS = 8
ROUNDS = 12


def run_threads(target):
    """Runs target(i) in THREADS threads started together; returns their exceptions."""
    errors = []
    barrier = threading.Barrier(THREADS)

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # reported by the test, with the thread's number
            errors.append((i, e))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


class Concurrency(SdkTestCase):
    shared_sandbox = {"template": "base"}

    def test_eight_threads_share_one_sandbox_object(self):
        sbx = self.shared
        transport = sbx._transport
        transport.close()  # start from an empty pool, so every connection used is counted
        opened_before = transport.connections_opened

        def work(i):
            for n in range(ROUNDS):
                payload = f"thread {i} round {n} ✓\n" * (i + 1)
                path = f"/tmp/t{i}/r{n}.txt"
                sbx.files.write(path, payload)
                self.assertEqual(sbx.files.read(path), payload)
                result = sbx.commands.run(f"cat {path} | wc -l; echo {i}-{n} >&2")
                self.assertEqual((result.stdout, result.stderr, result.exit_code),
                                 (f"{i + 1}\n", f"{i}-{n}\n", 0))
                self.assertTrue(sbx.files.exists(path))
                self.assertEqual(sbx.get_info().state, "running")
            self.assertEqual(len(sbx.files.list(f"/tmp/t{i}")), ROUNDS)

        self.assertEqual(run_threads(work), [])
        opened = transport.connections_opened - opened_before
        self.assertGreaterEqual(opened, 1)
        self.assertLessEqual(opened, THREADS, "connections were not reused")

    def test_eight_threads_each_run_their_own_sandbox(self):
        ids = {}

        def work(i):
            with Sandbox.create(allow_internet_access=False, metadata={"thread": str(i)},
                                socket_path=self.socket) as sbx:
                ids[i] = sbx.sandbox_id
                sbx.files.write("/home/user/me.txt", str(i))
                self.assertEqual(sbx.commands.run("cat me.txt").stdout, str(i))
                self.assertEqual(sbx.get_info().metadata, {"thread": str(i)})

        errors = run_threads(work)
        for sandbox_id in ids.values():
            self.addCleanup(kill_quietly, Sandbox(sandbox_id, socket_path=self.socket))
        self.assertEqual(errors, [])
        self.assertEqual(len(set(ids.values())), THREADS)
        self.assertFalse(set(ids.values()) & self.running_ids(), "a thread's sandbox survived")

    def test_sequential_requests_reuse_one_connection(self):
        transport = self.shared._transport
        self.shared.files.exists("/tmp")  # at least one idle connection in the pool
        opened_before = transport.connections_opened
        for n in range(50):
            self.shared.files.write("/tmp/seq.txt", str(n))
            self.assertEqual(self.shared.files.read("/tmp/seq.txt"), str(n))
        self.assertEqual(transport.connections_opened, opened_before)

    def test_an_error_answer_does_not_poison_a_pooled_connection(self):
        for _ in range(20):
            with self.assertRaises(declaw.NotFoundException):
                self.shared.files.read("/tmp/never-there")
            self.assertTrue(self.shared.files.exists("/tmp"))


if __name__ == "__main__":
    unittest.main()
