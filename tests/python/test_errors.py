"""Each exception class: the daemon's error codes (docs/api.md) mapped one by one, then each
produced for real by a daemon with small limits, as a caller would meet it."""
import json
import os
import unittest

from support import MIB, SdkTestCase

import declaw
from declaw import Sandbox
from declaw.exceptions import exception_from_response


def error_body(code, message="it failed", sandbox_id=None):
    error = {"code": code, "message": message}
    if sandbox_id:
        error["sandbox_id"] = sandbox_id
    return json.dumps({"error": error}).encode()


class ErrorCodeTable(unittest.TestCase):
    """Every row of the table in docs/api.md, "Errors"."""

    ROWS = [
        (400, "invalid_argument", declaw.InvalidArgumentException),
        (403, "forbidden", declaw.PermissionDeniedException),
        (404, "not_found", declaw.NotFoundException),
        (405, "method_not_allowed", declaw.InvalidArgumentException),
        (408, "timeout", declaw.TimeoutException),
        (409, "conflict", declaw.ConflictException),
        (413, "too_large", declaw.TooLargeException),
        (429, "rate_limited", declaw.RateLimitException),
        (500, "internal", declaw.SandboxException),
        (501, "not_implemented", declaw.NotImplementedException),
        (507, "not_enough_space", declaw.NotEnoughSpaceException),
    ]

    def test_each_code_becomes_its_exception_with_code_status_and_sandbox(self):
        for status, code, cls in self.ROWS:
            with self.subTest(code=code):
                error = exception_from_response(status, error_body(code, "x", "sbx-1"))
                self.assertIs(type(error), cls)
                self.assertIsInstance(error, declaw.SandboxException)
                self.assertEqual((error.code, error.status, error.sandbox_id),
                                 (code, status, "sbx-1"))
                self.assertTrue(str(error).startswith("x"))

    def test_the_status_decides_when_the_code_is_unknown_or_the_body_is_not_json(self):
        self.assertIs(type(exception_from_response(404, error_body("brand_new"))),
                      declaw.NotFoundException)
        error = exception_from_response(502, b"<html>bad gateway</html>")
        self.assertIs(type(error), declaw.SandboxException)
        self.assertIn("bad gateway", str(error))
        self.assertIs(type(exception_from_response(431, b"")), declaw.TooLargeException)

    def test_the_daemon_saying_a_sandbox_is_unknown_is_SandboxNotFoundException(self):
        for message in ("sandbox 'sbx-1a2b3c4d5e6f' not found",
                        "sandbox 'sbx-1a2b3c4d5e6f' not found: No such file or directory",
                        "sandbox 'not an id' not found", "sandbox sbx-1a2b3c4d5e6f not found"):
            with self.subTest(message=message):
                error = exception_from_response(404, error_body("not_found", message))
                self.assertIs(type(error), declaw.SandboxNotFoundException)
                self.assertIsInstance(error, declaw.NotFoundException)
        for message in ("process 12 not found", "open /tmp/x: No such file or directory",
                        "no route GET /v1/sandboxes/sbx-1/nothing"):
            with self.subTest(message=message):
                self.assertIs(type(exception_from_response(404, error_body("not_found", message))),
                              declaw.NotFoundException)

    def test_the_hosted_names_have_the_hosted_bases(self):
        self.assertTrue(issubclass(declaw.FileNotFoundException, declaw.NotFoundException))
        self.assertTrue(issubclass(declaw.FileNotFoundException, FileNotFoundError))
        self.assertTrue(issubclass(declaw.SandboxNotFoundException, declaw.NotFoundException))
        self.assertTrue(issubclass(declaw.NotFoundException, declaw.SandboxException))
        for name in ("FileNotFoundException", "SandboxNotFoundException", "HostedOptionWarning"):
            self.assertIn(name, declaw.__all__)

    def test_the_sandbox_id_of_the_request_is_kept_when_the_answer_has_none(self):
        error = exception_from_response(404, error_body("not_found"), sandbox_id="sbx-2")
        self.assertEqual(error.sandbox_id, "sbx-2")

    def test_a_sandbox_that_is_not_running_is_told_apart_from_other_conflicts(self):
        ended = exception_from_response(409, error_body(
            "conflict", "sandbox sbx-1 is not running (killed): No such process"))
        self.assertIs(type(ended), declaw.SandboxNotRunningException)
        self.assertIsInstance(ended, declaw.ConflictException)
        exists = exception_from_response(409, error_body("conflict", "/a exists: File exists"))
        self.assertIs(type(exists), declaw.ConflictException)
        for message in ("process 12 has finished: No such process",
                        "stdin of process 20 is closed: No such process"):
            finished = exception_from_response(409, error_body("conflict", message))
            self.assertIs(type(finished), declaw.ConflictException, message)

    def test_messages_say_what_to_do(self):
        hints = {
            "forbidden": 'user="root"', "rate_limited": "kill sandboxes",
            "too_large": "limits", "not_enough_space": "remove files", "internal": "report",
        }
        for code, hint in hints.items():
            with self.subTest(code=code):
                self.assertIn(hint, str(exception_from_response(400, error_body(code))))
        owner = exception_from_response(403, error_body(
            "forbidden", "sandbox sbx-1 belongs to another user"))
        self.assertIn("only the user who created", str(owner))
        internet = exception_from_response(501, error_body(
            "not_implemented", "internet access is off in this declawd (network: off)"))
        self.assertTrue(str(internet).startswith(
            "internet access is off in this declawd: pass allow_internet_access=False"))
        self.assertIn("(network: off)", str(internet))
        no_link = exception_from_response(409, error_body(
            "conflict", "sandbox sbx-1 was created without internet access"))
        self.assertIs(type(no_link), declaw.ConflictException)
        self.assertIn("create a new sandbox with allow_internet_access=True", str(no_link))
        said = "sandbox sbx-1 was created without internet access: create a new sandbox"
        self.assertEqual(str(exception_from_response(409, error_body("conflict", said))), said)

    def test_the_hosted_sdk_names_are_there(self):
        self.assertIs(declaw.SandboxError, declaw.SandboxException)
        for name in ("TimeoutException", "NotFoundException", "AuthenticationException",
                     "InvalidArgumentException", "NotEnoughSpaceException",
                     "RateLimitException", "CommandExitException", "ConflictException"):
            self.assertTrue(issubclass(getattr(declaw, name), declaw.SandboxException), name)
        self.assertTrue(issubclass(declaw.PermissionDeniedException,
                                   declaw.AuthenticationException))
        limited = declaw.RateLimitException("slow down", retry_after=2.5)
        self.assertEqual(limited.retry_after, 2.5)


class ErrorsFromARealDaemon(SdkTestCase):
    daemon_config = {"max_sandboxes": 2, "max_upload_bytes": MIB, "default_disk_mb": 2}
    shared_sandbox = {}

    def test_over_max_sandboxes_is_rate_limited(self):
        self.create()  # the shared one and this one: the limit
        with self.assertRaises(declaw.RateLimitException) as caught:
            self.create()
        self.assertEqual((caught.exception.code, caught.exception.status), ("rate_limited", 429))
        self.assertIn("kill sandboxes you no longer need", str(caught.exception))

    def test_an_upload_over_max_upload_bytes_is_too_large(self):
        with self.assertRaises(declaw.TooLargeException) as caught:
            self.shared.files.write("/home/user/big.bin", bytes(2 * MIB))
        self.assertIsInstance(caught.exception, declaw.InvalidArgumentException)
        with self.assertRaises(declaw.TooLargeException):  # unknown size: found out while sent
            self.shared.files.write("/home/user/big.bin", iter([bytes(MIB), bytes(MIB)]))
        self.assertEqual(self.shared.files.write("/home/user/ok.bin", bytes(MIB)).size, MIB)

    def test_a_full_disk_is_not_enough_space(self):
        with self.assertRaises(declaw.NotEnoughSpaceException) as caught:
            self.shared.files.write("/tmp/fill.bin", bytes(MIB - 1))
            self.shared.files.write("/tmp/fill2.bin", bytes(MIB - 1))
            self.shared.files.write("/tmp/fill3.bin", bytes(MIB - 1))
        self.assertEqual(caught.exception.status, 507)
        self.assertIn("disk is full", str(caught.exception))
        self.shared.commands.run("rm -f /tmp/fill*.bin")

    def test_another_users_sandbox_is_forbidden_and_invisible(self):
        os.chmod(self.socket, 0o666)  # let an unprivileged caller reach this test daemon
        sandbox_id = self.shared.sandbox_id
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                declaw.reset_transports()
                lines = [repr([i.sandbox_id for i in Sandbox.list(socket_path=self.socket)])]
                for call in (lambda: Sandbox.connect(sandbox_id, socket_path=self.socket),
                             lambda: Sandbox.kill(sandbox_id, socket_path=self.socket)):
                    try:
                        call()
                        lines.append("no error")
                    except declaw.SandboxException as e:
                        lines.append(f"{type(e).__name__}: {e}")
                os.write(write_end, "\n".join(lines).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            listed, connect, kill = pipe.read().decode().split("\n")
        os.waitpid(pid, 0)
        self.assertEqual(listed, "[]")
        for outcome in (connect, kill):
            self.assertTrue(outcome.startswith("PermissionDeniedException"), outcome)
            self.assertIn("only the user who created a sandbox (or root)", outcome)
        self.assertTrue(self.shared.is_running(), "another user killed our sandbox")


if __name__ == "__main__":
    unittest.main()
