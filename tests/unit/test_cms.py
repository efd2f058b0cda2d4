"""CMS signatures and encryption with the brainpool demo PKI: round trips and every refusal."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from app.errors import InvalidValue, SmgwctError
from app.protocols import cms
from app.protocols.cms import CmsError, CmsFailure
from app.security.pki import create_demo_pki

CONTENT = b'<?xml version="1.0"?><MeterProfile id="1">Zaehler 1EMH0012345678</MeterProfile>'


@pytest.fixture(scope="module")
def other_pki():
    """A second, unrelated PKI (an attacker's or another operator's)."""
    return create_demo_pki("EDEM0100000002")


def _trust(pki):
    return [pki["root"].cert]


def _sign(pki, content=CONTENT, **kwargs):
    kwargs.setdefault("extra_certs", [pki["sub_ca"].cert])
    return cms.sign(content, pki["gwa_sig"], **kwargs)


def _with_signer_info(der: bytes, change) -> bytes:
    """Re-encode ``der`` after ``change(signer_info)`` modified the only SignerInfo."""
    info = asn1_cms.ContentInfo.load(der)
    signer_info = info["content"]["signer_infos"][0]
    change(signer_info)
    return info.dump(force=True)


def _reason(excinfo) -> CmsFailure:
    return excinfo.value.reason


# --------------------------------------------------------------------------- signatures


def test_sign_verify_round_trip(demo_pki):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    der = _sign(demo_pki)
    result = cms.verify(der, trust=_trust(demo_pki))
    assert result.content == CONTENT
    assert result.signer == demo_pki["gwa_sig"].cert
    assert result.signer_sha256 == demo_pki["gwa_sig"].sha256
    assert result.content_type == cms.ID_DATA
    assert before <= result.signing_time <= dt.datetime.now(dt.UTC)
    assert [c.subject for c in result.chain] == [
        demo_pki[r].cert.subject for r in ("gwa_sig", "sub_ca", "root")
    ]


def test_signed_data_profile(demo_pki):
    """issuerAndSerialNumber, ECDSA with SHA-256, three sorted signed attributes, certificates."""
    der = _sign(demo_pki, signing_time=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    signed = asn1_cms.ContentInfo.load(der)["content"]
    assert signed["version"].native == "v1"
    signer_info = signed["signer_infos"][0]
    assert signer_info["sid"].name == "issuer_and_serial_number"
    serial = signer_info["sid"].chosen["serial_number"].native
    assert serial == demo_pki["gwa_sig"].cert.serial_number
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    for alg in (signer_info["digest_algorithm"], signer_info["signature_algorithm"],
                signed["digest_algorithms"][0]):
        assert alg.dump()[1] == 2 + len(alg["algorithm"].contents)  # no parameters (RFC 5754)
    attrs = signer_info["signed_attrs"]
    assert {a["type"].native for a in attrs} == {"content_type", "message_digest", "signing_time"}
    encoded = [a.dump() for a in attrs]
    assert encoded == sorted(encoded)
    times = [a for a in attrs if a["type"].native == "signing_time"][0]["values"][0]
    assert times.name == "utc_time"
    assert times.native == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert len(signed["certificates"]) == 2


def test_detached_signature(demo_pki):
    der = _sign(demo_pki, detached=True)
    assert CONTENT not in der
    result = cms.verify(der, trust=_trust(demo_pki), detached_content=CONTENT)
    assert result.content == CONTENT
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.CONTENT_MISSING
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki), detached_content=CONTENT + b" ")
    assert _reason(excinfo) is CmsFailure.TAMPERED


def test_other_content_type_gives_version_3(demo_pki):
    ct_auth_data = "1.2.840.113549.1.9.16.1.4"  # id-ct-TSTInfo: any non-data type will do
    der = _sign(demo_pki, content_type=ct_auth_data)
    assert asn1_cms.ContentInfo.load(der)["content"]["version"].native == "v3"
    assert cms.verify(der, trust=_trust(demo_pki)).content_type == ct_auth_data


def test_expected_signer_pin(demo_pki):
    der = _sign(demo_pki)
    pin = demo_pki["gwa_sig"].sha256.upper()
    spaced = ":".join(pin[i : i + 2] for i in range(0, 64, 2))
    assert cms.verify(der, trust=_trust(demo_pki), expected_signer_sha256=spaced).content == CONTENT
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki), expected_signer_sha256=demo_pki["smgw_sig"].sha256)
    assert _reason(excinfo) is CmsFailure.WRONG_SIGNER
    assert "GWA SIG" in str(excinfo.value)


def test_bad_pin_text_is_a_configuration_error(demo_pki):
    with pytest.raises(InvalidValue):
        cms.verify(_sign(demo_pki), trust=_trust(demo_pki), expected_signer_sha256="abc")


def test_tampered_content(demo_pki):
    der = _sign(demo_pki)
    tampered = der.replace(b"Zaehler 1EMH", b"Zaehler 1ESY")
    assert tampered != der
    with pytest.raises(CmsError) as excinfo:
        cms.verify(tampered, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.TAMPERED
    assert excinfo.value.field == "content"
    assert "verändert" in excinfo.value.describe("de")


def test_tampered_signature(demo_pki):
    der = _sign(demo_pki)

    def flip(signer_info):
        sig = bytearray(signer_info["signature"].native)
        sig[-3] ^= 0x01
        signer_info["signature"] = bytes(sig)

    with pytest.raises(CmsError) as excinfo:
        cms.verify(_with_signer_info(der, flip), trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.BAD_SIGNATURE


def test_signature_of_someone_else_with_copied_certificate(demo_pki, other_pki):
    """An attacker signs with his key but names the genuine GWA certificate."""
    forged = cms.sign(
        CONTENT, type(demo_pki["gwa_sig"])(demo_pki["gwa_sig"].cert, other_pki["gwa_sig"].key),
        extra_certs=[demo_pki["sub_ca"].cert],
    )
    with pytest.raises(CmsError) as excinfo:
        cms.verify(forged, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.BAD_SIGNATURE


def test_untrusted_chain(demo_pki, other_pki):
    der = cms.sign(CONTENT, other_pki["gwa_sig"], extra_certs=[other_pki["sub_ca"].cert])
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.UNTRUSTED
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=[])
    assert _reason(excinfo) is CmsFailure.UNTRUSTED


def test_sub_ca_may_be_supplied_instead_of_included(demo_pki):
    der = cms.sign(CONTENT, demo_pki["gwa_sig"])  # signer certificate only
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.UNTRUSTED
    result = cms.verify(der, trust=_trust(demo_pki), intermediates=[demo_pki["sub_ca"].cert])
    assert len(result.chain) == 3


def test_expired_and_not_yet_valid(demo_pki):
    der = _sign(demo_pki)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki), at=later)
    assert _reason(excinfo) is CmsFailure.EXPIRED
    assert "expired" in excinfo.value.detail
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki), at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    assert _reason(excinfo) is CmsFailure.NOT_YET_VALID


def test_signer_without_digital_signature_usage(demo_pki):
    """The ENC certificate (keyAgreement only) must not be accepted as signer."""
    der = cms.sign(CONTENT, demo_pki["gwa_enc"], extra_certs=[demo_pki["sub_ca"].cert])
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.KEY_USAGE


def test_leaf_signed_by_non_ca_is_untrusted(demo_pki):
    """A certificate issued by an end-entity key does not chain, even if the signature fits."""
    from app.security.pki import _name, generate_key, issue_certificate

    rogue = issue_certificate(
        subject=_name("rogue"), key=generate_key(), issuer=demo_pki["gwa_tls"], usage="sig"
    )
    der = cms.sign(CONTENT, rogue, extra_certs=[demo_pki["gwa_tls"].cert, demo_pki["sub_ca"].cert])
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.UNTRUSTED
    assert "not a CA" in excinfo.value.detail


def test_missing_signed_attributes_are_refused(demo_pki):
    der = _sign(demo_pki)

    def drop(signer_info):
        signer_info["signed_attrs"] = None

    with pytest.raises(CmsError) as excinfo:
        cms.verify(_with_signer_info(der, drop), trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.UNSUPPORTED


def test_not_a_signed_message(demo_pki):
    encrypted = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    with pytest.raises(CmsError) as excinfo:
        cms.verify(encrypted, trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.UNSUPPORTED


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x01", b"<?xml?>", b"\x30\x80" * 40])
def test_malformed_input(demo_pki, data):
    with pytest.raises(CmsError) as excinfo:
        cms.verify(data, trust=_trust(demo_pki))
    assert _reason(excinfo) in (CmsFailure.MALFORMED, CmsFailure.UNSUPPORTED)
    assert isinstance(excinfo.value, SmgwctError)


def test_trailing_garbage_is_malformed(demo_pki):
    with pytest.raises(CmsError) as excinfo:
        cms.verify(_sign(demo_pki) + b"\x00", trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.MALFORMED


def test_verifies_cryptography_pkcs7_builder_output(demo_pki):
    signer = demo_pki["smgw_sig"]
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(signer.cert, signer.key, hashes.SHA256())
        .add_certificate(demo_pki["sub_ca"].cert)
        .sign(Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    result = cms.verify(der, trust=_trust(demo_pki), expected_signer_sha256=signer.sha256)
    assert result.content == CONTENT


def test_brainpool_p384_uses_sha384():
    pki = create_demo_pki("EDEM0100000003", curve="brainpoolP384r1")
    der = cms.sign(CONTENT, pki["gwa_sig"], extra_certs=[pki["sub_ca"].cert])
    signer_info = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha384"
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha384_ecdsa"
    assert cms.verify(der, trust=[pki["root"].cert]).content == CONTENT
    enc = cms.encrypt(CONTENT, [pki["smgw_enc"].cert])
    kari = asn1_cms.ContentInfo.load(enc)["content"]["recipient_infos"][0].chosen
    assert kari["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.2"  # sha384kdf
    assert cms.decrypt(enc, pki["smgw_enc"]) == CONTENT


# --------------------------------------------------------------------------- encryption


@pytest.mark.parametrize("cipher", sorted(cms.CONTENT_CIPHERS))
def test_encrypt_decrypt_round_trip(demo_pki, cipher):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert], cipher=cipher)
    assert CONTENT not in der
    kind = asn1_cms.ContentInfo.load(der)["content_type"].native
    assert kind == ("authenticated_enveloped_data" if "gcm" in cipher else "enveloped_data")
    assert cms.decrypt(der, demo_pki["smgw_enc"]) == CONTENT


def test_enveloped_data_profile(demo_pki):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    env = asn1_cms.ContentInfo.load(der)["content"]
    assert env["version"].native == "v2"
    kari = env["recipient_infos"][0].chosen
    assert kari["version"].native == "v3"
    assert kari["originator"].name == "originator_key"
    assert kari["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.1"  # sha256kdf
    params = kari["key_encryption_algorithm"]["parameters"]
    wrap = asn1_cms.KeyEncryptionAlgorithm.load(params.dump())
    assert wrap["algorithm"].native == "aes256_wrap"
    rek = kari["recipient_encrypted_keys"][0]
    assert rek["rid"].name == "issuer_and_serial_number"
    assert len(rek["encrypted_key"].native) == 40
    eci = env["encrypted_content_info"]
    assert eci["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"


def test_each_message_uses_fresh_keys(demo_pki):
    a = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    b = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    assert a != b


def test_several_recipients(demo_pki):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert, demo_pki["gwa_enc"].cert])
    assert cms.decrypt(der, demo_pki["smgw_enc"]) == CONTENT
    assert cms.decrypt(der, demo_pki["gwa_enc"]) == CONTENT


def test_wrong_recipient(demo_pki, other_pki):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(der, demo_pki["gwa_enc"])
    assert _reason(excinfo) is CmsFailure.WRONG_RECIPIENT
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(der, other_pki["smgw_enc"])
    assert _reason(excinfo) is CmsFailure.WRONG_RECIPIENT


def test_right_certificate_wrong_key(demo_pki, other_pki):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    impostor = type(demo_pki["smgw_enc"])(demo_pki["smgw_enc"].cert, other_pki["smgw_enc"].key)
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(der, impostor)
    assert _reason(excinfo) is CmsFailure.DECRYPTION_FAILED


def test_encrypting_for_a_signature_certificate_is_refused(demo_pki):
    with pytest.raises(CmsError) as excinfo:
        cms.encrypt(CONTENT, [demo_pki["smgw_sig"].cert])
    assert _reason(excinfo) is CmsFailure.KEY_USAGE
    with pytest.raises(CmsError) as excinfo:
        cms.encrypt(CONTENT, [])
    assert _reason(excinfo) is CmsFailure.WRONG_RECIPIENT


def test_tampered_gcm_ciphertext(demo_pki):
    der = bytearray(cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert], cipher="aes256-gcm"))
    info = asn1_cms.ContentInfo.load(bytes(der))
    ciphertext = info["content"]["auth_encrypted_content_info"]["encrypted_content"].native
    pos = bytes(der).index(ciphertext) + 5
    der[pos] ^= 0x80
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(bytes(der), demo_pki["smgw_enc"])
    assert _reason(excinfo) is CmsFailure.DECRYPTION_FAILED


def test_tampered_wrapped_key(demo_pki):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    info = asn1_cms.ContentInfo.load(der)
    wrapped = info["content"]["recipient_infos"][0].chosen["recipient_encrypted_keys"][0][
        "encrypted_key"
    ].native
    broken = der.replace(wrapped, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(broken, demo_pki["smgw_enc"])
    assert _reason(excinfo) is CmsFailure.DECRYPTION_FAILED


def test_unknown_cipher_name(demo_pki):
    with pytest.raises(CmsError) as excinfo:
        cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert], cipher="des-ede3-cbc")
    assert _reason(excinfo) is CmsFailure.UNSUPPORTED


def test_decrypt_refuses_a_signed_message(demo_pki):
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(_sign(demo_pki), demo_pki["smgw_enc"])
    assert _reason(excinfo) is CmsFailure.UNSUPPORTED


# --------------------------------------------------------------------------- combined


def test_sign_then_encrypt_round_trip(demo_pki):
    der = cms.sign_then_encrypt(
        CONTENT, demo_pki["gwa_sig"], [demo_pki["smgw_enc"].cert],
        extra_certs=[demo_pki["sub_ca"].cert],
    )
    eci = asn1_cms.ContentInfo.load(der)["content"]["encrypted_content_info"]
    assert eci["content_type"].native == "signed_data"
    result = cms.decrypt_then_verify(
        der, demo_pki["smgw_enc"], trust=_trust(demo_pki),
        expected_signer_sha256=demo_pki["gwa_sig"].sha256,
    )
    assert result.content == CONTENT
    assert result.signer == demo_pki["gwa_sig"].cert


def test_decrypt_then_verify_wrong_signer(demo_pki):
    der = cms.sign_then_encrypt(
        CONTENT, demo_pki["smgw_sig"], [demo_pki["gwa_enc"].cert],
        extra_certs=[demo_pki["sub_ca"].cert], cipher="aes256-gcm",
    )
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt_then_verify(der, demo_pki["gwa_enc"], trust=_trust(demo_pki),
                                expected_signer_sha256=demo_pki["gwa_sig"].sha256)
    assert _reason(excinfo) is CmsFailure.WRONG_SIGNER
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt_then_verify(der, demo_pki["smgw_enc"], trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.WRONG_RECIPIENT


def test_decrypt_then_verify_refuses_unsigned_content(demo_pki):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt_then_verify(der, demo_pki["smgw_enc"], trust=_trust(demo_pki))
    assert _reason(excinfo) is CmsFailure.MALFORMED


def test_error_texts_in_both_languages():
    for reason in CmsFailure:
        err = CmsError(reason, "detail")
        assert err.message.en != err.message.de
        assert err.hint is not None and err.hint.de
        assert "detail" in err.describe("de")
