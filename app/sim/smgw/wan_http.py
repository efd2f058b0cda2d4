"""The virtual SMGW's side of a WAN channel: one TLS connection, HTTP/1.1 requests on it.

A small client of its own instead of a general HTTP library, because the channel rules need
control that such libraries do not give: the peer's certificate is pinned **before** any HTTP is
sent (AUTH state, docs/protocol/05-08), one session is exactly one TLS connection (set-up and
teardown of 5.2-5.7), and a fault injection can drop the connection without ``close_notify``.
Only what the GWA sends is understood: ``Content-Length`` or chunked bodies, keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

from app.errors import SmgwctError, Text
from app.processes.micro.channels import Endpoint
from app.security.tls import PinMismatch, check_pin, describe_ssl_error

MAX_HEADER_BYTES = 16 * 1024
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ChannelError(SmgwctError):
    """A WAN channel could not be used; ``kind`` is connect, tls, pin, timeout or protocol."""

    def __init__(self, kind: str, message: Text, *, actual_fingerprint: str | None = None
                 ) -> None:
        super().__init__(message, field="wan_channel")
        self.kind = kind
        self.actual_fingerprint = actual_fingerprint


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class WanConnection:
    """An open, pinned TLS connection to one endpoint of the GWA."""

    def __init__(self, endpoint: Endpoint, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, peer_sha256: str) -> None:
        self.endpoint = endpoint
        self._reader = reader
        self._writer = writer
        self.peer_sha256 = peer_sha256
        self.closed = False

    @classmethod
    async def open(cls, endpoint: Endpoint, context: ssl.SSLContext, *, pin: str,
                   timeout: float) -> WanConnection:
        """Connect, hand-shake, and compare the peer certificate with ``pin``."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.host, endpoint.port, ssl=context,
                                        server_hostname=endpoint.host),
                timeout,
            )
        except TimeoutError:
            raise ChannelError("timeout", Text(
                f"No TLS connection to {endpoint.authority} within {timeout:.0f} s.",
                f"Keine TLS-Verbindung zu {endpoint.authority} innerhalb von {timeout:.0f} s."),
            ) from None
        except ssl.SSLError as exc:
            raise ChannelError("tls", describe_ssl_error(exc)) from None
        except OSError as exc:
            raise ChannelError("connect", Text(
                f"Cannot connect to {endpoint.authority}: {exc.strerror or exc}.",
                f"Keine Verbindung zu {endpoint.authority}: {exc.strerror or exc}.")) from None
        ssl_object = writer.get_extra_info("ssl_object")
        try:
            actual = check_pin(ssl_object, pin)
        except PinMismatch as exc:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            raise ChannelError("pin", exc.message, actual_fingerprint=exc.actual) from None
        return cls(endpoint, reader, writer, actual)

    async def request(self, method: str, path: str, *, body: bytes = b"",
                      headers: dict[str, str] | None = None, timeout: float) -> HttpResponse:
        """Send one request and read its answer (within ``timeout`` seconds)."""
        if self.closed:
            raise ChannelError("protocol", Text("The channel is already closed.",
                                                "Der Kanal ist bereits geschlossen."))
        lines = [f"{method} {self.endpoint.path}{path} HTTP/1.1",
                 f"Host: {self.endpoint.authority}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self._writer.write(head + body)
            await asyncio.wait_for(self._writer.drain(), timeout)
            response = await asyncio.wait_for(self._read_response(), timeout)
        except TimeoutError:
            self.abort()
            raise ChannelError("timeout", Text(
                f"The GWA did not answer within {timeout:.0f} s.",
                f"Der GWA hat nicht innerhalb von {timeout:.0f} s geantwortet.")) from None
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as exc:
            self.abort()
            raise ChannelError("connect", Text(
                f"The connection to the GWA broke: {exc or type(exc).__name__}.",
                f"Die Verbindung zum GWA ist abgebrochen: {exc or type(exc).__name__}.")) from None
        if (response.header("connection") or "").lower() == "close":
            await self.close()
        return response

    async def _read_response(self) -> HttpResponse:
        head = await self._reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            raise ValueError("response header too long")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"bad status line {status_line[:60]!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        response = HttpResponse(int(parts[1]), headers)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            response.body = await self._read_chunked()
        else:
            length = int(headers.get("content-length", "0"))
            if length > MAX_RESPONSE_BYTES:
                raise ValueError("response body too large")
            response.body = await self._reader.readexactly(length) if length else b""
        return response

    async def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(chunks)
            total += size
            if total > MAX_RESPONSE_BYTES:
                raise ValueError("response body too large")
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        """Tear the channel down: TLS ``close_notify``, then close the socket."""
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)

    def abort(self) -> None:
        """Drop the connection at once (no ``close_notify``), as a broken link would."""
        if self.closed:
            return
        self.closed = True
        transport = self._writer.transport
        transport.abort()
