"""Events over INFO-REPORT (5.6/5.7, 5.14) with the persistent queue, and resumable downloads over
ADMIN-SERVICE (5.4/5.5)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os

import pytest

from app.sim.smgw.wan import DownloadError, WanFaults
from tests.integration.test_wan_support import FAST_WAN, M2, SMGW, running_world


async def test_events_arrive_in_order_and_subscribers_hear_them(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        heard = []
        unsubscribe = w.gwa.subscribe_events(heard.append)
        assert (await w.run("meter_profile.create", {"server_id": M2.text})).ok
        assert (await w.run("pairing", {"server_id": M2.text})).ok
        await w.wan.set_wan_address("192.0.2.17")
        events = await w.events()
        assert w.codes(events) == [1001, 4001, 3001, 5001, 1002]
        assert [e.sequence for e in events] == sorted(e.sequence for e in events)
        assert events[0].detail("firmwareVersion") == "4.2.1"
        assert (events[-1].detail("oldAddress"), events[-1].detail("newAddress")) == (
            "127.0.0.1", "192.0.2.17")
        assert [s.event for s in heard] == events  # each new event once, as it arrived
        unsubscribe()
        stored = w.gwa.events(SMGW)
        assert w.gwa.events(SMGW, since_seq=stored[2].seq) == stored[3:]


async def test_queued_events_survive_a_restart_of_the_gateway(demo_pki, tmp_path):
    slow = dataclasses.replace(FAST_WAN, event_batch_delay=5.0)  # nothing leaves before the stop
    async with running_world(demo_pki, tmp_path, timers=slow) as w:
        assert (await w.run("meter_profile.create", {"server_id": M2.text})).ok
        queued = await w.wan.queued_events()
        assert queued == 3  # SMGW_STARTED, PROFILE_CREATED, METER_DETECTED
        assert w.gwa.events(SMGW) == []
        await w.restart_wan()  # fast timers again; the queue is sent at boot
        events = await w.events()
        codes = w.codes(events)
        assert codes == [1001, 4001, 3001, 1001]  # the old queue first, then the new start
        assert len({e.id for e in events}) == len(events)
        assert [e.sequence for e in events] == sorted(e.sequence for e in events)


async def test_events_wait_while_the_gateway_is_offline(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path, wan_faults=WanFaults(silent=True)) as w:
        await w.wan.set_wan_address("192.0.2.99")
        await asyncio.sleep(0.3)
        assert await w.wan.queued_events() == 2 and w.gwa.events(SMGW) == []
        w.wan.faults.silent = False
        await w.wan.set_wan_address("192.0.2.100")
        assert w.codes(await w.events()) == [1001, 1002, 1002]


async def test_events_a_gateway_sends_twice_are_stored_once(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        await w.events()
        queued = await w.wan.store.db.call(w.wan.store.next_events, 10)
        assert queued == []
        # put the acknowledged start event back, as if the acknowledgement had been lost
        from app.protocols.admin import to_xml
        from app.sim.smgw.wan_store import QueuedEvent, StoreChange

        first = w.gwa.events(SMGW)[0].event
        again = QueuedEvent(first.sequence, first.id, first.code, to_xml(first))
        await w.wan.store.db.call(w.wan.store.commit, StoreChange(events=[again]))
        await w.wan.set_wan_address("192.0.2.5")
        events = await w.events()
        assert w.codes(events) == [1001, 1002]
        assert await w.wan.queued_events() == 0


async def test_firmware_download_resumes_with_range_requests(demo_pki, tmp_path):
    image = os.urandom(700_000)
    async with running_world(demo_pki, tmp_path) as w:
        content = w.gwa.publish_content("fw-4.3.0.img", image)
        dest = tmp_path / "download" / "fw.img"
        dest.parent.mkdir()
        first = await w.wan.download("fw-4.3.0.img", dest, max_bytes=300_000, piece=100_000)
        assert not first.complete and first.received == 300_000
        assert not dest.exists() and dest.with_name("fw.img.part").stat().st_size == 300_000
        second = await w.wan.download("fw-4.3.0.img", dest, piece=100_000)
        assert second.complete and second.resumed_from == 300_000
        assert second.received == content.size - 300_000
        assert dest.read_bytes() == image
        assert second.sha256 == hashlib.sha256(image).hexdigest()
        assert w.gwa.content.bytes_served == content.size  # nothing was sent twice
        assert w.gwa.content.requests[3] == "bytes=300000-399999"
        assert not dest.with_name("fw.img.part").exists()


async def test_download_of_unknown_content_fails_clearly(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        with pytest.raises(DownloadError) as err:
            await w.wan.download("fw-9.9.9.img", tmp_path / "x.img")
        assert "404" in err.value.message.en and "404" in err.value.message.de
