"""CMS interoperability with the OpenSSL command line tool, both directions, brainpool keys."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms

from app.protocols import cms
from app.protocols.cms import CmsError, CmsFailure

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command line tool is not installed on this machine"
)

CONTENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<MeterProfile xmlns="urn:smgwct:admin:1" id="MP-1">\n'
    b"  <ServerId>0A01454D48000012345678</ServerId>\n"
    b"</MeterProfile>\n"
)


def openssl(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [OPENSSL, *map(str, args)], input=stdin, capture_output=True, timeout=20, check=False
    )


@pytest.fixture
def files(demo_pki, tmp_path):
    """Paths of the demo PKI files plus a scratch directory and the content as a file."""
    directory = demo_pki.directory
    content = tmp_path / "content.xml"
    content.write_bytes(CONTENT)

    def cert(role: str) -> Path:
        return directory / f"{role}.cert.pem"

    def key(role: str) -> Path:
        return directory / f"{role}.key.pem"

    return {"cert": cert, "key": key, "tmp": tmp_path, "content": content}


def _write(files, name: str, data: bytes) -> Path:
    path = files["tmp"] / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- OpenSSL reads ours


def test_openssl_verifies_our_signature(demo_pki, files):
    der = cms.sign(CONTENT, demo_pki["gwa_sig"], extra_certs=[demo_pki["sub_ca"].cert])
    path = _write(files, "signed.der", der)
    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", path,
                     "-CAfile", files["cert"]("root"))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == CONTENT
    assert b"Verification successful" in result.stderr


def test_openssl_verifies_our_detached_signature(demo_pki, files):
    der = cms.sign(CONTENT, demo_pki["smgw_sig"], extra_certs=[demo_pki["sub_ca"].cert],
                   detached=True)
    path = _write(files, "detached.der", der)
    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", path,
                     "-content", files["content"], "-CAfile", files["cert"]("root"))
    assert result.returncode == 0, result.stderr.decode()


def test_openssl_refuses_our_signature_with_tampered_content(demo_pki, files):
    der = cms.sign(CONTENT, demo_pki["gwa_sig"], extra_certs=[demo_pki["sub_ca"].cert])
    tampered = der.replace(b"MP-1", b"MP-2")
    path = _write(files, "tampered.der", tampered)
    result = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", path,
                     "-CAfile", files["cert"]("root"))
    assert result.returncode != 0
    assert b"verification failure" in result.stderr.lower()
    with pytest.raises(CmsError) as excinfo:
        cms.verify(tampered, trust=[demo_pki["root"].cert])
    assert excinfo.value.reason is CmsFailure.TAMPERED


@pytest.mark.parametrize("cipher", ["aes256-cbc", "aes128-cbc", "aes256-gcm"])
def test_openssl_decrypts_what_we_encrypt(demo_pki, files, cipher):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert], cipher=cipher)
    path = _write(files, "enveloped.der", der)
    result = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", path,
                     "-recip", files["cert"]("smgw_enc"), "-inkey", files["key"]("smgw_enc"))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == CONTENT


def test_openssl_refuses_the_wrong_recipient_key(demo_pki, files):
    der = cms.encrypt(CONTENT, [demo_pki["smgw_enc"].cert])
    path = _write(files, "enveloped.der", der)
    result = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", path,
                     "-recip", files["cert"]("gwa_enc"), "-inkey", files["key"]("gwa_enc"))
    assert result.returncode != 0
    assert CONTENT not in result.stdout


def test_openssl_decrypts_and_verifies_our_admin_content(demo_pki, files):
    der = cms.sign_then_encrypt(CONTENT, demo_pki["gwa_sig"], [demo_pki["smgw_enc"].cert],
                                extra_certs=[demo_pki["sub_ca"].cert])
    path = _write(files, "admin.der", der)
    decrypted = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", path,
                        "-recip", files["cert"]("smgw_enc"), "-inkey", files["key"]("smgw_enc"))
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    verified = openssl("cms", "-verify", "-binary", "-inform", "DER",
                       "-CAfile", files["cert"]("root"), stdin=decrypted.stdout)
    assert verified.returncode == 0, verified.stderr.decode()
    assert verified.stdout == CONTENT


# --------------------------------------------------------------------------- we read OpenSSL's


def _openssl_sign(files, role: str, *extra: str) -> bytes:
    out = files["tmp"] / f"{role}.openssl-signed.der"
    result = openssl("cms", "-sign", "-binary", "-md", "sha256", "-in", files["content"],
                     "-signer", files["cert"](role), "-inkey", files["key"](role),
                     "-certfile", files["cert"]("sub_ca"), "-outform", "DER", "-out", out, *extra)
    assert result.returncode == 0, result.stderr.decode()
    return out.read_bytes()


def test_we_verify_openssl_signature(demo_pki, files):
    der = _openssl_sign(files, "gwa_sig", "-nodetach")
    result = cms.verify(der, trust=[demo_pki["root"].cert],
                        expected_signer_sha256=demo_pki["gwa_sig"].sha256)
    assert result.content == CONTENT
    assert result.signing_time is not None
    assert len(result.chain) == 3


def test_we_verify_openssl_detached_signature_with_key_identifier(demo_pki, files):
    der = _openssl_sign(files, "smgw_sig", "-keyid")
    signer_info = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert signer_info["sid"].name == "subject_key_identifier"
    result = cms.verify(der, trust=[demo_pki["root"].cert], detached_content=CONTENT)
    assert result.signer == demo_pki["smgw_sig"].cert
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der, trust=[demo_pki["root"].cert], detached_content=CONTENT[:-1])
    assert excinfo.value.reason is CmsFailure.TAMPERED


def test_we_detect_tampering_of_openssl_signature(demo_pki, files):
    der = _openssl_sign(files, "gwa_sig", "-nodetach")
    with pytest.raises(CmsError) as excinfo:
        cms.verify(der.replace(b"MP-1", b"MP-9"), trust=[demo_pki["root"].cert])
    assert excinfo.value.reason is CmsFailure.TAMPERED


def _openssl_encrypt(files, *options: str, recipient: str = "smgw_enc") -> bytes:
    out = files["tmp"] / "openssl-enveloped.der"
    result = openssl("cms", "-encrypt", "-binary", "-in", files["content"], "-outform", "DER",
                     "-out", out, *options, "-recip", files["cert"](recipient),
                     "-keyopt", "ecdh_kdf_md:sha256")
    assert result.returncode == 0, result.stderr.decode()
    return out.read_bytes()


@pytest.mark.parametrize("option", ["-aes256", "-aes128", "-aes-256-gcm", "-aes-128-gcm"])
def test_we_decrypt_openssl_encryption(demo_pki, files, option):
    der = _openssl_encrypt(files, option)
    assert cms.decrypt(der, demo_pki["smgw_enc"]) == CONTENT


def test_we_refuse_openssl_encryption_for_someone_else(demo_pki, files):
    der = _openssl_encrypt(files, "-aes256")
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(der, demo_pki["gwa_enc"])
    assert excinfo.value.reason is CmsFailure.WRONG_RECIPIENT


def test_openssl_defaults_are_refused_with_a_precise_reason(demo_pki, files):
    """OpenSSL 3.0's defaults (3DES, SHA-1 KDF) are below the profile; the error says what."""
    out = files["tmp"] / "default.der"
    result = openssl("cms", "-encrypt", "-binary", "-in", files["content"], "-outform", "DER",
                     "-out", out, files["cert"]("smgw_enc"))
    assert result.returncode == 0, result.stderr.decode()
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt(out.read_bytes(), demo_pki["smgw_enc"])
    assert excinfo.value.reason is CmsFailure.UNSUPPORTED
    assert "SHA-1" in excinfo.value.detail or "des-ede3" in excinfo.value.detail


def test_we_decrypt_and_verify_openssl_admin_content(demo_pki, files):
    signed = _openssl_sign(files, "smgw_sig", "-nodetach")
    signed_path = _write(files, "inner.der", signed)
    out = files["tmp"] / "admin.der"
    result = openssl("cms", "-encrypt", "-binary", "-in", signed_path, "-outform", "DER",
                     "-out", out, "-aes256", "-recip", files["cert"]("gwa_enc"),
                     "-keyopt", "ecdh_kdf_md:sha256")
    assert result.returncode == 0, result.stderr.decode()
    verified = cms.decrypt_then_verify(out.read_bytes(), demo_pki["gwa_enc"],
                                       trust=[demo_pki["root"].cert],
                                       expected_signer_sha256=demo_pki["smgw_sig"].sha256)
    assert verified.content == CONTENT
    with pytest.raises(CmsError) as excinfo:
        cms.decrypt_then_verify(out.read_bytes(), demo_pki["gwa_enc"],
                                trust=[demo_pki["root"].cert],
                                expected_signer_sha256=demo_pki["gwa_sig"].sha256)
    assert excinfo.value.reason is CmsFailure.WRONG_SIGNER
