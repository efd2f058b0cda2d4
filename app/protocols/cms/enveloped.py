"""CMS EnvelopedData / AuthEnvelopedData with ECDH (*Verschlüsseln / Entschlüsseln*, RFC 5753).

Per recipient a KeyAgreeRecipientInfo: an ephemeral key on the recipient's curve
(ephemeral-static ECDH), the ANSI X9.63 KDF with SHA-256 (``dhSinglePass-stdDH-sha256kdf-scheme``;
SHA-384/-512 for larger curves) over ECC-CMS-SharedInfo, and AES key wrap (RFC 3394) of the
content-encryption key. Content: AES-CBC (EnvelopedData) or AES-GCM (AuthEnvelopedData,
RFC 5083/5084). ``openssl cms -decrypt`` reads both; see docs/protocol/05-10-content-encryption.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, core, keys
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from app.protocols.cms._common import (
    ID_AUTH_ENVELOPED_DATA,
    ID_DATA,
    ID_EC_PUBLIC_KEY,
    ID_ENVELOPED_DATA,
    attributes_as_set,
    guard,
    hash_for_key,
    issuer_and_serial,
    load_content_info,
    matches_issuer_and_serial,
    subject_key_id,
)
from app.protocols.cms.chain import check_key_usage
from app.protocols.cms.errors import CmsError, CmsFailure
from app.security.pki import CertifiedKey

__all__ = ["CONTENT_CIPHERS", "encrypt", "decrypt"]

#: ECDH key agreement schemes with the X9.63 KDF hash (RFC 5753 7.1.4; SHA-1 is refused).
KDF_SCHEMES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.3.132.1.11.0": hashes.SHA224,
    "1.3.132.1.11.1": hashes.SHA256,
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
KDF_OIDS = {cls.name: oid for oid, cls in KDF_SCHEMES.items()}
_SHA1_KDF = "1.3.133.16.840.63.0.2"

#: AES key wrap algorithms (RFC 3565) and their key length.
KEY_WRAPS: dict[str, int] = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}
WRAP_OIDS = {length: oid for oid, length in KEY_WRAPS.items()}


@dataclass(frozen=True)
class _Cipher:
    oid: str
    key_size: int
    gcm: bool


#: Content encryption algorithms by the names ``encrypt`` takes.
CONTENT_CIPHERS: dict[str, _Cipher] = {
    "aes128-cbc": _Cipher("2.16.840.1.101.3.4.1.2", 16, False),
    "aes192-cbc": _Cipher("2.16.840.1.101.3.4.1.22", 24, False),
    "aes256-cbc": _Cipher("2.16.840.1.101.3.4.1.42", 32, False),
    "aes128-gcm": _Cipher("2.16.840.1.101.3.4.1.6", 16, True),
    "aes192-gcm": _Cipher("2.16.840.1.101.3.4.1.26", 24, True),
    "aes256-gcm": _Cipher("2.16.840.1.101.3.4.1.46", 32, True),
}
_CIPHER_BY_OID = {c.oid: c for c in CONTENT_CIPHERS.values()}
_REFUSED_CIPHERS = {"1.2.840.113549.3.7": "des-ede3-cbc (OpenSSL's default; use -aes256)"}


class _SharedInfo(core.Sequence):
    """ECC-CMS-SharedInfo (RFC 5753 7.2)."""

    _fields = [
        ("key_info", algos.AlgorithmIdentifier),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


class _GcmParameters(core.Sequence):
    """GCMParameters (RFC 5084 3.2)."""

    _fields = [
        ("nonce", core.OctetString),
        ("icv_len", core.Integer, {"default": 12}),
    ]


def _kek(
    shared_secret: bytes, kdf_hash: hashes.HashAlgorithm, wrap_alg_der: bytes, ukm: bytes | None
) -> bytes:
    """The key-encryption key: X9.63 KDF over ECC-CMS-SharedInfo."""
    key_len = KEY_WRAPS[algos.AlgorithmIdentifier.load(wrap_alg_der)["algorithm"].dotted]
    info: dict[str, object] = {
        "key_info": algos.AlgorithmIdentifier.load(wrap_alg_der),
        "supp_pub_info": (key_len * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        info["entity_u_info"] = ukm
    return X963KDF(kdf_hash, key_len, _SharedInfo(info).dump()).derive(shared_secret)


def _recipient_info(cert: x509.Certificate, cek: bytes) -> asn1_cms.RecipientInfo:
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CmsError(CmsFailure.UNSUPPORTED, "only EC recipient certificates are supported")
    check_key_usage(cert, "key_agreement")
    ephemeral = ec.generate_private_key(public.curve)
    shared = ephemeral.exchange(ec.ECDH(), public)
    kdf_hash = hash_for_key(public)
    wrap_alg = algos.AlgorithmIdentifier({"algorithm": WRAP_OIDS[len(cek)]})
    kek = _kek(shared, kdf_hash, wrap_alg.dump(), None)
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    originator = keys.PublicKeyInfo(
        {
            "algorithm": keys.PublicKeyAlgorithm({"algorithm": "ec"}),
            "public_key": keys.ECPointBitString(point),
        }
    )
    kari = asn1_cms.KeyAgreeRecipientInfo(
        {
            "version": "v3",
            "originator": asn1_cms.OriginatorIdentifierOrKey({"originator_key": originator}),
            "key_encryption_algorithm": asn1_cms.KeyEncryptionAlgorithm(
                {"algorithm": KDF_OIDS[kdf_hash.name], "parameters": wrap_alg}
            ),
            "recipient_encrypted_keys": [
                {
                    "rid": asn1_cms.KeyAgreementRecipientIdentifier(
                        {"issuer_and_serial_number": issuer_and_serial(cert)}
                    ),
                    "encrypted_key": aes_key_wrap(kek, cek),
                }
            ],
        }
    )
    return asn1_cms.RecipientInfo({"kari": kari})


def encrypt(
    content: bytes,
    recipients: Sequence[x509.Certificate],
    *,
    cipher: str = "aes256-cbc",
    content_type: str = ID_DATA,
) -> bytes:
    """Encrypt ``content`` for the ENC certificates ``recipients``; DER of a ContentInfo.

    ``cipher`` is a key of :data:`CONTENT_CIPHERS`; the ``-gcm`` ones produce AuthEnvelopedData.
    ``content_type`` is the type of the encrypted content (``signed-data`` for sign-then-encrypt).
    """
    if not recipients:
        raise CmsError(CmsFailure.WRONG_RECIPIENT, "no recipient certificate given")
    spec = CONTENT_CIPHERS.get(cipher)
    if spec is None:
        raise CmsError(CmsFailure.UNSUPPORTED, f"content cipher {cipher!r}")
    cek = os.urandom(spec.key_size)
    infos = [_recipient_info(cert, cek) for cert in recipients]
    if spec.gcm:
        nonce = os.urandom(12)
        encryptor = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
        ciphertext = encryptor.update(content) + encryptor.finalize()
        params: core.Asn1Value = _GcmParameters({"nonce": nonce, "icv_len": 16})
    else:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(content) + padder.finalize()
        encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        params = core.OctetString(iv)
    eci = asn1_cms.EncryptedContentInfo(
        {
            "content_type": content_type,
            "content_encryption_algorithm": algos.EncryptionAlgorithm(
                {"algorithm": spec.oid, "parameters": core.Any.load(params.dump())}
            ),
            "encrypted_content": ciphertext,
        }
    )
    if spec.gcm:
        body: core.Asn1Value = asn1_cms.AuthEnvelopedData(
            {
                "version": "v0",
                "recipient_infos": infos,
                "auth_encrypted_content_info": eci,
                "mac": encryptor.tag,
            }
        )
        kind = "authenticated_enveloped_data"
    else:
        body = asn1_cms.EnvelopedData(
            {"version": "v2", "recipient_infos": infos, "encrypted_content_info": eci}
        )
        kind = "enveloped_data"
    return asn1_cms.ContentInfo({"content_type": kind, "content": body}).dump()


# --------------------------------------------------------------------------- decryption


def _matches(rid: asn1_cms.KeyAgreementRecipientIdentifier, cert: x509.Certificate) -> bool:
    if rid.name == "issuer_and_serial_number":
        return matches_issuer_and_serial(cert, rid.chosen)
    ski = subject_key_id(cert)
    return ski is not None and rid.chosen["subjectKeyIdentifier"].native == ski


def _unwrap_cek(
    kari: asn1_cms.KeyAgreeRecipientInfo, wrapped: bytes, recipient: CertifiedKey
) -> bytes:
    key = recipient.key
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise CmsError(CmsFailure.UNSUPPORTED, "static originator keys are not supported")
    info = originator.chosen
    algorithm = info["algorithm"]
    if algorithm["algorithm"].dotted != ID_EC_PUBLIC_KEY:
        raise CmsError(CmsFailure.UNSUPPORTED, "originator key is not an EC key")
    point = info["public_key"].native
    if not isinstance(point, bytes):
        raise CmsError(CmsFailure.MALFORMED, "originator key")
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point)
    except ValueError as exc:
        raise CmsError(CmsFailure.MALFORMED, "originator key is not a point on the curve") from exc
    scheme = kari["key_encryption_algorithm"]
    scheme_oid = scheme["algorithm"].dotted
    if scheme_oid == _SHA1_KDF:
        raise CmsError(
            CmsFailure.UNSUPPORTED,
            "KDF with SHA-1 (OpenSSL's default; use -keyopt ecdh_kdf_md:sha256)",
        )
    if scheme_oid not in KDF_SCHEMES:
        raise CmsError(CmsFailure.UNSUPPORTED, f"key agreement scheme {scheme_oid}")
    wrap_der = scheme["parameters"].dump()
    wrap_oid = algos.AlgorithmIdentifier.load(wrap_der)["algorithm"].dotted
    if wrap_oid not in KEY_WRAPS:
        raise CmsError(CmsFailure.UNSUPPORTED, f"key wrap algorithm {wrap_oid}")
    ukm = kari["ukm"]
    kek = _kek(
        key.exchange(ec.ECDH(), ephemeral),
        KDF_SCHEMES[scheme_oid](),
        wrap_der,
        None if isinstance(ukm, core.Void) else ukm.native,
    )
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap as exc:
        raise CmsError(CmsFailure.DECRYPTION_FAILED, "key unwrap failed") from exc


def _find_recipient(infos: asn1_cms.RecipientInfos, recipient: CertifiedKey) -> bytes:
    for info in infos:
        if info.name != "kari":
            continue
        kari = info.chosen
        if kari["version"].native != "v3":
            raise CmsError(CmsFailure.MALFORMED, "KeyAgreeRecipientInfo version")
        for rek in kari["recipient_encrypted_keys"]:
            if _matches(rek["rid"], recipient.cert):
                return _unwrap_cek(kari, rek["encrypted_key"].native, recipient)
    raise CmsError(
        CmsFailure.WRONG_RECIPIENT, f"not for {recipient.cert.subject.rfc4514_string()}"
    )


def _decrypt_content(
    eci: asn1_cms.EncryptedContentInfo, cek: bytes, *, mac: bytes | None, aad: bytes
) -> bytes:
    alg = eci["content_encryption_algorithm"]
    oid = alg["algorithm"].dotted
    spec = _CIPHER_BY_OID.get(oid)
    if spec is None:
        raise CmsError(CmsFailure.UNSUPPORTED, _REFUSED_CIPHERS.get(oid, f"content cipher {oid}"))
    if spec.gcm != (mac is not None):
        raise CmsError(CmsFailure.UNSUPPORTED, "cipher does not fit the content type")
    if len(cek) != spec.key_size:
        raise CmsError(CmsFailure.DECRYPTION_FAILED, "content key has the wrong length")
    encrypted = eci["encrypted_content"]
    if isinstance(encrypted, core.Void):
        raise CmsError(CmsFailure.CONTENT_MISSING, "no encrypted content")
    ciphertext = encrypted.native
    params_der = alg["parameters"].dump()
    try:
        if mac is not None:
            params = _GcmParameters.load(params_der)
            nonce, icv_len = params["nonce"].native, params["icv_len"].native
            if len(mac) != icv_len or not 12 <= icv_len <= 16:
                raise CmsError(CmsFailure.MALFORMED, "authentication tag length")
            decryptor = Cipher(
                algorithms.AES(cek), modes.GCM(nonce, mac, min_tag_length=12)
            ).decryptor()
            decryptor.authenticate_additional_data(aad)
            return decryptor.update(ciphertext) + decryptor.finalize()
        iv = core.OctetString.load(params_der).native
        decryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except InvalidTag as exc:
        raise CmsError(CmsFailure.DECRYPTION_FAILED, "authentication tag does not match") from exc
    except ValueError as exc:  # wrong IV size, bad padding, ciphertext not block aligned
        raise CmsError(CmsFailure.DECRYPTION_FAILED, "content does not decrypt") from exc


def decrypt(der: bytes, recipient: CertifiedKey) -> bytes:
    """Decrypt an EnvelopedData or AuthEnvelopedData message with the ENC key ``recipient``."""
    return decrypt_with_type(der, recipient)[0]


def decrypt_with_type(der: bytes, recipient: CertifiedKey) -> tuple[bytes, str]:
    """Like :func:`decrypt`, also returning the type OID of the decrypted content."""
    info = load_content_info(der, accepted=(ID_ENVELOPED_DATA, ID_AUTH_ENVELOPED_DATA))
    with guard("EnvelopedData"):
        body = info["content"]
        authenticated = info["content_type"].dotted == ID_AUTH_ENVELOPED_DATA
        # RFC 5083 2.1: always 0; RFC 5652 6.1: 2 with KeyAgreeRecipientInfo only (3/4 with
        # originatorInfo or other recipient types).
        if body["version"].native not in (("v0",) if authenticated else ("v2", "v3", "v4")):
            raise CmsError(CmsFailure.MALFORMED, f"version {body['version'].native}")
        cek = _find_recipient(body["recipient_infos"], recipient)
        if authenticated:
            eci = body["auth_encrypted_content_info"]
            attrs = body["auth_attrs"]
            aad = b"" if isinstance(attrs, core.Void) else attributes_as_set(attrs)
            content = _decrypt_content(eci, cek, mac=body["mac"].native, aad=aad)
        else:
            eci = body["encrypted_content_info"]
            content = _decrypt_content(eci, cek, mac=None, aad=b"")
        return content, eci["content_type"].dotted
