"""The GWA's per-gateway session state (sans-I/O): delivery, answers, resumption, the hold."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from app.domain import SmgwId
from app.protocols.admin import (
    CallMethod,
    EndReason,
    ReadDeviceInfo,
    Reason,
    Response,
    SelfTest,
    SessionEnd,
    SessionRequest,
    SessionStart,
    StartReason,
)
from app.sim.gwa.links import GatewayLink

SMGW = SmgwId.parse("EDEM0100000001")


def start(pending: Response | None = None) -> SessionStart:
    reason = StartReason.RESUME if pending else StartReason.SCHEDULE
    return SessionStart(uuid.uuid4(), SMGW, reason, datetime.now(UTC), "4.2.1",
                        pending_result=pending)


async def test_a_request_is_delivered_and_answered_in_the_session():
    link = GatewayLink(SMGW, hold=1.0)
    pending = link.submit(CallMethod(SelfTest()), 5.0)
    s = start()
    link.on_start(s)
    doc = await link.next_document()
    assert isinstance(doc, SessionRequest) and doc.request_id == pending.request_id
    assert pending.delivered.is_set() and link.outstanding is pending
    assert link.on_result(s.session_id, Response.of(doc.request_id, Reason.OK))
    assert pending.future.result().reason is Reason.OK
    end = await link.next_document()  # no demand: ends at once
    assert isinstance(end, SessionEnd) and end.reason is EndReason.DONE
    assert link.session_active is False


async def test_a_session_without_work_ends_with_no_work():
    link = GatewayLink(SMGW, hold=5.0)
    link.on_start(start())
    doc = await asyncio.wait_for(link.next_document(), 1.0)
    assert isinstance(doc, SessionEnd) and doc.reason is EndReason.NO_WORK


async def test_the_post_is_held_while_the_process_prepares_its_next_request():
    link = GatewayLink(SMGW, hold=5.0)
    link.demand = 1
    link.on_start(start())
    waiting = asyncio.ensure_future(link.next_document())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    pending = link.submit(CallMethod(ReadDeviceInfo()), 5.0)
    doc = await asyncio.wait_for(waiting, 1.0)
    assert isinstance(doc, SessionRequest) and doc.request_id == pending.request_id


async def test_the_hold_ends_after_its_time():
    link = GatewayLink(SMGW, hold=0.1)
    link.demand = 1
    link.on_start(start())
    doc = await asyncio.wait_for(link.next_document(), 1.0)
    assert isinstance(doc, SessionEnd)


async def test_a_pending_result_of_a_resumed_session_answers_the_request():
    link = GatewayLink(SMGW, hold=1.0)
    pending = link.submit(CallMethod(SelfTest()), 5.0)
    link.on_start(start())
    await link.next_document()
    # the connection broke before the answer came; the gateway resumes with the stored answer
    link.on_start(start(Response.of(pending.request_id, Reason.OK)))
    assert pending.future.done() and link.outstanding is None


async def test_an_unanswered_request_is_sent_again_with_the_same_id():
    link = GatewayLink(SMGW, hold=1.0)
    pending = link.submit(CallMethod(SelfTest()), 5.0)
    link.on_start(start())
    first = await link.next_document()
    link.requeue(pending)  # the GWA's answer timer ran out
    assert not pending.delivered.is_set() and link.session_active is False
    link.on_start(start())
    again = await link.next_document()
    assert isinstance(again, SessionRequest) and again.request_id == first.request_id
    assert pending.deliveries == 2


async def test_a_result_for_another_session_is_refused():
    link = GatewayLink(SMGW, hold=1.0)
    pending = link.submit(CallMethod(SelfTest()), 5.0)
    link.on_start(start())
    await link.next_document()
    assert link.on_result(uuid.uuid4(), Response.of(pending.request_id, Reason.OK)) is False
    assert not pending.future.done()


async def test_a_dead_connection_does_not_take_the_request():
    link = GatewayLink(SMGW, hold=1.0)
    pending = link.submit(CallMethod(SelfTest()), 5.0)
    link.on_start(start())
    doc = await link.next_document(alive=lambda: False)
    assert isinstance(doc, SessionEnd)
    assert not pending.delivered.is_set() and list(link.queue) == [pending]
