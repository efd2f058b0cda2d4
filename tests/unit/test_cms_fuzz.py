"""Peer input to the CMS parsers: random and damaged messages only ever raise CmsError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.protocols import cms
from app.protocols.cms import CmsError, CmsFailure

CONTENT = b"<Event code='SMGW_STARTED'/>"

_fuzz = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class _Messages(dict):
    """Valid messages by kind (short repr, so that failing examples stay readable)."""

    def __repr__(self) -> str:
        return "<messages>"


class _Pki:
    def __init__(self, pki) -> None:
        self._pki = pki

    def __getitem__(self, role):
        return self._pki[role]

    def __repr__(self) -> str:
        return "<demo PKI>"


@pytest.fixture(scope="module")
def pki(demo_pki):
    return _Pki(demo_pki)


@pytest.fixture(scope="module")
def messages(pki):
    """One valid message of each kind, as the mutations' starting points."""
    sub = [pki["sub_ca"].cert]
    enc = [pki["smgw_enc"].cert]
    return _Messages({
        "signed": cms.sign(CONTENT, pki["gwa_sig"], extra_certs=sub),
        "enveloped": cms.encrypt(CONTENT, enc),
        "auth_enveloped": cms.encrypt(CONTENT, enc, cipher="aes128-gcm"),
        "both": cms.sign_then_encrypt(CONTENT, pki["gwa_sig"], enc, extra_certs=sub),
    })


def _all_parsers(pki, data: bytes) -> list[CmsFailure]:
    """Feed ``data`` to every parser; return the reasons; anything but CmsError fails the test."""
    trust = [pki["root"].cert]
    reasons = []
    calls = (
        lambda: cms.verify(data, trust=trust),
        lambda: cms.verify(data, trust=trust, detached_content=CONTENT),
        lambda: cms.decrypt(data, pki["smgw_enc"]),
        lambda: cms.decrypt_then_verify(data, pki["smgw_enc"], trust=trust),
    )
    for call in calls:
        try:
            call()
        except CmsError as exc:
            assert exc.reason in CmsFailure
            reasons.append(exc.reason)
    return reasons


@_fuzz
@given(data=st.binary(max_size=600))
def test_random_bytes(pki, data):
    assert len(_all_parsers(pki, data)) == 4


@_fuzz
@given(
    prefix=st.sampled_from([b"\x30\x82", b"\x30\x80", b"\x30\x81\xff"]),
    data=st.binary(max_size=300),
)
def test_random_sequences(pki, prefix, data):
    assert len(_all_parsers(pki, prefix + data)) == 4


@_fuzz
@given(kind=st.sampled_from(["signed", "enveloped", "auth_enveloped", "both"]), data=st.data())
def test_bit_flips(pki, messages, kind, data):
    original = messages[kind]
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3), label="flips")):
        pos = data.draw(st.integers(0, len(damaged) - 1), label="pos")
        damaged[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    _all_parsers(pki, bytes(damaged))


@_fuzz
@given(kind=st.sampled_from(["signed", "enveloped", "auth_enveloped", "both"]), data=st.data())
def test_truncation_and_insertion(pki, messages, kind, data):
    original = messages[kind]
    if data.draw(st.booleans(), label="truncate"):
        damaged = original[: data.draw(st.integers(0, len(original) - 1), label="length")]
    else:
        pos = data.draw(st.integers(0, len(original)), label="pos")
        damaged = original[:pos] + data.draw(st.binary(min_size=1, max_size=8)) + original[pos:]
    assert len(_all_parsers(pki, damaged)) == 4


def test_flipped_signed_message_is_never_accepted_with_other_content(pki, messages):
    """Every single-bit flip inside the content is detected as tampering."""
    original = messages["signed"]
    start = original.index(CONTENT)
    for offset in range(len(CONTENT)):
        damaged = bytearray(original)
        damaged[start + offset] ^= 0x04
        with pytest.raises(CmsError) as excinfo:
            cms.verify(bytes(damaged), trust=[pki["root"].cert])
        assert excinfo.value.reason is CmsFailure.TAMPERED


@pytest.mark.parametrize("kind", ["signed", "both", "auth_enveloped"])
def test_every_byte_flipped_once(pki, messages, kind):
    """Flip one bit in every byte in turn: only CmsError, and never other content accepted."""
    original = messages[kind]
    trust = [pki["root"].cert]
    for pos in range(len(original)):
        damaged = bytearray(original)
        damaged[pos] ^= 1 << (pos % 8)
        try:
            if kind == "signed":
                result = cms.verify(bytes(damaged), trust=trust)
            elif kind == "both":
                result = cms.decrypt_then_verify(bytes(damaged), pki["smgw_enc"], trust=trust)
            else:
                assert cms.decrypt(bytes(damaged), pki["smgw_enc"]) == CONTENT
                continue
        except CmsError:
            continue
        assert result.content == CONTENT, pos
        assert result.signer == pki["gwa_sig"].cert, pos
