"""The GWA link against the real reference GWA and a virtual SMGW's WAN side: the demo story
(create a meter profile, pair the meter, read the profile back, watch the events arrive) through
the technician API, every hop over real TLS on loopback."""

from __future__ import annotations

import asyncio

import pytest

from app.domain import ServerId
from app.processes.micro.demo import demo_meter_key
from app.protocols.admin import (
    DeviceType,
    JobState,
    LmnComType,
    LmnInterface,
    MeterProfile,
    PairingOutcome,
    PairingResult,
    Reason,
    Step,
)
from app.sim.gwa.technician_api import create_app, start_gwa_server
from app.transports.gwa import GwaLink
from tests.integration.test_gwa_link_support import target_for
from tests.integration.test_wan_support import E180, M2, SMGW, running_world

pytestmark = pytest.mark.timeout(90)

UNKNOWN_METER = ServerId.parse("1ABC0012345678")


async def test_create_pair_read_and_events_through_the_technician_api(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as world:
        handle = await start_gwa_server(
            demo_pki, app=create_app(world.gwa, jobs_path=tmp_path / "technician-jobs.sqlite"))
        try:
            async with GwaLink(target_for(demo_pki, handle.url),
                               queue_path=tmp_path / "queue.sqlite") as link:
                status = await link.status()
                catalog = {p.name: p for p in await link.catalog()}
                assert status.processes_available
                assert catalog["meter_profile.create"].available
                assert not catalog["handover"].available

                seen: list[int] = []

                async def watch() -> None:
                    async for item in link.events(SMGW, follow=True):
                        seen.append(item.event.code)

                watcher = asyncio.create_task(watch())
                profile = MeterProfile(
                    MeterProfile.id_for(M2), 1, M2, DeviceType.ELECTRICITY, True, 900,
                    LmnInterface.WIRED, LmnComType.TLS, (E180,), hdlc_address=17)
                steps: list[Step] = []
                created = await link.run("meter_profile.create", SMGW, {"profile": profile},
                                         progress=lambda e: steps.append(e.step))
                assert created.ok, created.summary
                assert created.status.response.reason is Reason.CREATED
                assert steps.index(Step.WAKE_UP_SENT) < steps.index(Step.RESULT_RECEIVED)
                assert steps[-1] is Step.FINISHED

                paired = await link.run("pairing", SMGW, {"server_id": M2.text,
                                                          "initial_key": demo_meter_key(M2)})
                assert paired.ok, paired.summary
                pairing = paired.status.response.result
                assert isinstance(pairing, PairingResult)
                assert pairing.outcome is PairingOutcome.PAIRED
                assert world.state.meter(M2).paired

                read = await link.run("meter_profile.read", SMGW, {"id": profile.id.text})
                assert read.ok and read.status.response.result == profile

                missing = await link.run("meter_profile.read", SMGW,
                                         {"id": MeterProfile.id_for(UNKNOWN_METER).text})
                assert missing.state is JobState.FAILED
                assert missing.status.failure.reason.value == "rejected-by-gateway"
                assert missing.status.response.reason is Reason.UNKNOWN_PROFILE

                assert await world.wan.flush_events(5.0)
                for _ in range(100):
                    if {4001, 5001} <= set(seen):
                        break
                    await asyncio.sleep(0.05)
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                assert {4001, 5001} <= set(seen)  # profile created, pairing succeeded
        finally:
            await handle.close()

