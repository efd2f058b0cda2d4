"""Wake-up packet: layout, round trip, every refusal, replay memory, the documented example."""

from __future__ import annotations

import datetime as dt
import re
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain import SmgwId
from app.errors import InvalidValue, SmgwctError
from app.protocols import wakeup
from app.protocols.wakeup import WakeUpRejected, WakeUpRejection, WakeUpVerifier
from app.security.pki import create_demo_pki

SMGW = "EDEM0100000001"
T0 = dt.datetime(2025, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "05-01-wake-up-packet.md"
BRAINPOOL_P256_ORDER = int(
    "A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7", 16
)


class Clock:
    """A settable clock for the verifier."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def other_pki():
    return create_demo_pki("EDEM0100000002")


@pytest.fixture
def clock():
    return Clock(T0 + dt.timedelta(seconds=2))


@pytest.fixture
def verifier(demo_pki, clock):
    return WakeUpVerifier(SMGW, demo_pki["gwa_sig"].cert, window_seconds=300, skew_seconds=30,
                          clock=clock)


def _build(pki, **kwargs):
    kwargs.setdefault("created", T0)
    return wakeup.build(kwargs.pop("smgw_id", SMGW), pki["gwa_sig"], **kwargs)


def _rejected(verifier, datagram) -> WakeUpRejected:
    with pytest.raises(WakeUpRejected) as excinfo:
        verifier.verify(datagram)
    return excinfo.value


# --------------------------------------------------------------------------- layout, round trip


def test_round_trip(demo_pki, verifier):
    nonce = bytes(range(16))
    datagram = _build(demo_pki, nonce=nonce, valid_for=120)
    packet = verifier.verify(datagram)
    assert packet.version == 1
    assert packet.smgw_id == SmgwId(SMGW)
    assert packet.created == T0
    assert packet.valid_for == 120
    assert packet.nonce == nonce
    assert packet.gwa_key_id == demo_pki["gwa_sig"].cert.fingerprint(hashes.SHA256())
    assert packet.expires == T0 + dt.timedelta(seconds=120)
    assert packet.to_bytes() == datagram


def test_byte_layout(demo_pki):
    nonce = bytes.fromhex("00112233445566778899aabbccddeeff")
    datagram = _build(demo_pki, nonce=nonce, valid_for=300)
    assert len(datagram) == 142
    assert datagram[0:4] == b"SMWU"
    assert datagram[4] == 1
    assert datagram[5] == 0x01
    assert datagram[6:20] == SMGW.encode("ascii")
    assert struct.unpack(">Q", datagram[20:28])[0] == int(T0.timestamp())
    assert struct.unpack(">H", datagram[28:30])[0] == 300
    assert datagram[30:46] == nonce
    assert datagram[46:78] == bytes.fromhex(demo_pki["gwa_sig"].sha256)
    assert len(datagram[78:]) == 64


def test_without_key_id(demo_pki, verifier):
    datagram = _build(demo_pki, with_key_id=False)
    assert len(datagram) == 110
    assert datagram[5] == 0
    assert verifier.verify(datagram).gwa_key_id is None


def test_each_packet_has_a_fresh_nonce(demo_pki):
    assert _build(demo_pki)[30:46] != _build(demo_pki)[30:46]


def test_smgw_id_is_normalised_on_build(demo_pki, verifier):
    assert verifier.verify(_build(demo_pki, smgw_id="e dem01 00000001")).smgw_id.text == SMGW


def test_created_has_second_resolution(demo_pki, verifier):
    packet = verifier.verify(_build(demo_pki, created=T0 + dt.timedelta(microseconds=900_000)))
    assert packet.created == T0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"valid_for": 0}, "valid_for"),
        ({"valid_for": 70_000}, "valid_for"),
        ({"nonce": b"short"}, "nonce"),
        ({"created": dt.datetime(2025, 1, 1)}, "created"),
        ({"smgw_id": "1EMH0012345678"}, "smgw_id"),
    ],
)
def test_build_refuses_bad_arguments(demo_pki, kwargs, field):
    with pytest.raises(InvalidValue) as excinfo:
        _build(demo_pki, **kwargs)
    assert excinfo.value.field == field


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"",
        lambda d: d[:3],
        lambda d: b"XXXX" + d[4:],
        lambda d: d[:40],
        lambda d: d[:-1],
        lambda d: d[:-2],
        lambda d: d[:78],
        lambda d: d + bytes(400),
        lambda d: d[:5] + b"\x03" + d[6:],  # unknown flag bit
        lambda d: d[:6] + b"edem0100000001" + d[20:],  # not canonical
        lambda d: d[:6] + b"EDEM01000000\xff1" + d[20:],
        lambda d: d[:28] + b"\x00\x00" + d[30:],  # valid for 0 s
        lambda d: d[:20] + b"\xff" * 8 + d[28:],  # created beyond year 9999
    ],
)
def test_malformed(demo_pki, verifier, damage):
    err = _rejected(verifier, damage(_build(demo_pki)))
    assert err.reason is WakeUpRejection.MALFORMED
    assert err.field == "wake_up_packet"


def test_wrong_version(demo_pki, verifier):
    datagram = _build(demo_pki)
    err = _rejected(verifier, datagram[:4] + b"\x02" + datagram[5:])
    assert err.reason is WakeUpRejection.VERSION
    assert "version 2" in err.detail


def test_wrong_addressee(demo_pki, verifier):
    err = _rejected(verifier, _build(demo_pki, smgw_id="EDEM0100000002"))
    assert err.reason is WakeUpRejection.ADDRESSEE
    assert "EDEM0100000002" in str(err)
    assert "anderes Gateway" in err.describe("de")


def test_unknown_key(other_pki, verifier):
    err = _rejected(verifier, _build(other_pki))
    assert err.reason is WakeUpRejection.UNKNOWN_KEY


def test_bad_signature_from_a_foreign_key(other_pki, verifier):
    err = _rejected(verifier, _build(other_pki, with_key_id=False))
    assert err.reason is WakeUpRejection.SIGNATURE


def test_bad_signature_after_changing_a_field(demo_pki, verifier):
    datagram = bytearray(_build(demo_pki, valid_for=60))
    datagram[29] = 120  # valid_for 60 -> 120
    assert _rejected(verifier, bytes(datagram)).reason is WakeUpRejection.SIGNATURE
    datagram = bytearray(_build(demo_pki))
    datagram[-1] ^= 0x01
    assert _rejected(verifier, bytes(datagram)).reason is WakeUpRejection.SIGNATURE
    datagram = _build(demo_pki)
    assert _rejected(verifier, datagram[:78] + bytes(64)).reason is WakeUpRejection.SIGNATURE


def test_key_id_names_the_key_but_another_key_signed(demo_pki, other_pki, verifier):
    """Key id of the genuine certificate, signature by someone else."""
    impostor = type(demo_pki["gwa_sig"])(demo_pki["gwa_sig"].cert, other_pki["gwa_sig"].key)
    err = _rejected(verifier, wakeup.build(SMGW, impostor, created=T0))
    assert err.reason is WakeUpRejection.SIGNATURE


def test_validity_boundaries(demo_pki, verifier, clock):
    datagram = _build(demo_pki, valid_for=60)
    clock.now = T0 + dt.timedelta(seconds=60 + 30)  # validity + skew: still accepted
    verifier.verify(datagram)
    clock.now = T0 + dt.timedelta(seconds=60 + 31)
    err = _rejected(verifier, _build(demo_pki, valid_for=60))
    assert err.reason is WakeUpRejection.TOO_OLD
    assert "91 s ago" in err.detail


def test_window_caps_a_long_validity(demo_pki, verifier, clock):
    clock.now = T0 + dt.timedelta(seconds=300 + 30 + 1)
    err = _rejected(verifier, _build(demo_pki, valid_for=3600))
    assert err.reason is WakeUpRejection.TOO_OLD


def test_from_the_future(demo_pki, verifier, clock):
    clock.now = T0 - dt.timedelta(seconds=30)  # GWA clock 30 s ahead: tolerated
    verifier.verify(_build(demo_pki))
    clock.now = T0 - dt.timedelta(seconds=31)
    err = _rejected(verifier, _build(demo_pki))
    assert err.reason is WakeUpRejection.FUTURE
    assert "Zeitsynchronisation" in err.describe("de")


def test_replay(demo_pki, verifier, clock):
    datagram = _build(demo_pki)
    verifier.verify(datagram)
    clock.advance(10)
    assert _rejected(verifier, datagram).reason is WakeUpRejection.REPLAY
    clock.advance(400)
    assert _rejected(verifier, datagram).reason is WakeUpRejection.TOO_OLD


def test_replay_with_malleated_signature(demo_pki, verifier):
    """(r, n - s) is an equally valid ECDSA signature; the nonce still gives the replay away."""
    datagram = _build(demo_pki)
    verifier.verify(datagram)
    r, s = datagram[-64:-32], int.from_bytes(datagram[-32:], "big")
    twin = datagram[:-64] + r + (BRAINPOOL_P256_ORDER - s).to_bytes(32, "big")
    assert twin != datagram
    assert _rejected(verifier, twin).reason is WakeUpRejection.REPLAY


def test_replay_memory_is_bounded_and_never_forgets_unsafely(demo_pki, clock):
    verifier = WakeUpVerifier(SMGW, demo_pki["gwa_sig"].cert, clock=clock, replay_cache_size=3)
    sent = []
    for i in range(10):
        datagram = _build(demo_pki, created=T0 + dt.timedelta(seconds=i))
        verifier.verify(datagram)
        sent.append(datagram)
    assert verifier.remembered == 3
    for datagram in sent:  # evicted ones too: refused, not accepted again
        assert _rejected(verifier, datagram).reason is WakeUpRejection.REPLAY
    clock.advance(20)
    verifier.verify(_build(demo_pki, created=clock.now))  # a new packet still gets through


def test_expired_nonces_are_dropped(demo_pki, verifier, clock):
    for i in range(5):
        verifier.verify(_build(demo_pki, created=T0 + dt.timedelta(seconds=i)))
    assert verifier.remembered == 5
    clock.advance(400)
    verifier.verify(_build(demo_pki, created=clock.now))
    assert verifier.remembered == 1


def test_clock_set_back_does_not_reopen_replays(demo_pki, verifier, clock):
    datagram = _build(demo_pki)
    verifier.verify(datagram)
    clock.advance(400)
    verifier.verify(_build(demo_pki, created=clock.now))  # purges the first nonce
    clock.now = T0 + dt.timedelta(seconds=5)
    assert _rejected(verifier, datagram).reason is WakeUpRejection.REPLAY


def test_several_gwa_certificates_during_a_change(demo_pki, other_pki, clock):
    verifier = WakeUpVerifier(SMGW, [demo_pki["gwa_sig"].cert, other_pki["gwa_sig"].cert],
                              clock=clock)
    verifier.verify(_build(demo_pki))
    verifier.verify(_build(other_pki))
    verifier.verify(_build(other_pki, with_key_id=False))


def test_verifier_configuration_errors(demo_pki):
    with pytest.raises(SmgwctError):
        WakeUpVerifier(SMGW, [])
    with pytest.raises(SmgwctError):
        WakeUpVerifier(SMGW, demo_pki["gwa_sig"].cert, window_seconds=0)
    with pytest.raises(InvalidValue):
        WakeUpVerifier("EDEM01", demo_pki["gwa_sig"].cert)


def test_rejection_texts_in_both_languages():
    for reason in WakeUpRejection:
        err = WakeUpRejected(reason)
        assert err.message.en and err.message.de and err.message.en != err.message.de


# --------------------------------------------------------------------------- hypothesis


_fuzz = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@_fuzz
@given(data=st.binary(max_size=700))
def test_random_datagrams_only_raise_wakeuprejected(verifier, data):
    with pytest.raises(WakeUpRejected):
        verifier.verify(data)


@_fuzz
@given(data=st.binary(max_size=120))
def test_random_datagrams_with_valid_header(verifier, data):
    with pytest.raises(WakeUpRejected):
        verifier.verify(b"SMWU\x01" + data)


@pytest.fixture(scope="module")
def valid_datagram(demo_pki):
    return _build(demo_pki)


@_fuzz
@given(data=st.data())
def test_damaged_packets_are_never_accepted(verifier, valid_datagram, data):
    damaged = bytearray(valid_datagram)
    for _ in range(data.draw(st.integers(1, 3), label="flips")):
        pos = data.draw(st.integers(0, len(damaged) - 1), label="pos")
        damaged[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    if bytes(damaged) == valid_datagram:
        return
    with pytest.raises(WakeUpRejected):
        verifier.verify(bytes(damaged))


# --------------------------------------------------------------------------- documentation


def _doc_block(title: str) -> str:
    text = DOC.read_text("utf-8")
    match = re.search(rf"<!-- {title} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"block {title} missing in {DOC.name}"
    return match.group(1)


def test_documented_example_verifies():
    cert = x509.load_pem_x509_certificate(_doc_block("example-certificate").encode())
    hex_text = "".join(_doc_block("example-datagram").split())
    datagram = bytes.fromhex(hex_text)
    created = dt.datetime(2025, 1, 15, 9, 30, tzinfo=dt.UTC)
    verifier = WakeUpVerifier(SMGW, cert, clock=lambda: created + dt.timedelta(seconds=5))
    packet = verifier.verify(datagram)
    assert packet.created == created
    assert packet.valid_for == 300
    assert packet.nonce == bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    assert packet.gwa_key_id == cert.fingerprint(hashes.SHA256())
