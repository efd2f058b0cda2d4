"""The reference GWA's UDP services: the wake-up sender (5.1) and the time service (5.13)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from app.errors import InvalidValue
from app.processes.micro import sntp

log = logging.getLogger(__name__)


class _Sender(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:
        log.debug("wake-up datagram not delivered: %s", exc)


async def send_datagram(address: tuple[str, int], data: bytes) -> None:
    """Send one UDP datagram to ``address`` (no answer is expected: 5.1)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Sender, remote_addr=address)
    try:
        transport.sendto(data)
    finally:
        transport.close()


class _TimeProtocol(asyncio.DatagramProtocol):
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        received = self._clock()
        try:
            reply = sntp.answer(data, received=received, transmitted=self._clock())
        except InvalidValue:
            return  # not an SNTP request: ignored, as time servers do
        if self.transport is not None:
            self.transport.sendto(reply, addr)
            self.answered += 1


class TimeService:
    """An SNTP server answering with the GWA's clock (the ``time`` address of its profile)."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _TimeProtocol | None = None

    async def start(self, host: str, port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _TimeProtocol(self._clock), local_addr=(host, port))
        self._transport, self._protocol = transport, protocol
        sock = transport.get_extra_info("sockname")
        return sock[0], int(sock[1])

    @property
    def answered(self) -> int:
        return self._protocol.answered if self._protocol else 0

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
