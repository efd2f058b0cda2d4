"""Demo mode end to end: through the embedded default, the tool asks the reference GWA to create a
meter profile, pair the meter, read the profile back, and sees the gateway's events arrive; the
virtual SMGW's HAN side shows the same change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.domain import ServerId
from app.processes.micro.demo import demo_meter_key
from app.protocols.admin import PairingResult
from app.sim.embedded import DEMO_METERS, EmbeddedDefault
from app.transports.gwa import GwaLink

pytestmark = pytest.mark.timeout(90)

NEW_METER = ServerId.parse("1ESY1160000001")


async def test_demo_create_pair_read_and_events(tmp_path: Path):
    demo = EmbeddedDefault(data_dir=tmp_path / "data")
    await demo.start()
    try:
        smgw = demo.context.han.smgw_id
        # the demo also serves a virtual meter per scenario meter on the optical side
        assert set(demo.context.extras[DEMO_METERS]) == {m.server_id.hex
                                                         for m in demo.gateway.meters}
        demo.wan.lmn.meters[NEW_METER] = _lmn_meter_like(demo, NEW_METER)
        async with GwaLink(demo.context.gwa, queue_path=tmp_path / "queue.sqlite3") as link:
            seen: list[int] = []

            async def watch() -> None:
                async for item in link.events(smgw, follow=True):
                    seen.append(item.event.code)

            watcher = asyncio.create_task(watch())
            created = await link.run("meter_profile.create", smgw,
                                     {"server_id": NEW_METER.text})
            assert created.ok, created.summary
            paired = await link.run("pairing", smgw, {"server_id": NEW_METER.text,
                                                      "initial_key": demo_meter_key(NEW_METER)})
            assert paired.ok, paired.summary
            assert isinstance(paired.status.response.result, PairingResult)
            read = await link.run("meter_profile.read", smgw, {"server_id": NEW_METER.text})
            assert read.ok
            assert read.status.response.result.server_id == NEW_METER
            assert await demo.wan.flush_events(5.0)
            for _ in range(100):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.05)
            watcher.cancel()
            assert seen, "no gateway event reached the tool"
        # the HAN side of the same virtual gateway now lists the new meter as paired
        meter = demo.gateway.meter(NEW_METER)
        assert meter is not None and meter.paired
    finally:
        await demo.stop()


def _lmn_meter_like(demo: EmbeddedDefault, server_id: ServerId):
    """A meter wired to the gateway's LMN (installed, not yet configured)."""
    import dataclasses

    template = demo.gateway.meters[0]
    return dataclasses.replace(template, server_id=server_id, paired=False)
