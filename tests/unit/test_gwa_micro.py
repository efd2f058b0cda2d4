"""Shared WAN micro-process helpers: SNTP packets, HTTP ranges, back-off, sealed content, and the
GWA inventory's event de-duplication."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import SmgwId
from app.errors import InvalidValue
from app.processes.micro import sntp
from app.processes.micro.backoff import Backoff
from app.processes.micro.channels import ChannelTimers, check_content_id, parse_endpoint
from app.processes.micro.content import ContentKeys, ContentRejected, decode, open_cms, seal_xml
from app.processes.micro.http_range import (
    ByteRange,
    RangeNotSatisfiable,
    parse_content_range,
    parse_range,
)
from app.protocols.admin import Event, SessionEnd, to_xml
from app.protocols.admin.management import EndReason
from app.sim.gwa.inventory import Inventory

T0 = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)

# --- SNTP -----------------------------------------------------------------------------------------


def test_sntp_offset_of_a_fast_gateway_clock():
    gateway_sent = T0 + dt.timedelta(seconds=100)  # gateway clock 100 s ahead
    request = sntp.new_request(gateway_sent)
    server_rx = T0 + dt.timedelta(milliseconds=10)
    answer = sntp.answer(request.to_bytes(), received=server_rx,
                         transmitted=server_rx + dt.timedelta(milliseconds=1))
    result = sntp.evaluate(request, answer, sent=gateway_sent,
                           arrived=gateway_sent + dt.timedelta(milliseconds=21))
    assert result.offset == pytest.approx(100.0, abs=0.002)
    assert result.delay == pytest.approx(0.020, abs=0.002)


def test_sntp_refuses_an_answer_to_another_request():
    request = sntp.new_request(T0)
    other = sntp.new_request(T0 + dt.timedelta(seconds=1))
    answer = sntp.answer(other.to_bytes(), received=T0, transmitted=T0)
    with pytest.raises(InvalidValue):
        sntp.evaluate(request, answer, sent=T0, arrived=T0)
    with pytest.raises(InvalidValue):
        sntp.answer(b"\x00" * 48, received=T0, transmitted=T0)  # not a client request


@given(st.integers(min_value=0, max_value=2**40))
def test_ntp_timestamps_round_trip(micros):
    moment = T0 + dt.timedelta(microseconds=micros)
    assert abs(sntp.from_ntp(sntp.to_ntp(moment)) - moment) <= dt.timedelta(microseconds=1)


# --- Range ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("bytes=0-99", ByteRange(0, 99, 1000)), ("bytes=900-", ByteRange(900, 999, 1000)),
    ("bytes=-100", ByteRange(900, 999, 1000)), ("bytes=950-2000", ByteRange(950, 999, 1000)),
    ("bytes=0-1,5-6", None), ("items=0-1", None), ("bytes=5-1", None),
])
def test_range_headers(header, expected):
    assert parse_range(header, 1000) == expected


def test_a_range_beyond_the_end_is_not_satisfiable():
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=1000-", 1000)
    assert parse_content_range("bytes 10-19/100") == ByteRange(10, 19, 100)
    assert parse_content_range("bytes 10-200/100") is None


# --- back-off and channel parameters --------------------------------------------------------------


def test_backoff_doubles_up_to_its_maximum_with_jitter():
    exact = Backoff(30, 3600, 0.0)
    assert [exact.next_delay() for _ in range(9)] == [30, 60, 120, 240, 480, 960, 1920, 3600,
                                                      3600]
    exact.reset()
    assert exact.next_delay() == 30
    low, high = Backoff(30, 3600, 0.2, rand=lambda: 0.0), Backoff(30, 3600, 0.2, rand=lambda: 1.0)
    assert (low.next_delay(), high.next_delay()) == (pytest.approx(24), pytest.approx(36))


def test_channel_parameters_are_checked():
    with pytest.raises(InvalidValue):
        ChannelTimers(event_batch_delay=10)
    assert parse_endpoint("https://[::1]:8443/management/v1").authority == "[::1]:8443"
    with pytest.raises(InvalidValue):
        parse_endpoint("http://gwa.example.net/management")
    with pytest.raises(InvalidValue):
        check_content_id("../etc/passwd")


# --- sealed content ------------------------------------------------------------------------------


def _keys(pki, side: str) -> ContentKeys:
    return ContentKeys(pki[f"{side}_sig"], pki[f"{side}_enc"], (pki["root"].cert,),
                       (pki["sub_ca"].cert,))


def test_sealed_content_opens_only_for_the_expected_signer(demo_pki):
    end = SessionEnd(uuid.uuid4(), EndReason.DONE)
    sealed = seal_xml(to_xml(end), _keys(demo_pki, "gwa"), demo_pki["smgw_enc"].cert)
    opened = open_cms(sealed, _keys(demo_pki, "smgw"),
                      expected_signer_sha256=demo_pki["gwa_sig"].sha256)
    assert decode(opened.xml, expect=SessionEnd) == end
    with pytest.raises(ContentRejected) as err:
        open_cms(sealed, _keys(demo_pki, "smgw"),
                 expected_signer_sha256=demo_pki["smgw_sig"].sha256)
    assert err.value.kind == "authentication" and err.value.cms_reason == "wrong_signer"
    assert err.value.signer_sha256 == demo_pki["gwa_sig"].sha256
    with pytest.raises(ContentRejected) as err:  # encrypted for somebody else
        open_cms(sealed, _keys(demo_pki, "gwa"), expected_signer_sha256=demo_pki["gwa_sig"].sha256)
    assert err.value.cms_reason == "wrong_recipient"


def test_an_invalid_document_names_its_request_id():
    xml = (b'<sessionRequest xmlns="urn:smgwct:admin:management:1" '
           b'sessionId="3b0f6c52-8d1e-4c47-9a43-2f5d6e7a8b90" '
           b'requestId="a1c2e3f4-0000-4000-8000-000000000001"><nonsense/></sessionRequest>')
    with pytest.raises(ContentRejected) as err:
        decode(xml, expect=SessionEnd)
    assert err.value.kind == "malformed"
    assert err.value.request_id == uuid.UUID("a1c2e3f4-0000-4000-8000-000000000001")


# --- inventory -----------------------------------------------------------------------------------


def test_the_inventory_stores_each_event_once(demo_pki, tmp_path):
    inv = Inventory(tmp_path / "gwa.sqlite")
    try:
        sid = SmgwId.parse("EDEM0100000001")
        inv.register(sid, demo_pki["smgw_tls"].cert, demo_pki["smgw_sig"].cert,
                     demo_pki["smgw_enc"].cert, ("127.0.0.1", 4059))
        assert [g.smgw_id for g in inv.by_tls_fingerprint(demo_pki["smgw_tls"].sha256)] == [sid]
        assert inv.by_tls_fingerprint(demo_pki["gwa_tls"].sha256) == []
        events = [Event.new("SMGW_STARTED", smgw_id=sid, sequence=n, time=T0) for n in (1, 2)]
        rows = [(e, to_xml(e)) for e in events]
        assert len(inv.store_events(sid, rows)) == 2
        assert inv.store_events(sid, rows) == []  # delivered again: nothing new
        stored = inv.events(sid)
        assert [s.event for s in stored] == events
        assert inv.events(sid, since_seq=stored[0].seq)[0].event == events[1]
    finally:
        inv.close()
