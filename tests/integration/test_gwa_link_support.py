"""Helpers of the GWA link tests (no tests here): a scripted GWA core, a TCP relay whose
connections can be cut, and a server starter."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from app.context import GwaTarget
from app.domain import SmgwId
from app.errors import Text
from app.protocols.admin import Event, MeterSubject
from app.security.pki import DemoPki
from app.sim.gwa.technician_api import create_app, start_gwa_server
from app.sim.server_handle import ServerHandle

SMGW = "EDEM0100000001"
STEPS = ("wake-up-sent", "session-started", "request-sent", "result-received", "session-ended")


@dataclass
class Progress:
    step: str
    detail: str | None = None
    event: Event | None = None


@dataclass
class Result:
    ok: bool
    data: Any = None
    error_code: str | None = None
    error_text: Text | None = None


@dataclass
class Stored:
    seq: int
    smgw_id: str
    event: Event


@dataclass
class FakeGwa:
    """Stands in for ``ReferenceGwa``: counts runs, reports the usual steps, stores events.

    ``hold`` makes a run wait after the given number of steps until :meth:`release`.
    """

    steps: tuple[str, ...] = STEPS
    step_delay: float = 0.01
    result: Callable[[str, dict[str, Any]], Result] = lambda _p, _params: Result(True)
    hold_after: int | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    stored: list[Stored] = field(default_factory=list)
    subscribers: list[Callable[[Any], Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._gate = asyncio.Event()
        self.reached_hold = asyncio.Event()

    def release(self) -> None:
        self._gate.set()

    async def run_process(self, smgw_id: str, process: str, params: dict[str, Any],
                          progress: Callable[[Any], Any] | None = None) -> Result:
        self.calls.append((smgw_id, process, params))
        for i, step in enumerate(self.steps):
            if self.hold_after is not None and i == self.hold_after:
                self.reached_hold.set()
                await self._gate.wait()
            await asyncio.sleep(self.step_delay)
            if progress is not None:
                done = progress(Progress(step, f"{process}: {step}"))
                if done is not None:
                    await done
        return self.result(process, params)

    def events(self, smgw_id: str | None = None, since_seq: int = 0) -> list[Stored]:
        return [s for s in self.stored
                if s.seq > since_seq and (smgw_id is None or s.smgw_id == smgw_id)]

    def subscribe_events(self, callback: Callable[[Any], Any]) -> Callable[[], None]:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def publish(self, name: str = "METER_DETECTED", smgw_id: str = SMGW) -> Stored:
        from app.domain import ServerId

        sequence = len([s for s in self.stored if s.smgw_id == smgw_id]) + 1
        subject = MeterSubject(ServerId.parse("1EMH0012345678")) if name.startswith(
            ("METER", "PAIRING")) else None
        event = Event.new(name, smgw_id=SmgwId(smgw_id), sequence=sequence, subject=subject,
                          details={"note": f"n{sequence}"})
        stored = Stored(len(self.stored) + 1, smgw_id, event)
        self.stored.append(stored)
        for callback in list(self.subscribers):
            callback(stored)
        return stored


def target_for(pki: DemoPki, url: str, *, client_pki: DemoPki | None = None,
               trust_pki: DemoPki | None = None) -> GwaTarget:
    return GwaTarget(
        base_url=url,
        trust_pem=(trust_pki or pki).trust_pem(),
        client=(client_pki or pki).tls_chain("technician"),
        tls_group=pki.curve,
    )


async def start_server(pki: DemoPki, core: Any, jobs_path: Path, *, port: int = 0,
                       middlewares: tuple[Any, ...] = (), **kwargs: Any) -> ServerHandle:
    app = create_app(core, jobs_path=jobs_path, middlewares=middlewares, **kwargs)
    return await start_gwa_server(pki, port=port, app=app)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DropRelay:
    """A TCP relay in front of the GWA (TLS passes through unchanged); :meth:`cut` drops every
    open connection at once, like a mobile link going away."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> DropRelay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.cuts += 1
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def lose_post_answers(state: dict[str, int]) -> Any:
    """Middleware: let POST /processes run, then drop the connection instead of answering
    while ``state["lose"]`` > 0 (the request reached the GWA, the answer is lost)."""

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        response = await handler(request)
        if request.method == "POST" and state.get("lose", 0) > 0:
            state["lose"] -= 1
            state["lost"] = state.get("lost", 0) + 1
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("answer lost on purpose")
        return response

    return middleware


def new_key() -> uuid.UUID:
    return uuid.uuid4()
