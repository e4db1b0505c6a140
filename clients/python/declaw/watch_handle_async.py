"""AsyncWatchHandle: files.watch_dir() of an AsyncSandbox, as E2B's async SDK has it.

A task reads the watch's events (watch_handle.py's WatchState keeps them) and calls `on_event`
for each, a plain function or a coroutine function (awaited in order).
"""
import asyncio
from typing import Any, Callable, List, Optional

from ._transport_async import AsyncEventStream
from .command_handle_async import call_back
from .models import FilesystemEvent
from .watch_handle import WatchState, WatchStatus


class AsyncWatchHandle(WatchStatus):
    """A directory being watched. `await stop()` ends the watch; get_new_events() gives the
    changes since the last call (also when there is no on_event). `lost`, `end_reason` and
    `end_message` as for WatchHandle."""

    def __init__(self, stream: AsyncEventStream, path: str, sandbox_id: str,
                 on_event: Optional[Callable[[FilesystemEvent], Any]] = None,
                 on_exit: Optional[Callable[[Optional[Exception]], Any]] = None,
                 timeout: Optional[float] = None):
        self._stream = stream
        self._state = WatchState(path, sandbox_id)
        self._on_event = on_event
        self._on_exit = on_exit
        self._timeout = timeout
        self._stopped = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    def get_new_events(self) -> List[FilesystemEvent]:
        return self._state.new_events(self._stopped)

    async def stop(self) -> None:
        """Ends the watch (the watcher in the sandbox stops). Idempotent."""
        self._stopped = True
        if not self._task.done():
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def wait(self) -> None:
        """Returns once the watch has ended (by itself, by its timeout, or by stop())."""
        await asyncio.shield(self._task)

    async def _read(self) -> None:
        error: Optional[Exception] = None
        try:
            if self._timeout:
                await asyncio.wait_for(self._follow(), self._timeout)
            else:
                await self._follow()
        except asyncio.TimeoutError:
            pass  # the watch's own timeout: a normal end
        except asyncio.CancelledError:
            pass  # stop()
        except Exception as e:  # the stream broke, or a callback raised
            error = e
        finally:
            await self._stream.aclose()
            if self._state.end_reason is None:
                self._state.end_reason = "stopped" if error is None else "error"
                self._state.end_message = "" if error is None else str(error)
        await call_back(self._on_exit, error)

    async def _follow(self) -> None:
        async for name, data in self._stream:
            event = self._state.take(name, data)
            if event is not None:
                await call_back(self._on_event, event)

    async def __aenter__(self) -> "AsyncWatchHandle":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
