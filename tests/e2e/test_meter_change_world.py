"""The training site of a meter change: the flow world of ``conftest.py`` plus what a technician
touches physically - virtual meters behind their optical interfaces, the site's read head, and
the meter cabinet where the old meter is swapped for the spare one.

(Support module of the meter change tests and the kill-and-resume test; it holds no tests of
its own. Demo mode has the same site in the embedded default's ``meter-change`` scenario.)

The gateway starts in normal operation with the household meter ``1EMH0012345678`` (two
evaluation profiles read it) and without the heat pump meter ``1DZG0042123440``, which waits,
unpaired and not wired, as the spare meter of the demo work order ``meter-change``. The read
head is a TCP forwarder with one fixed ``socket://`` address: the swap turns it from the old
meter's optical interface to the installed one's, as moving a real read head would.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from app.context import OpticalTarget
from app.domain import LogicalName, ServerId
from app.security.pki import DemoPki
from app.sim.meter import MeterProfile, VirtualMeter
from app.sim.smgw.state import LmnMeter, RegisterValue
from app.transports.gwa import GwaLink
from tests.e2e.conftest import HEAT_PUMP, HOUSEHOLD, SMGW, FlowWorld, flow_world, scenario_doc

#: a meter that is not on the work order (the "wrong meter installed" fault)
STRANGER = "1ESY1160000001"
EMT_PROFILE = "01005e318031.emt-9900123000002.sm"
SPARE_PROFILE = "01005e318027.taf7-2.sm"
PUSH_INTERVAL = 0.2


class ReadHead:
    """The site's optical read head: one ``socket://`` address, forwarding each connection to the
    optical interface of the meter it faces (``face``)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.target: tuple[str, int] | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def face(self, meter: VirtualMeter) -> None:
        self.target = (meter.host, meter.port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.target is None:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)


@dataclasses.dataclass
class MeterSite:
    """The metering point: what ``AppContext.demo`` offers the meter change in demo mode."""

    world: FlowWorld
    meters: dict[str, VirtualMeter]
    head: ReadHead
    installed: str = HOUSEHOLD
    spare: str = HEAT_PUMP
    lmn_unplugged: bool = False
    swaps: int = 0

    @property
    def scenario_name(self) -> str:
        """Where the HAN flows take the demo accounts from."""
        return self.world.scenario_name

    def lmn(self, server_id: str) -> LmnMeter:
        return self.world.wan.lmn.meters[ServerId.parse(server_id)]

    async def swap_meter(self, old: str, new: str) -> None:
        """The technician's hands: the old meter leaves the cabinet and the LMN, the spare one
        (``new`` on a good day) is installed, wired (unless ``lmn_unplugged``) and the read head
        faces it. Calling it again changes nothing."""
        self.swaps += 1
        if self.installed == self.spare:
            return
        self.lmn(old).present = False
        self.lmn(self.spare).present = not self.lmn_unplugged
        self.installed = self.spare
        self.head.face(self.meters[self.spare])


def _meter_entry(doc: dict[str, Any], server_id: str) -> dict[str, Any]:
    return next(m for m in doc["gateway"]["meters"] if m["server_id"] == server_id)


def stranger_entry() -> dict[str, Any]:
    return {"server_id": STRANGER, "paired": False, "present": False, "hdlc_address": 18,
            "registers": [{"obis": "1-0:1.8.0*255", "value": 7001, "scaler": -1, "unit": 30},
                          {"obis": "1-0:2.8.0*255", "value": 0, "scaler": -1, "unit": 30}]}


def _lmn_meter(entry: dict[str, Any]) -> LmnMeter:
    from app.domain import Obis

    registers = [RegisterValue(Obis.parse(r["obis"]), int(r["value"]), int(r.get("scaler", 0)),
                               int(r.get("unit", 30)),
                               increase_per_hour=float(r.get("increase_per_hour", 0.0)))
                 for r in entry["registers"]]
    return LmnMeter(ServerId.parse(entry["server_id"]), paired=False, present=False,
                    hdlc_address=entry.get("hdlc_address"), registers=registers)


async def prepare_gateway(world: FlowWorld) -> None:
    """The state before the visit: the heat pump meter and its profile are not at the gateway
    (the EMT profile the evaluation profiles refer to is installed by the virtual SMGW itself);
    the process counter starts at zero afterwards."""
    gwa = world.context.gwa
    assert gwa is not None
    assert world.wan.book.communication(LogicalName.parse(EMT_PROFILE)) is not None
    options = world.context.extras["gwa_link_options"]
    async with GwaLink(gwa, queue_path=world.tmp / "setup-queue.sqlite", **options) as link:
        for process, params in (("evaluation_profile.delete", {"id": SPARE_PROFILE}),
                                ("meter_profile.delete", {"server_id": HEAT_PUMP})):
            result = await link.run(process, SMGW, params)
            assert result.ok, (process, result.summary.en)
    spare = world.wan.lmn.meters[ServerId.parse(HEAT_PUMP)]
    spare.paired, spare.present = False, False
    world.core.processes.clear()


@contextlib.asynccontextmanager
async def meter_change_world(pki: DemoPki, tmp: Path, *, spare: str = HEAT_PUMP,
                             lmn_unplugged: bool = False,
                             pairing_rejected: Sequence[str] = ()) -> AsyncIterator[MeterSite]:
    """The flow world in normal operation, prepared for the demo meter change; ``spare`` is the
    meter the swap installs (``STRANGER``: the wrong one)."""
    async with flow_world(pki, tmp, certificates="wirkzertifikat",
                          pairing_rejected=pairing_rejected) as world:
        await prepare_gateway(world)
        doc = scenario_doc()
        entries = {HOUSEHOLD: _meter_entry(doc, HOUSEHOLD), HEAT_PUMP: _meter_entry(doc, HEAT_PUMP),
                   STRANGER: stranger_entry()}
        stranger = _lmn_meter(entries[STRANGER])
        clock = world.state.clock
        stranger.anchor(clock.now())
        world.wan.lmn.meters[stranger.server_id] = stranger
        meters: dict[str, VirtualMeter] = {}
        head = ReadHead()
        try:
            for sid, entry in entries.items():
                profile = MeterProfile.from_dict({**entry, "push_interval": PUSH_INTERVAL})
                # one meter, one set of registers: the optical interface shows what the
                # gateway reads over the LMN
                lmn = world.wan.lmn.meters[ServerId.parse(sid)]
                meters[sid] = VirtualMeter(
                    profile, source=lambda m=lmn: m.values_at(clock.now()))  # type: ignore[misc]
                await meters[sid].start()
            await head.start()
            head.face(meters[HOUSEHOLD])
            site = MeterSite(world, meters, head, spare=spare, lmn_unplugged=lmn_unplugged)
            world.context.optical = OpticalTarget(head.url)
            world.context.demo = site
            yield site
        finally:
            await head.stop()
            for meter in meters.values():
                await meter.stop()
