"""files.watch_dir(): a directory's changes, as E2B's WatchHandle gives them.

The daemon watches the directory from inside the sandbox as the requested user and streams
its events (GET .../files/watch, docs/api.md "Watching a directory"); a thread of the handle
reads them into a list that get_new_events() takes, and calls `on_event` for each. The watch
is set when watch_dir() returns: a change made after that is seen.
"""
import threading
from typing import Any, Callable, Dict, List, Optional

from ._sse import EventStream
from .exceptions import SandboxException
from .models import FilesystemEvent

WatchCallback = Callable[[FilesystemEvent], Any]


def watch_query(path: str, recursive: bool, user: str) -> Dict[str, Any]:
    return {"path": path, "recursive": "true" if recursive else "false", "user": user}


class WatchState:
    """What a watch has received, shared by the blocking and the asyncio handle."""

    def __init__(self, path: str, sandbox_id: str):
        self.path = path
        self.sandbox_id = sandbox_id
        self.events: List[FilesystemEvent] = []
        self.lost = 0  # how many times the kernel dropped events (the watch fell behind)
        self.end_reason: Optional[str] = None  # "removed" | "sandbox_ended" | "error" | "stopped"
        self.end_message = ""

    def take(self, name: str, data: Dict[str, Any]) -> Optional[FilesystemEvent]:
        """Records one server event; returns the change it carries, if any."""
        if name == "fs":
            event = FilesystemEvent.from_dict(data)
            self.events.append(event)
            return event
        if name == "lost":
            self.lost += 1
        elif name == "end":
            self.end_reason = data.get("reason", "error")
            self.end_message = data.get("message", "")
        return None

    def new_events(self, stopped: bool) -> List[FilesystemEvent]:
        if stopped:
            raise SandboxException(f"the watch of {self.path} is stopped",
                                   sandbox_id=self.sandbox_id)
        events, self.events = self.events, []
        if not events and self.end_reason not in (None, "stopped"):
            raise SandboxException(
                f"the watch of {self.path} ended ({self.end_reason}): {self.end_message}",
                sandbox_id=self.sandbox_id)
        return events


class WatchStatus:
    """How a watch stands, for both handles: `lost` counts the times events were dropped
    because the watch fell behind; `end_reason` says why a watch ended ("removed", the
    directory was removed; "sandbox_ended"; "error" with `end_message`; "stopped")."""

    _state: WatchState

    @property
    def lost(self) -> int:
        return self._state.lost

    @property
    def end_reason(self) -> Optional[str]:
        return self._state.end_reason

    @property
    def end_message(self) -> str:
        return self._state.end_message


class WatchHandle(WatchStatus):
    """A directory being watched. get_new_events() returns what changed since the last call;
    stop() ends the watch. `lost` counts the times events were dropped because the watch fell
    behind; `end_reason` says why a watch ended by itself ("removed": the directory was
    removed, "sandbox_ended", "error" with `end_message`)."""

    def __init__(self, stream: EventStream, path: str, sandbox_id: str,
                 on_event: Optional[WatchCallback] = None,
                 on_exit: Optional[Callable[[Optional[Exception]], Any]] = None,
                 timeout: Optional[float] = None):
        self._stream = stream
        self._state = WatchState(path, sandbox_id)
        self._lock = threading.Lock()
        self._on_event = on_event
        self._on_exit = on_exit
        self._stopped = False
        self._thread = threading.Thread(target=self._read, name=f"declaw-watch {path}",
                                        daemon=True)
        self._timer: Optional[threading.Timer] = None
        if timeout:
            self._timer = threading.Timer(timeout, self._stream.shutdown)
            self._timer.daemon = True
            self._timer.start()
        self._thread.start()

    def get_new_events(self) -> List[FilesystemEvent]:
        """The changes since the last call, oldest first. SandboxException after stop(), and
        once a watch that ended by itself has nothing more to give."""
        with self._lock:
            return self._state.new_events(self._stopped)

    def stop(self) -> None:
        """Ends the watch (the watcher in the sandbox stops). Idempotent."""
        with self._lock:
            self._stopped = True
        self._stream.shutdown()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        if self._timer is not None:
            self._timer.cancel()

    def _read(self) -> None:
        error: Optional[Exception] = None
        try:
            while True:
                item = self._stream.next_event()
                if item is None:
                    break
                with self._lock:
                    event = self._state.take(*item)
                if event is not None and self._on_event is not None:
                    self._on_event(event)
        except Exception as e:  # the stream broke, or a callback raised: the watch ends
            error = e
        finally:
            self._stream.close()
            with self._lock:
                if self._state.end_reason is None:
                    self._state.end_reason = "stopped" if error is None else "error"
                    self._state.end_message = "" if error is None else str(error)
        if self._on_exit is not None:
            self._on_exit(error)

    def __enter__(self) -> "WatchHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
