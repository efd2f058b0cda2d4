"""A complete demo world for the job flows: virtual SMGW (HAN and WAN side on one state), reference
GWA with its technician API, and a "cable" in front of the technician API that can be unplugged.

The embedded default (``app/sim/embedded.py``) runs the same simulators for demo mode; the flow
tests build this world themselves so that they can use short timers, rewrite the scenario, count
the GWA processes and unplug the GWA at chosen moments.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.context import AppContext, GwaTarget, HanTarget
from app.domain import ServerId
from app.processes.engine import Engine, Flow, RunResult
from app.processes.events import Event, StepFailed, StepProgress, TraceLine
from app.processes.flows.gwa_common import LINK_OPTIONS_EXTRA
from app.processes.interaction import ScriptedInteraction
from app.processes.micro.channels import ChannelTimers
from app.resources import resource_path
from app.security.pki import DemoPki
from app.sim.embedded import han_group
from app.sim.gwa.core import GwaTimers, ReferenceGwa
from app.sim.gwa.technician_api import create_app, start_gwa_server
from app.sim.server_handle import ServerHandle
from app.sim.smgw import Scenario, SmgwState, start_han_server
from app.sim.smgw.wan import SmgwCredentials, WanFaults, WanSide
from app.store.audit import AuditLog
from app.store.db import JobStore

SMGW = "EDEM0100000001"
TECHNICIAN = "edem0100000001.srv"
CONSUMER = "edem0100000001.lv"
HOUSEHOLD = "1EMH0012345678"
HEAT_PUMP = "1DZG0042123440"
JOBS = resource_path("demo", "jobs")

FAST_GWA = GwaTimers(wakeup_retry=0.5, wakeup_attempts=3, result_timeout=4.0, method_grace=2.0,
                     max_deliveries=3, session_hold=1.0, process_timeout=30.0)
FAST_WAN = ChannelTimers(connect=3.0, answer=6.0, backoff_initial=0.1, backoff_max=0.5,
                         event_batch_delay=0.02, contact_interval=None)
#: fast retries of the tool's GWA link (the default waits seconds between attempts)
LINK_OPTIONS = {"submit_attempts": 1, "backoff": (0.1, 0.2), "reconnect_for": 5.0,
                "timeout": 10.0, "connect_timeout": 2.0}


def scenario_doc(*, certificates: str = "guetesiegel", unpaired: Sequence[str] = (),
                 faults: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``default.json`` for gateway EDEM0100000001, WAN certificates in ``certificates``."""
    doc = json.loads(resource_path("demo", "default.json").read_text("utf-8"))
    doc = copy.deepcopy(doc)
    doc["name"] = "flows"
    gateway = doc["gateway"]
    gateway["smgw_id"] = SMGW
    gateway["wan_certificates"] = certificates
    gateway["logs"] = {"system_entries": 40, "consumer_entries": 10, "seed": 3}
    for user in gateway["users"]:
        user["name"] = user["name"].replace("ethe0390000001", SMGW.lower())
        user["endpoint"] = user["endpoint"].replace("ethe0390000001", SMGW.lower())
    for meter in gateway["meters"]:
        if meter["server_id"] in unpaired:
            meter["paired"] = False
    doc["faults"] = list(faults)
    return doc


def work_order(name: str = "handover", **changes: Any) -> dict[str, Any]:
    """A demo work order (``resources/demo/jobs/<name>.json``) for this world's gateway, with
    top-level changes."""
    doc = json.loads((JOBS / f"{name}.json").read_text("utf-8"))
    doc["smgw_id"] = SMGW
    doc.update(changes)
    return doc


class Cable:
    """A TCP forwarder in front of a server: ``unplug()`` makes the port refuse connections (and
    cuts open ones) until ``plug()``; the address stays the same."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.host = host
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def plugged(self) -> bool:
        return self._server is not None

    async def plug(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                      reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def unplug(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        if self._server is None:  # unplugged while this connection was being accepted
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                dst.transport.abort() if dst.transport else None

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)


class CountingCore:
    """The reference GWA as the technician API sees it, counting every process it runs and
    calling ``before(process)`` first (tests slow the gateway down or watch the timing)."""

    def __init__(self, gwa: ReferenceGwa) -> None:
        self.gwa = gwa
        self.processes: list[str] = []
        self.before: Callable[[str], Any] | None = None

    async def run_process(self, smgw_id: str, process: str, params: dict[str, Any],
                          progress: Callable[[Any], Any] | None = None) -> Any:
        self.processes.append(process)
        if self.before is not None:
            self.before(process)
        return await self.gwa.run_process(smgw_id, process, params, progress)

    def events(self, smgw_id: str | None = None, since_seq: int = 0) -> list[Any]:
        return self.gwa.events(smgw_id, since_seq)

    def subscribe_events(self, callback: Callable[[Any], Any]) -> Any:
        return self.gwa.subscribe_events(callback)

    def count(self, process: str) -> int:
        return self.processes.count(process)


@dataclass
class FlowWorld:
    """Everything a job flow talks to, and the tool's context pointing at it."""

    tmp: Path
    pki: DemoPki
    scenario_path: Path
    state: SmgwState
    gwa: ReferenceGwa
    core: CountingCore
    wan: WanSide
    han: Any
    tech: ServerHandle
    cable: Cable
    context: AppContext
    events: list[Event] = field(default_factory=list)
    ui: ScriptedInteraction = field(default_factory=lambda: ScriptedInteraction([]))

    @property
    def scenario_name(self) -> str:
        """What the HAN flows load the demo accounts from (demo mode)."""
        return str(self.scenario_path)

    def engine(self, answers: Any = (), **kwargs: Any) -> Engine:
        self.ui = ScriptedInteraction(answers, **kwargs)
        self.events = []
        folder = self.context.data_dir
        assert folder is not None
        engine = Engine(JobStore(folder / "jobs.sqlite3"), AuditLog(folder / "audit.sqlite3"),
                        self.ui, self.context)
        engine.subscribe(self.events.append)
        return engine

    async def run(self, flow: Flow, data: dict[str, Any], answers: Any = (),
                  **kwargs: Any) -> RunResult:
        return await self.engine(answers, **kwargs).run(flow, data)

    def failures(self) -> list[StepFailed]:
        return [e for e in self.events if isinstance(e, StepFailed)]

    def progress(self, step: str | None = None) -> list[str]:
        return [e.message.en for e in self.events
                if isinstance(e, StepProgress) and (step is None or e.step == step)]

    def traces(self, channel: str | None = None) -> list[str]:
        return [f"{e.direction} {e.text}" for e in self.events
                if isinstance(e, TraceLine) and (channel is None or e.channel == channel)]

    def child_config(self) -> dict[str, Any]:
        """What a separate process needs to build the same context (kill-and-resume tests)."""
        han, gwa = self.context.han, self.context.gwa
        assert han is not None and gwa is not None and gwa.client is not None
        assert self.pki.directory is not None
        return {
            "han": {"host": han.host, "port": han.port, "smgw_id": han.smgw_id,
                    "vendor": han.vendor, "user": han.user, "tls_group": han.tls_group},
            "gwa": {"base_url": gwa.base_url, "trust": str(self.pki.directory / "trust.pem"),
                    "certfile": str(gwa.client.certfile), "keyfile": str(gwa.client.keyfile),
                    "tls_group": gwa.tls_group},
            "data_dir": str(self.context.data_dir), "scenario": str(self.scenario_path),
            "link_options": {k: list(v) if isinstance(v, tuple) else v
                             for k, v in LINK_OPTIONS.items()},
        }


@contextlib.asynccontextmanager
async def flow_world(pki: DemoPki, tmp: Path, *, certificates: str = "guetesiegel",
                     unpaired: Sequence[str] = (), faults: Sequence[dict[str, Any]] = (),
                     pairing_rejected: Sequence[str] = ()) -> AsyncIterator[FlowWorld]:
    """Start the world; everything is stopped again afterwards."""
    assert pki.directory is not None
    (pki.directory / "trust.pem").write_bytes(pki.trust_pem())
    scenario_path = tmp / "flows-scenario.json"
    scenario_path.write_text(json.dumps(scenario_doc(certificates=certificates,
                                                     unpaired=unpaired, faults=faults)),
                             "utf-8")
    scenario = Scenario.load(scenario_path)
    state = scenario.build_state(pki)
    gwa = ReferenceGwa(pki, db_path=tmp / "gwa.sqlite", timers=FAST_GWA)
    await gwa.start()
    stack = contextlib.AsyncExitStack()
    stack.push_async_callback(gwa.stop)
    try:
        wan = WanSide(state, SmgwCredentials.from_demo_pki(pki), db_path=tmp / "smgw-wan.sqlite",
                      gwa_profile=gwa.communication_profile(), timers=FAST_WAN,
                      boot_session=False,
                      faults=WanFaults(pairing_rejected=frozenset(
                          ServerId.parse(s) for s in pairing_rejected)))
        await wan.start()
        stack.push_async_callback(wan.stop)
        gwa.register_gateway(SMGW, pki["smgw_tls"].cert, pki["smgw_sig"].cert,
                             pki["smgw_enc"].cert, wan.wakeup_address)
        han = await start_han_server(state, pki, dialect=scenario.dialect)
        stack.push_async_callback(han.close)
        core = CountingCore(gwa)
        tech = await start_gwa_server(pki, app=create_app(
            core, jobs_path=tmp / "technician-jobs.sqlite", job_timeout=60.0))
        stack.push_async_callback(tech.close)
        cable = Cable((tech.host, tech.port))
        await cable.plug()
        stack.push_async_callback(cable.unplug)
        context = AppContext(data_dir=tmp / "data")
        context.han = HanTarget(host="127.0.0.1", port=han.port, smgw_id=SMGW, vendor="theben",
                                user=TECHNICIAN, tls_group=han_group(pki))
        context.gwa = GwaTarget(base_url=cable.url, trust_pem=pki.trust_pem(),
                                client=pki.tls_chain("technician"), tls_group=pki.curve)
        context.extras[LINK_OPTIONS_EXTRA] = dict(LINK_OPTIONS)
        world = FlowWorld(tmp, pki, scenario_path, state, gwa, core, wan, han, tech, cable,
                          context)
        context.demo = world
        yield world
    finally:
        await stack.aclose()


@pytest.fixture
async def world(demo_pki: DemoPki, tmp_path: Path) -> AsyncIterator[FlowWorld]:
    """The default world: gateway in delivery state (Gütesiegel), both meters paired."""
    async with flow_world(demo_pki, tmp_path) as w:
        yield w
