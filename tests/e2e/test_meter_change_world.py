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

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from app.context import OpticalTarget
from app.domain import LogicalName, ServerId
from app.security.pki import DemoPki
from app.sim.meter import MeterProfile, VirtualMeter
from app.sim.relay import Relay
from app.sim.smgw.state import LmnMeter, RegisterValue
from app.transports.gwa import GwaLink
from tests.e2e.conftest import HEAT_PUMP, HOUSEHOLD, SMGW, FlowWorld, flow_world, scenario_doc

#: a meter that is not on the work order (the "wrong meter installed" fault)
STRANGER = "1ESY1160000001"
EMT_PROFILE = "01005e318031.emt-9900123000002.sm"
SPARE_PROFILE = "01005e318027.taf7-2.sm"
PUSH_INTERVAL = 0.2


@dataclasses.dataclass
class MeterSite:
    """The metering point: what ``AppContext.demo`` offers the meter change in demo mode."""

    world: FlowWorld
    meters: dict[str, VirtualMeter]
    head: Relay
    """The read head (the product's relay, as the embedded default's site has one)."""
    installed: str = HOUSEHOLD
    spare: str = HEAT_PUMP
    lmn_unplugged: bool = False
    swaps: int = 0

    @property
    def head_url(self) -> str:
        """The read head's port, as the technician would type it."""
        return f"socket://{self.head.address}"

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
        spare = self.meters[self.spare]
        self.head.face((spare.host, spare.port))


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
        head = Relay(name="read head")
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
            head.face((meters[HOUSEHOLD].host, meters[HOUSEHOLD].port))
            site = MeterSite(world, meters, head, spare=spare, lmn_unplugged=lmn_unplugged)
            world.context.optical = OpticalTarget(f"socket://{head.address}")
            world.context.demo = site
            yield site
        finally:
            await head.stop()
            for meter in meters.values():
                await meter.stop()
