"""A TCP relay on a fixed loopback address (Weiterleitung) for the embedded default's site.

:class:`Relay` forwards every connection to its current target. The demo site uses it twice:

* as the **read head** (Lesekopf): one ``socket://`` address that faces one virtual meter's
  optical interface; :meth:`Relay.face` turns it to another meter (the meter change), as moving
  a real read head would;
* as the **cable in front of the GWA's technician API**: :meth:`Relay.outage` makes the address
  refuse connections for a while and cuts the open ones (GWA unreachable, then back);
  :meth:`Relay.fail_after` starts such an outage when a client begins its n-th request, so the
  failure hits a request in the middle of a flow (which the client sees and retries) and never
  a TLS handshake.

The relay reads nothing of the bytes it forwards but TLS record headers: a request begins where
the client sends application data after the server's last answer (HTTP/1.1, no pipelining).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

#: TLS record type of application data (RFC 5246, 6.2.1)
TLS_APPLICATION_DATA = 0x17
RELISTEN_ATTEMPTS = 20


class _RecordWatch:
    """Follows the TLS record headers of one direction; says when application data passes."""

    def __init__(self) -> None:
        self._header = b""
        self._skip = 0

    def feed(self, data: bytes) -> bool:
        seen = False
        view = memoryview(data)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = 5 - len(self._header)
            self._header += bytes(view[:need])
            view = view[need:]
            if len(self._header) == 5:
                seen = seen or self._header[0] == TLS_APPLICATION_DATA
                self._skip = int.from_bytes(self._header[3:5], "big")
                self._header = b""
        return seen


class Relay:
    """Forward connections on ``host:port`` to ``target``; see the module docstring."""

    def __init__(self, target: tuple[str, int] | None = None, *, host: str = "127.0.0.1",
                 name: str = "relay") -> None:
        self.target = target
        self.host = host
        self.name = name
        self.port = 0
        self.connections = 0
        self.requests = 0
        self.outages = 0
        self._fail_after: tuple[int, float] | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._down = False
        self._stopped = False

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def down(self) -> bool:
        """Whether the relay refuses connections now (an outage)."""
        return self._down

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after an outage)."""
        self._stopped = False
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, cut every connection, end the outage timer (idempotent)."""
        self._stopped = True
        await self._unplug()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()

    def face(self, target: tuple[str, int]) -> None:
        """Forward new connections to ``target``; open ones are cut (the head was lifted)."""
        self.target = target
        self._cut()

    def fail_after(self, requests: int, seconds: float) -> None:
        """Let ``requests`` requests through; when the next one begins, go down for ``seconds``
        (that request is not forwarded: the client sees its connection drop)."""
        self._fail_after = (self.requests + requests, seconds)

    def outage(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` and cut the open ones, then listen again."""
        if self._down or self._stopped:
            return
        self.outages += 1
        self._down = True
        self._spawn(self._outage(seconds))

    async def _outage(self, seconds: float) -> None:
        log.info("%s %s: down for %.1f s", self.name, self.address, seconds)
        await self._unplug()
        try:
            await asyncio.sleep(seconds)
            for attempt in range(RELISTEN_ATTEMPTS):
                if self._stopped:
                    return
                try:
                    await self.start()
                    break
                except OSError:  # the port is still held by the old socket
                    await asyncio.sleep(0.05 * (attempt + 1))
            else:
                log.error("%s: cannot listen on %s again", self.name, self.address)
        finally:
            self._down = False
        log.info("%s %s: back", self.name, self.address)

    async def _unplug(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self._cut()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        target = self.target
        if self._down or target is None:
            writer.transport.abort()
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        conn = _Exchange(self) if self._fail_after is not None else None

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if conn is not None and not conn.passes(data, upstream):
                        return  # the line went down with this request
                    dst.write(data)
                    await dst.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)

    def count_request(self) -> bool:
        """Count a request; ``False`` when it is the one that takes the line down."""
        self.requests += 1
        planned = self._fail_after
        if planned is None or self.requests <= planned[0]:
            return True
        self._fail_after = None
        self.outage(planned[1])
        return False


class _Exchange:
    """The requests and answers of one relayed connection (from the TLS record headers)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.client = _RecordWatch()
        self.server = _RecordWatch()
        self.in_request = False

    def passes(self, data: bytes, upstream: bool) -> bool:
        """Whether ``data`` may pass (client -> server when ``upstream``)."""
        if not upstream:
            if self.server.feed(data):
                self.in_request = False  # the answer is on its way
            return True
        if self.client.feed(data) and not self.in_request:
            self.in_request = True
            return self.relay.count_request()
        return True
