"""The bad cases of the WAN micro-processes: refused wake-ups, forged or damaged content, unreadable
documents, dropped connections and duplicated requests. Nothing may be half-applied or run twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from app.protocols import wakeup
from app.protocols.admin import ProfileKind, Reason
from app.sim.gwa.core import GwaFaults
from app.sim.gwa.udp import send_datagram
from app.sim.smgw.wan import WanFaults
from tests.integration.test_wan_support import FAST_GWA, M1, M2, SMGW, running_world

# --- wake-up (5.1): no session for a bad packet --------------------------------------------------


async def _until(check, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_bad_wake_up_packets_open_no_session(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        target = w.wan.wakeup_address
        signer = demo_pki["gwa_sig"]
        good = wakeup.build(SMGW, signer)
        tampered = good[:-1] + bytes([good[-1] ^ 0x01])
        stale = wakeup.build(SMGW, signer, created=dt.datetime.now(dt.UTC)
                             - dt.timedelta(minutes=30))
        other = wakeup.build("EDEM0100000002", signer)
        forged = wakeup.build(SMGW, demo_pki["smgw_sig"], with_key_id=False)
        for datagram in (tampered, stale, other, forged):
            await send_datagram(target, datagram)
        expected = {"signature": 2, "too_old": 1, "addressee": 1}
        await _until(lambda: dict(w.wan.stats.wakeups_rejected) == expected)
        await asyncio.sleep(0.2)
        assert w.wan.stats.sessions == 0 and w.wan.stats.wakeups_accepted == 0
        refusals = [e for e in w.state.system_log.entries if e.event_id == 11011]
        assert len(refusals) == 4
        reported = [e for e in await w.events() if e.code == 2003]
        assert sorted(e.detail("reason") for e in reported) == ["addressee", "signature",
                                                                 "too_old"]


async def test_a_replayed_wake_up_packet_opens_no_second_session(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        datagram = wakeup.build(SMGW, demo_pki["gwa_sig"])
        await send_datagram(w.wan.wakeup_address, datagram)
        await _until(lambda: w.wan.stats.sessions == 1)
        await send_datagram(w.wan.wakeup_address, datagram)
        await _until(lambda: w.wan.stats.wakeups_rejected["replay"] == 1)
        await asyncio.sleep(0.3)
        assert w.wan.stats.sessions == 1 and w.wan.stats.wakeups_accepted == 1


# --- content (5.8-5.11): forged or damaged requests are not carried out --------------------------


async def test_a_request_signed_by_another_key_is_refused(demo_pki, tmp_path):
    faults = GwaFaults(sign_requests_with=demo_pki["technician"])
    async with running_world(demo_pki, tmp_path, gwa_faults=faults) as w:
        result = await w.run("meter_profile.create", {"server_id": M2.text})
        assert not result.ok and result.error_code == "rejected-by-gateway"
        assert (result.response.status, result.response.reason) == (403, Reason.NOT_AUTHENTICATED)
        assert w.wan.stats.requests_refused_unauthenticated == 1
        assert w.wan.stats.requests_carried_out == 0
        assert w.wan.book.meter_profile(M2) is None and w.state.meter(M2) is None
        mismatch = [e for e in await w.events() if e.code == 2002]
        assert mismatch and mismatch[0].detail("actualFingerprint") == \
            demo_pki["technician"].sha256


async def test_a_tampered_request_is_refused(demo_pki, tmp_path):
    def flip(der: bytes) -> bytes:
        # the second-to-last cipher block holds the end of the inner signature (CBC: that block
        # decrypts to garbage and one bit of the padding block flips)
        at = len(der) - 20
        return der[:at] + bytes([der[at] ^ 0x40]) + der[at + 1:]

    async with running_world(demo_pki, tmp_path,
                             gwa_faults=GwaFaults(tamper_request_cms=flip)) as w:
        result = await w.run("crypto_reset", {"server_id": M1.text})
        assert result.response.reason is Reason.NOT_AUTHENTICATED
        assert w.state.meter(M1).paired is True  # not carried out
        assert w.wan.stats.requests_carried_out == 0
        assert 2002 in w.codes(await w.events())


async def test_a_schema_invalid_request_is_answered_malformed(demo_pki, tmp_path):
    def break_schema(xml: bytes) -> bytes:
        return xml.replace(b"<sampleRate>900</sampleRate>", b"<sampleRate>soon</sampleRate>")

    async with running_world(demo_pki, tmp_path,
                             gwa_faults=GwaFaults(mangle_request_xml=break_schema)) as w:
        result = await w.run("meter_profile.create", {"server_id": M2.text})
        assert not result.ok
        assert (result.response.status, result.response.reason) == (400, Reason.MALFORMED)
        assert "sampleRate" in (result.response.detail or "")
        assert w.wan.stats.requests_malformed == 1 and w.wan.stats.requests_carried_out == 0
        assert w.wan.book.meter_profile(M2) is None


async def test_an_unknown_document_version_is_answered_unsupported(demo_pki, tmp_path):
    def newer(xml: bytes) -> bytes:
        return xml.replace(b"admin:meter-profile:1", b"admin:meter-profile:2")

    faults = GwaFaults(mangle_request_xml=newer)
    async with running_world(demo_pki, tmp_path, gwa_faults=faults) as w:
        result = await w.run("meter_profile.create", {"server_id": M2.text})
        assert (result.response.status, result.response.reason) == (
            400, Reason.UNSUPPORTED_VERSION)
        assert w.wan.book.meter_profile(M2) is None


# --- dropped sessions (5.3, 5.16) ----------------------------------------------------------------


async def test_a_dropped_session_resumes_with_the_stored_answer(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path,
                             wan_faults=WanFaults(drop_before_result=1)) as w:
        result = await w.run("meter_profile.create", {"server_id": M2.text})
        assert result.ok, result.error
        assert result.response.status == 201
        assert w.wan.stats.sessions == 2  # the dropped one and the resumed one
        assert w.wan.stats.requests_carried_out == 1
        assert w.wan.book.meter_profile(M2).revision == 1
        assert w.codes(await w.events()).count(4001) == 1
        pending: list[object] = [True]

        async def delivered() -> None:
            while pending[0] is not None:
                pending[0] = await w.wan.store.db.call(w.wan.store.pending_answer)
                await asyncio.sleep(0.02)

        await asyncio.wait_for(delivered(), 3.0)  # the stored answer counts as delivered


async def test_a_process_fails_cleanly_when_the_gateway_goes_silent(demo_pki, tmp_path):
    # read, then silence: the update never reaches the gateway
    async with running_world(demo_pki, tmp_path, wan_faults=WanFaults(silent_after=1)) as w:
        result = await w.run("meter_profile.update",
                             {"server_id": M1.text, "changes": {"active": False}})
        assert not result.ok
        assert result.error_code in ("wake-up-unanswered", "session-dropped")
        profile = w.wan.book.meter_profile(M1)
        assert (profile.revision, profile.active) == (1, True)  # nothing applied
        w.wan.faults.silent = False
        again = await w.run("meter_profile.update",
                            {"server_id": M1.text, "changes": {"active": False}})
        assert again.ok, again.error
        assert w.wan.book.meter_profile(M1).revision == 2


async def test_a_request_carried_out_before_the_drop_is_complete(demo_pki, tmp_path):
    # read and update carried out, then silence before the update's answer went out
    async with running_world(demo_pki, tmp_path, wan_faults=WanFaults(silent_after=2)) as w:
        result = await w.run("meter_profile.update",
                             {"server_id": M1.text, "changes": {"hdlc_address": 42}})
        assert not result.ok
        profile = w.wan.book.meter_profile(M1)
        assert (profile.revision, profile.hdlc_address) == (2, 42)  # completely applied ...
        assert w.state.meter(M1).hdlc_address == 42  # ... also in the state the HAN shows
        stored = await w.wan.store.db.call(w.wan.store.profiles)
        assert [p.revision for p in stored if p.kind == "meter" and "1emh" in p.id] == [2]
        w.wan.faults.silent = False
        read = await w.run("meter_profile.read", {"server_id": M1.text})
        assert read.ok and read.response.result.revision == 2
        assert w.wan.stats.requests_carried_out == 3


async def test_a_duplicated_request_runs_once(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        link = w.gwa.link(SMGW)
        link.repeat_requests = 1
        result = await w.run("meter_profile.create", {"server_id": M2.text})
        assert result.ok, result.error
        await _until(lambda: link.repeated_answers)  # the repeat follows the first answer
        assert w.wan.stats.requests_carried_out == 1
        assert w.wan.stats.requests_repeated == 1
        assert link.repeated_answers == [result.response]  # the stored answer, not a 409
        assert w.codes(await w.events()).count(4001) == 1
        assert any(e.event_id == 11021 for e in w.state.system_log.entries)


async def test_a_late_answer_and_a_resent_request_run_once(demo_pki, tmp_path):
    timers = dataclasses.replace(FAST_GWA, result_timeout=0.4)
    async with running_world(demo_pki, tmp_path, gwa_timers=timers,
                             wan_faults=WanFaults(stall_before_result=1.0)) as w:
        result = await w.run("meter_profile.create", {"server_id": M2.text})
        assert result.ok, result.error
        assert w.wan.stats.requests_carried_out == 1
        assert w.wan.book.get(ProfileKind.METER, result.response.result.id).revision == 1
        assert w.codes(await w.events()).count(4001) == 1


# --- AUTH state (5.8): the peer certificate is checked against the profile and the inventory -----


async def test_the_gateway_pins_the_gwa_certificate_before_sending_anything(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        good = w.wan.gwa_profile()
        w.wan.book.put(dataclasses.replace(good, tls_fingerprint="ab" * 32))
        refused_before = w.gwa.channels.refused_unknown
        w.wan.trigger_session()
        await _until(lambda: w.wan.stats.channel_failures >= 1)
        assert w.wan.stats.sessions == 0 and w.gwa.channels.sessions == {}
        assert w.gwa.channels.refused_unknown == refused_before  # no HTTP reached the GWA
        assert any("changed" in e.message for e in w.state.system_log.entries
                   if e.event_id == 11003)
        w.wan.book.put(good)  # the right profile again: the queued event 2002 goes out
        w.wan.trigger_session()
        mismatch = [e for e in await w.events() if e.code == 2002]
        assert mismatch[0].detail("actualFingerprint") == demo_pki["gwa_tls"].sha256


async def test_the_gwa_refuses_a_gateway_certificate_not_in_its_inventory(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        w.gwa.register_gateway(SMGW, demo_pki["technician"].cert, demo_pki["smgw_sig"].cert,
                               demo_pki["smgw_enc"].cert, w.wan.wakeup_address)
        result = await w.run("device_info")
        assert not result.ok and result.error_code == "wake-up-unanswered"
        assert w.gwa.channels.refused_unknown >= 1
        assert w.wan.stats.requests_carried_out == 0
        assert any("HTTP 403" in e.message for e in w.state.system_log.entries)


async def test_a_taken_wake_up_port_is_reported(demo_pki, tmp_path):
    import socket

    from app.errors import ConfigurationError
    from tests.integration.test_wan_support import new_wan

    async with running_world(demo_pki, tmp_path) as w:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", 0))
            second = new_wan(w, wakeup_port=taken.getsockname()[1])
            second.db_path = tmp_path / "second.sqlite"
            with pytest.raises(ConfigurationError) as err:
                await second.start()
        assert err.value.field == "wakeup_port" and "UDP" in err.value.message.de
