"""The code-interpreter bridge: runs INSIDE a sandbox, as a background command started by the
SDK's run_code() (one bridge per code context), with the sandbox's /usr/bin/python3.

It starts an IPython kernel with jupyter_client's KernelManager on the ipc transport (unix
sockets in a private directory: a sandbox without internet access cannot create AF_INET
sockets, and needs none) and talks to it with jupyter_client's BlockingKernelClient, so the
Jupyter wire protocol is Jupyter's own code. Its own protocol with the SDK is JSON lines:

stdin, one request per line:
    {"op": "execute", "id": "r1", "code": "...", "timeout": 30, "envs": {"K": "V"}}
    {"op": "interrupt"}        sent while an execute runs (SIGINT to the kernel)
    {"op": "restart"}          a fresh kernel: every variable is gone
    EOF                        shut the kernel down and exit
stdout, one message per line (every message of a request carries its "id"):
    {"type": "ready", "pid": N}                            once, when the kernel answers
    {"type": "fatal", "message": "..."}                    the kernel cannot start; exits 3
    {"type": "stdout"|"stderr", "text": "...", "timestamp": ns}
    {"type": "result", "data": {mime: value}, "is_main_result": bool}
    {"type": "error", "name": "...", "value": "...", "traceback": "..."}
    {"type": "execution_count", "execution_count": N}
    {"type": "done"}                                       the request is over
    {"type": "timeout", "restarted": bool}                 over its timeout: interrupted (or,
                                                           if that did not stop it, restarted)
    {"type": "died", "message": "..."}                     the kernel died; the next request
                                                           starts a new one
    {"type": "restarted"}                                  answer to "restart"
    {"type": "spill", "path": "...", "bytes": N}           the message is in that file (one
                                                           JSON object), as it is too long for
                                                           a line of the command's output ring

Standard library and jupyter_client only (Debian: python3-ipykernel python3-jupyter-client).
The SDK writes this file into the sandbox; it is not imported by the SDK.
"""
import argparse
import json
import os
import queue
import sys
import threading
import time

# A message longer than this goes to a file (see "spill"): the daemon keeps 1 MiB of a
# background command's output, and a base64 PNG may be several.
SPILL_BYTES = 64 << 10
# How long an interrupted execution may take to stop before the kernel is restarted.
INTERRUPT_GRACE_S = 5.0
# How often a waiting bridge checks that the kernel still lives.
POLL_S = 0.5
KERNEL_START_TIMEOUT_S = 60.0
KERNEL_LOG_TAIL_BYTES = 2000


class Output:
    """The JSON-lines channel to the SDK: the real stdout, which nothing else may write to
    (fd 1 is pointed at stderr, so a stray print cannot corrupt the protocol)."""

    def __init__(self, spill_dir):
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._spill_dir = spill_dir
        self._spills = []
        self._count = 0
        self._lock = threading.Lock()

    def send(self, message):
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if len(line) > SPILL_BYTES:
                self._count += 1
                path = os.path.join(self._spill_dir, f"spill-{self._count}.json")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(line)
                self._spills.append(path)
                line = json.dumps({"type": "spill", "id": message.get("id"), "path": path,
                                   "bytes": len(line.encode("utf-8"))})
            self._out.write(line + "\n")
            self._out.flush()

    def forget_spills(self):
        """Removes the files of earlier requests: the SDK has read them before it sends the
        next request (it sends one at a time)."""
        with self._lock:
            spills, self._spills = self._spills, []
        for path in spills:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class Kernel:
    """One IPython kernel and its client."""

    def __init__(self, directory, cwd):
        # Imported here, so that main() can report its absence as such.
        from jupyter_client.manager import KernelManager

        self.directory = directory
        self.cwd = cwd
        self.log_path = os.path.join(directory, "kernel.log")
        self.manager = KernelManager(transport="ipc",
                                     connection_file=os.path.join(directory, "kernel.json"))
        self.client = None

    def start(self):
        # Open for the bridge's life: restart_kernel() launches again with the same files.
        self.log = open(self.log_path, "ab")
        self.manager.start_kernel(cwd=self.cwd, stdout=self.log, stderr=self.log,
                                  env=dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1"))
        self._connect()

    def _connect(self):
        if self.client is not None:
            self.client.stop_channels()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=KERNEL_START_TIMEOUT_S)

    def restart(self):
        if self.manager.has_kernel:
            self.manager.restart_kernel(now=True)
            self._connect()
        else:
            self.start()

    def alive(self):
        return self.manager.is_alive()

    def pid(self):
        provisioner = getattr(self.manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - KERNEL_LOG_TAIL_BYTES))
                return f.read().decode("utf-8", errors="replace").strip()
        except OSError:
            return ""

    def shutdown(self):
        if self.client is not None:
            self.client.stop_channels()
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=False)


def env_snippets(envs):
    """Python that sets ENVS in the kernel's os.environ for one execution, and Python that puts
    back what was there (as E2B's code interpreter does with env_vars)."""
    keys = sorted(envs)
    setup = ("__declaw_env_saved = {k: __import__('os').environ.get(k) for k in %r}; "
             "__import__('os').environ.update(%r)" % (keys, {k: str(envs[k]) for k in keys}))
    restore = ("[__import__('os').environ.pop(k, None) if v is None else "
               "__import__('os').environ.__setitem__(k, v) "
               "for k, v in __declaw_env_saved.items()]; del __declaw_env_saved")
    return setup, restore


class Bridge:
    def __init__(self, kernel, output):
        self.kernel = kernel
        self.out = output
        self.interrupts = 0  # counted by the stdin thread, read by the executing one

    def quiet(self, code):
        """Runs CODE silently (no output, no history) and waits for it to finish."""
        kc = self.kernel.client
        msg_id = kc.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                reply = kc.get_shell_msg(timeout=POLL_S)
            except queue.Empty:
                if not self.kernel.alive():
                    return
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return

    def execute(self, request):
        rid = request.get("id")
        self.out.forget_spills()
        if not self.kernel.alive():
            try:
                self.kernel.restart()
            except Exception as e:
                self.out.send({"id": rid, "type": "died",
                               "message": f"the kernel could not be restarted: {e}"})
                return
        envs = request.get("envs") or {}
        restore = None
        if envs:
            setup, restore = env_snippets(envs)
            self.quiet(setup)
        timeout = request.get("timeout")
        try:
            self._run(rid, request.get("code", ""), timeout)
        finally:
            if restore is not None and self.kernel.alive():
                self.quiet(restore)

    def _run(self, rid, code, timeout):
        kc = self.kernel.client
        interrupts_before = self.interrupts
        msg_id = kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=True)
        deadline = None if not timeout else time.monotonic() + float(timeout)
        timed_out_at = None
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=POLL_S)
            except queue.Empty:
                msg = None
            now = time.monotonic()
            if msg is None:
                if not self.kernel.alive():
                    tail = self.kernel.log_tail()
                    self.out.send({"id": rid, "type": "died", "message":
                                   "the kernel died while running the code (out of memory, "
                                   "os._exit(), a crash)" + (f"; its log ends: {tail}" if tail
                                                             else "")})
                    return
            if timed_out_at is None and deadline is not None and now >= deadline:
                timed_out_at = now
                self.kernel.manager.interrupt_kernel()
            if timed_out_at is not None and now - timed_out_at > INTERRUPT_GRACE_S:
                # It ignores SIGINT (a C extension, a handler of its own): only a restart
                # frees the context for the next request.
                self.kernel.restart()
                self.out.send({"id": rid, "type": "timeout", "restarted": True})
                return
            if msg is None or msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                if timed_out_at is not None:
                    self.out.send({"id": rid, "type": "timeout", "restarted": False})
                else:
                    self.out.send({"id": rid, "type": "done",
                                   "interrupted": self.interrupts != interrupts_before})
                return
            if timed_out_at is not None:
                continue  # the KeyboardInterrupt of our own interrupt is not the code's
            self._relay(rid, kind, content, msg)

    def _relay(self, rid, kind, content, msg):
        if kind == "stream":
            date = msg["header"].get("date")
            stamp = int(date.timestamp() * 1e9) if hasattr(date, "timestamp") else time.time_ns()
            self.out.send({"id": rid, "type": content.get("name", "stdout"),
                           "text": content.get("text", ""), "timestamp": stamp})
        elif kind in ("execute_result", "display_data"):
            self.out.send({"id": rid, "type": "result", "data": content.get("data") or {},
                           "is_main_result": kind == "execute_result"})
        elif kind == "error":
            self.out.send({"id": rid, "type": "error", "name": content.get("ename", ""),
                           "value": content.get("evalue", ""),
                           "traceback": "\n".join(content.get("traceback") or [])})
        elif kind == "execute_input":
            self.out.send({"id": rid, "type": "execution_count",
                           "execution_count": content.get("execution_count")})


def read_requests(bridge, requests):
    """The stdin thread: interrupts act at once; everything else is queued in order."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if request.get("op") == "interrupt":
            bridge.interrupts += 1
            if bridge.kernel.alive():
                bridge.kernel.manager.interrupt_kernel()
        else:
            requests.put(request)
    requests.put(None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--context", required=True, help="the context's id (for listings)")
    parser.add_argument("--language", default="python")
    parser.add_argument("--cwd", default=os.path.expanduser("~"))
    parser.add_argument("--dir", required=True, help="private directory: sockets, spills, log")
    args = parser.parse_args()

    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    os.chmod(args.dir, 0o700)
    output = Output(args.dir)
    try:
        kernel = Kernel(args.dir, args.cwd)
        kernel.start()
    except ImportError as e:
        output.send({"type": "fatal", "missing": True, "message":
                     f"{e}: the sandbox's python3 has no Jupyter kernel (install "
                     "python3-ipykernel and python3-jupyter-client in its template)"})
        return 3
    except Exception as e:
        tail = kernel.log_tail() if "kernel" in locals() else ""
        output.send({"type": "fatal", "message": f"the kernel did not start: {e}"
                     + (f"; its log ends: {tail}" if tail else "")})
        return 3
    bridge = Bridge(kernel, output)
    output.send({"type": "ready", "pid": kernel.pid()})
    requests = queue.Queue()
    threading.Thread(target=read_requests, args=(bridge, requests), daemon=True).start()
    try:
        while True:
            request = requests.get()
            if request is None:
                break
            if request.get("op") == "restart":
                try:
                    kernel.restart()
                    output.send({"id": request.get("id"), "type": "restarted"})
                except Exception as e:
                    output.send({"id": request.get("id"), "type": "died",
                                 "message": f"the kernel could not be restarted: {e}"})
            elif request.get("op") == "execute":
                try:
                    bridge.execute(request)
                except Exception as e:  # the kernel's client broke: say so, go on
                    output.send({"id": request.get("id"), "type": "died",
                                 "message": f"the bridge failed: {type(e).__name__}: {e}"})
    finally:
        kernel.shutdown()
        output.forget_spills()
    return 0


if __name__ == "__main__":
    sys.exit(main())
