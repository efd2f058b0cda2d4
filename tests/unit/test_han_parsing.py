"""Reading CONEXA answers without a network: lenient where firmware varies, strict on types,
and never anything but a HanProtocolError for garbage."""

from __future__ import annotations

import binascii
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from app.errors import InvalidValue
from app.transports.han.base import LogKind
from app.transports.han.errors import HanLockedOut, HanProtocolError, HanTimeout, format_duration
from app.transports.han.http import HanResponse
from app.transports.han.state_code import StateFlag, decode_state, encode_state
from app.transports.han.theben import (
    _log_items,
    countdown_seconds,
    parse_certificates,
    parse_log_entry,
)


def _response(body: bytes = b"", **headers: str) -> HanResponse:
    return HanResponse(403, CIMultiDictProxy(CIMultiDict(headers)), body, "https://gw/")


def test_certificates_in_every_encoding_the_field_shows(demo_pki) -> None:
    han_pem_hex = binascii.hexlify(demo_pki["han"].cert_pem).decode()
    sig_der_hex = binascii.hexlify(demo_pki["smgw_sig"].cert_der).decode().upper()
    sub_pem = demo_pki["sub_ca"].cert_pem.decode()
    records = parse_certificates({
        "han": {"tls": han_pem_hex},
        "smgw": [{"cert-index": "2", "sig": sig_der_hex, "sub-ca": sub_pem},
                 {"cert-index": 0, "sig": sig_der_hex}],
    })
    by_role = {(r.role, r.index) for r in records}
    assert by_role == {("han_tls", None), ("wan_sig", 2), ("sub_ca", None), ("wan_sig", 0)}
    states = {r.index: r.state for r in records if r.role == "wan_sig"}
    assert states == {0: "guetesiegel", 2: "wirkzertifikat"}
    assert next(r for r in records if r.role == "han_tls").sha256 == demo_pki["han"].sha256


def test_unreadable_certificate_names_the_field() -> None:
    with pytest.raises(HanProtocolError) as info:
        parse_certificates({"han": {"tls": "zz-not-hex"}})
    assert info.value.field == "certificates.han.tls"
    with pytest.raises(HanProtocolError):
        parse_certificates({"han": {"tls": "00ff"}})


def test_log_entry_accepts_numbers_as_text_or_numbers() -> None:
    entry = parse_log_entry(LogKind.SYSTEM, {
        "record-number": 17, "time": "2026-03-02T10:00:00+01:00", "event-id": 16001,
        "level": "2", "message": "3 meter values sent", "subject-identity": "x.taf7-1.sm",
    }, "log[0]")
    assert entry.index == 17 and entry.level == 2 and entry.event_id == "16001"
    assert entry.time.utcoffset().total_seconds() == 3600
    assert entry.level_text.de == "Warnung"


@pytest.mark.parametrize(
    ("item", "field"),
    [({"index": True, "time": "2026-01-01T00:00:00Z"}, "log[3].index"),
     ({"index": "1", "time": "yesterday"}, "log[3].time"),
     ({"index": "1", "time": "2026-01-01T00:00:00Z", "level": [1]}, "log[3].level"),
     ("not an object", "log[3]")],
)
def test_log_entry_wrong_types(item, field: str) -> None:
    with pytest.raises(HanProtocolError) as info:
        parse_log_entry(LogKind.CONSUMER, item, "log[3]")
    assert info.value.field == field


def test_log_list_shapes() -> None:
    assert _log_items([{"a": 1}]) == [{"a": 1}]
    assert _log_items({"count": "1", "log-entries": [1]}) == [1]
    assert _log_items({"whatever": [2]}) == [2]
    assert _log_items({}) == []
    with pytest.raises(HanProtocolError):
        _log_items({"count": "3"})


def test_countdown_from_header_json_or_text() -> None:
    assert countdown_seconds(_response(b"{}", **{"Retry-After": "120"})) == 120
    assert countdown_seconds(_response(b'{"remaining-seconds": 42}')) == 42
    german = "Das Portal ist für 4 Minuten und 37 Sekunden gesperrt".encode()
    assert countdown_seconds(_response(german)) == 277
    assert countdown_seconds(_response(b"<html>gesperrt</html>")) is None


def test_state_code_round_trip_and_errors() -> None:
    flags = StateFlag.RUNNING | StateFlag.TIME_VALID | StateFlag.SECURE_MEASUREMENT
    code = encode_state(flags)
    assert code == "e1000000"  # the summary bit is added
    decoded = decode_state("0xE1000000")
    assert decoded.secure_states == ("measurement",) and not decoded.normal
    assert decode_state("a0000001").unknown_bits == 1
    assert "unknown bits" in decode_state("a0000001").describe().en
    assert "nicht in Betrieb" in decode_state("00000000").describe().de
    with pytest.raises(InvalidValue):
        decode_state("a000000")


def test_error_texts_carry_a_next_step() -> None:
    locked = HanLockedOut(277)
    assert "4 min 37 s" in locked.describe("en") and "4 Min. 37 s" in locked.describe("de")
    assert locked.hint is not None and "Wait" in locked.hint.en
    timeout = HanTimeout("logs", 20)
    assert "20 s" in timeout.describe("en") and "20 s" in timeout.describe("de")
    assert format_duration(59.2).en == "1 min 0 s"


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["index", "time", "level", "event-id", "message", "x"]), inner,
        max_size=5),
    max_leaves=12,
))
def test_garbage_log_entries_only_raise_protocol_errors(item) -> None:
    with contextlib.suppress(HanProtocolError):
        parse_log_entry(LogKind.SYSTEM, item, "log[0]")


@given(st.dictionaries(st.sampled_from(["han", "smgw", "cert-index", "sig", "tls"]),
                       st.recursive(st.text(max_size=20) | st.integers(),
                                    lambda inner: st.lists(inner, max_size=3)
                                    | st.dictionaries(st.sampled_from(["cert-index", "sig",
                                                                       "tls", "sub-ca"]),
                                                      inner, max_size=3),
                                    max_leaves=8),
                       max_size=3))
def test_garbage_certificates_only_raise_protocol_errors(obj) -> None:
    with contextlib.suppress(HanProtocolError):
        parse_certificates(obj)
