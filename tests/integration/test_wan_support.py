"""Shared set-up of the WAN tests: a reference GWA and a virtual SMGW's WAN side on loopback.

(No tests in here; the module name only keeps it next to the tests that import it.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from app.domain import Obis, ServerId, SmgwId
from app.processes.micro.channels import ChannelTimers
from app.protocols.admin import Event
from app.security.pki import DemoPki
from app.sim.gwa.core import GwaFaults, GwaTimers, ReferenceGwa
from app.sim.gwa.processes import ProcessProgress, ProcessResult
from app.sim.smgw.access import HanUser, Role
from app.sim.smgw.state import (
    CertificateState,
    FirmwareComponent,
    GatewayCertificate,
    HanSettings,
    LmnMeter,
    RegisterValue,
    SmgwState,
)
from app.sim.smgw.wan import SmgwCredentials, WanFaults, WanSide

SMGW = "EDEM0100000001"
M1 = ServerId.parse("1EMH0012345678")  # configured and paired
M2 = ServerId.parse("1DZG0042123440")  # on the LMN, not configured yet
M3 = ServerId.parse("1ITF0012345672")  # on the LMN, not configured yet
E180 = Obis.parse("1-0:1.8.0")
E280 = Obis.parse("1-0:2.8.0")
P167 = Obis.parse("1-0:16.7.0")
FIRMWARE_SHA = "53c944917aaac95bb6d95d68dc75b4dfd5d74ac87f6448f7344bd68b321e0393"

FAST_GWA = GwaTimers(wakeup_retry=0.5, wakeup_attempts=3, result_timeout=2.0, method_grace=1.0,
                     max_deliveries=3, session_hold=1.0, process_timeout=15.0)
FAST_WAN = ChannelTimers(connect=3.0, answer=6.0, backoff_initial=0.1, backoff_max=0.5,
                         event_batch_delay=0.02, contact_interval=None)


def registers(base: int) -> list[RegisterValue]:
    return [RegisterValue(E180, base, -1, 30, increase_per_hour=100.0),
            RegisterValue(E280, base // 10, -1, 30),
            RegisterValue(P167, 4215, -1, 27)]


def make_state(pki: DemoPki, *, certificates: CertificateState = CertificateState.WIRKZERTIFIKAT,
               drift: float = 0.0, self_test_interval: float = 600.0) -> SmgwState:
    """A gateway with one paired meter (M1); the WAN certificates in the given state."""
    certs = [
        GatewayCertificate("wan_tls", pki["smgw_tls"].cert_pem, certificates),
        GatewayCertificate("wan_enc", pki["smgw_enc"].cert_pem, certificates),
        GatewayCertificate("wan_sig", pki["smgw_sig"].cert_pem, certificates, 0),
        GatewayCertificate("sub_ca", pki["sub_ca"].cert_pem),
    ]
    service = HanUser.create("service", Role.SERVICE_TECHNICIAN, "srv", realm="smgw",
                             password="x")
    return SmgwState(
        SmgwId.parse(SMGW), vendor="smgwct demo", model="Virtual SMGW 1",
        firmware=[FirmwareComponent("SMGW firmware", "4.2.1", FIRMWARE_SHA)],
        drift_seconds=drift,
        meters=[LmnMeter(M1, paired=True, hdlc_address=16, registers=registers(48213570))],
        han=HanSettings(self_test_interval=self_test_interval), users=[service],
        certificates=certs,
    )


def lmn_meters() -> list[LmnMeter]:
    """Meters wired to the LMN that the GWA has not configured yet."""
    return [LmnMeter(M2, paired=False, hdlc_address=17, registers=registers(15873021)),
            LmnMeter(M3, paired=False, hdlc_address=18, registers=registers(100))]


@dataclasses.dataclass
class World:
    """One reference GWA and one virtual SMGW (WAN side) talking over loopback TLS."""

    pki: DemoPki
    tmp: Path
    gwa: ReferenceGwa
    state: SmgwState
    wan: WanSide
    progress: list[ProcessProgress] = dataclasses.field(default_factory=list)

    async def run(self, process: str, params: dict[str, Any] | None = None) -> ProcessResult:
        return await self.gwa.run_process(SMGW, process, params or {}, self.progress.append)

    async def restart_wan(self, **kwargs: Any) -> WanSide:
        """Stop the WAN side and start a new one on the same database and state."""
        await self.wan.stop()
        self.wan = new_wan(self, **kwargs)
        await self.wan.start()
        self.gwa.register_gateway(SMGW, self.pki["smgw_tls"].cert, self.pki["smgw_sig"].cert,
                                  self.pki["smgw_enc"].cert, self.wan.wakeup_address)
        return self.wan

    async def events(self, *, settle: float = 3.0) -> list[Event]:
        """The events the GWA stored for the gateway, after the gateway's queue is empty."""
        assert await self.wan.flush_events(settle), "the event queue did not drain"
        return [s.event for s in self.gwa.events(SMGW)]

    def codes(self, events: list[Event]) -> list[int]:
        return [e.code for e in events]


def new_wan(world: World, *, faults: WanFaults | None = None, timers: ChannelTimers = FAST_WAN,
            **kwargs: Any) -> WanSide:
    kwargs.setdefault("lmn_meters", lmn_meters())
    kwargs.setdefault("boot_session", False)
    return WanSide(world.state, SmgwCredentials.from_demo_pki(world.pki),
                   db_path=world.tmp / "smgw-wan.sqlite",
                   gwa_profile=world.gwa.communication_profile(), faults=faults, timers=timers,
                   **kwargs)


@contextlib.asynccontextmanager
async def running_world(
    pki: DemoPki, tmp: Path, *, state: SmgwState | None = None,
    gwa_faults: GwaFaults | None = None, gwa_timers: GwaTimers = FAST_GWA,
    wan_faults: WanFaults | None = None, **wan_kwargs: Any,
) -> AsyncIterator[World]:
    gwa = ReferenceGwa(pki, db_path=tmp / "gwa.sqlite", timers=gwa_timers, faults=gwa_faults)
    await gwa.start()
    world = World(pki, tmp, gwa, state or make_state(pki), None)  # type: ignore[arg-type]
    world.wan = new_wan(world, faults=wan_faults, **wan_kwargs)
    try:
        await world.wan.start()
        gwa.register_gateway(SMGW, pki["smgw_tls"].cert, pki["smgw_sig"].cert,
                             pki["smgw_enc"].cert, world.wan.wakeup_address)
        yield world
    finally:
        await world.wan.stop()
        await gwa.stop()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
