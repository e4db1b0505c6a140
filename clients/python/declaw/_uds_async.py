"""The httpx transport of AsyncSandbox: httpx over the daemon's Unix socket, with the socket
handled by asyncio's own streams instead of anyio's.

Why: anyio 3.6 (Debian 12's python3-anyio, under httpx 0.23 and httpcore 0.16) sends the
whole buffer again after a partial send on a Unix socket (UNIXSocketStream.send() passes
`item`, not the rest of it), so any request body larger than the socket's free buffer space
reached the daemon with bytes repeated, or broke off; the daemon then read the repeats as the
next request ("malformed HTTP request"). asyncio's StreamWriter keeps what the kernel did not
take. httpcore lets a connection pool take its network backend; httpx 0.23 has no parameter
for it, so the pool of an httpx.AsyncHTTPTransport is replaced. Internal.
"""
import asyncio
import select
from typing import Any, Optional

import httpcore
import httpx

try:  # httpcore >= 0.17 exports them
    from httpcore import AsyncNetworkBackend, AsyncNetworkStream  # type: ignore[attr-defined]
except ImportError:  # httpcore 0.16 (Debian 12)
    from httpcore.backends.base import AsyncNetworkBackend, AsyncNetworkStream


class _UnixStream(AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        try:
            return await asyncio.wait_for(self._reader.read(max_bytes), timeout)
        except asyncio.TimeoutError:
            raise httpcore.ReadTimeout("no data from declawd in time") from None
        except OSError as e:
            raise httpcore.ReadError(str(e)) from e

    async def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            await asyncio.wait_for(self._writer.drain(), timeout)
        except asyncio.TimeoutError:
            raise httpcore.WriteTimeout("declawd did not take the request in time") from None
        except OSError as e:
            raise httpcore.WriteError(str(e)) from e

    async def aclose(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore asks before reusing an idle connection: one the daemon closed (EOF
            # read, or waiting) must not carry the next request.
            if self._reader.at_eof() or self._writer.is_closing():
                return True
            sock = self._writer.get_extra_info("socket")
            return sock is not None and bool(select.select([sock], [], [], 0)[0])
        return self._writer.get_extra_info(info)


class _UnixBackend(AsyncNetworkBackend):
    async def connect_unix_socket(self, path: str, timeout: Optional[float] = None) -> Any:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(f"{path} did not accept in time") from None
        except OSError as e:
            raise httpcore.ConnectError(str(e)) from e  # the OSError says why (_transport_async)
        return _UnixStream(reader, writer)

    async def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                          local_address: Optional[str] = None) -> Any:
        raise httpcore.ConnectError("declawd is reached on its Unix socket only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def unix_transport(path: str, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """An httpx transport to the Unix socket PATH."""
    # verify=False: plain HTTP on a local socket; it spares loading the CA bundle (~0.1 s
    # with the event loop blocked) for a TLS context nothing uses.
    transport = httpx.AsyncHTTPTransport(uds=path, limits=limits, verify=False)
    transport._pool = httpcore.AsyncConnectionPool(
        uds=path, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry, network_backend=_UnixBackend())
    return transport

