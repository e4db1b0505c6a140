"""clients/python installs with pip, offline, and the installed package is complete and imports
(from a copy of the source, so no build files land in the tree)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from support import REPO

SOURCE = os.path.join(REPO, "clients", "python")


def can_build(python):
    """Whether PYTHON has pip, setuptools and wheel: what an offline pip build needs."""
    try:
        # setuptools first: Debian's setuptools refuses to load after pip imported distutils.
        return all(subprocess.run([python, *args], capture_output=True, timeout=60).returncode
                   == 0 for args in (["-c", "import setuptools, wheel"], ["-m", "pip", "-V"]))
    except OSError:
        return False


class PipInstall(unittest.TestCase):
    def test_pip_installs_a_complete_importable_package(self):
        builder = next((p for p in (sys.executable, "/usr/bin/python3") if can_build(p)), None)
        # scripts/install-deps.sh installs them: their absence is a set-up bug, not a skip.
        self.assertIsNotNone(builder, "no Python here has pip, setuptools and wheel to build "
                             "offline (Debian: python3-pip python3-setuptools python3-wheel)")
        work = tempfile.mkdtemp(prefix="declaw-test-pip-")
        self.addCleanup(shutil.rmtree, work, True)
        source = os.path.join(work, "src")
        shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(
            "__pycache__", "build", "*.egg-info"))
        target = os.path.join(work, "site")
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        done = subprocess.run(
            [builder, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
             "--target", target, source], capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

        installed = set(os.listdir(os.path.join(target, "declaw")))
        shipped = {n for n in os.listdir(os.path.join(SOURCE, "declaw"))
                   if n.endswith(".py") or n == "py.typed"}
        self.assertLessEqual(shipped, installed)

        env["PYTHONPATH"] = target
        probe = subprocess.run(
            [builder, "-c", "import declaw; print(declaw.__file__); print(declaw.__version__); "
             "print(declaw.Sandbox.create.__doc__ is not None)"],
            capture_output=True, text=True, env=env, cwd=work, timeout=60)
        self.assertEqual(probe.returncode, 0, probe.stderr)
        where, version, documented = probe.stdout.split()
        self.assertTrue(where.startswith(target), where)
        self.assertEqual((version, documented), ("0.1.0", "True"))


class WithoutHttpx(unittest.TestCase):
    def test_the_blocking_client_imports_and_AsyncSandbox_says_what_it_needs(self):
        probe = subprocess.run(
            [sys.executable, "-c", "import sys; sys.modules['httpx'] = None\n"
             "from declaw import *\n"
             "import declaw\nprint(declaw.Sandbox.__name__, declaw.NotFoundException.__name__)\n"
             "try:\n    declaw.AsyncSandbox\nexcept ImportError as e:\n    print(e)"],
            capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=SOURCE))
        self.assertEqual(probe.returncode, 0, probe.stderr)
        self.assertEqual(probe.stdout.splitlines(), [
            "Sandbox NotFoundException",
            "declaw.AsyncSandbox needs httpx: apt install python3-httpx, or pip install "
            "'declaw[async]'"])


if __name__ == "__main__":
    unittest.main()
