"""CMS SignedData with ECDSA (*Signieren / Signatur prüfen*, RFC 5652 ch. 5, RFC 5753 ch. 2).

Profile (see docs/protocol/05-10-content-encryption.md): one SignerInfo, signer identified by
issuerAndSerialNumber, SHA-256 with ECDSA for 256-bit curves (SHA-384 / SHA-512 for larger ones),
signed attributes content-type, message-digest and signing-time, the signer's certificate and
any extra certificates (the sub-CA) included. ``openssl cms -verify`` accepts the result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from app.protocols.cms._common import (
    DIGEST_OIDS,
    DIGESTS,
    ECDSA_OIDS,
    ECDSA_SIGNATURES,
    ID_DATA,
    ID_EC_PUBLIC_KEY,
    ID_SIGNED_DATA,
    attributes_as_set,
    bare_algorithm,
    certificate_from_asn1,
    check_no_parameters,
    der_header,
    guard,
    hash_for_key,
    issuer_and_serial,
    load_content_info,
    matches_issuer_and_serial,
    sorted_set,
    subject_key_id,
)
from app.protocols.cms.chain import validate_chain
from app.protocols.cms.errors import CmsError, CmsFailure
from app.security.pki import CertifiedKey
from app.security.tls import fingerprint, normalise_fingerprint

__all__ = ["VerifiedContent", "sign", "verify"]

_DER = Encoding.DER


@dataclass(frozen=True)
class VerifiedContent:
    """Content whose signature, signer and certificate chain have been checked."""

    content: bytes
    signer: x509.Certificate
    signing_time: dt.datetime | None
    content_type: str
    chain: tuple[x509.Certificate, ...]

    @property
    def signer_sha256(self) -> str:
        """SHA-256 fingerprint of the signer's certificate (64 lower-case hex digits)."""
        return fingerprint(self.signer.public_bytes(_DER))


def _attribute(kind: str, value: core.Asn1Value) -> bytes:
    return asn1_cms.CMSAttribute({"type": kind, "values": [value]}).dump()


def _signing_time(when: dt.datetime) -> asn1_cms.Time:
    when = when.astimezone(dt.UTC).replace(microsecond=0)
    if 1950 <= when.year < 2050:  # RFC 5652 11.3: UTCTime in this range
        return asn1_cms.Time({"utc_time": when})
    return asn1_cms.Time({"generalized_time": when})


def sign(
    content: bytes,
    signer: CertifiedKey,
    *,
    extra_certs: Sequence[x509.Certificate] = (),
    content_type: str = ID_DATA,
    detached: bool = False,
    signing_time: dt.datetime | None = None,
) -> bytes:
    """Sign ``content``; DER of a ContentInfo with SignedData.

    ``content_type`` is the eContentType OID (dotted or an asn1crypto name such as ``data``);
    ``extra_certs`` (typically the sub-CA) are included with the signer's certificate;
    ``signing_time`` defaults to now; ``detached`` leaves the content out of the message.
    """
    key = signer.key
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CmsError(CmsFailure.UNSUPPORTED, "only EC signing keys are supported")
    digest = hash_for_key(key)
    e_content_type = asn1_cms.ContentType(content_type)
    hasher = hashes.Hash(digest)
    hasher.update(content)
    attrs = sorted_set(
        [
            _attribute("content_type", e_content_type),
            _attribute("message_digest", core.OctetString(hasher.finalize())),
            _attribute("signing_time", _signing_time(signing_time or dt.datetime.now(dt.UTC))),
        ]
    )
    signed_attrs = asn1_cms.CMSAttributes.load(
        der_header(0x31, sum(map(len, attrs))) + b"".join(attrs)
    )
    signature = key.sign(attributes_as_set(signed_attrs), ec.ECDSA(digest))
    digest_alg = algos.DigestAlgorithm.load(bare_algorithm(DIGEST_OIDS[digest.name]))
    signer_info = asn1_cms.SignerInfo(
        {
            "version": "v1",
            "sid": asn1_cms.SignerIdentifier(
                {"issuer_and_serial_number": issuer_and_serial(signer.cert)}
            ),
            "digest_algorithm": digest_alg,
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm.load(
                bare_algorithm(ECDSA_OIDS[digest.name])
            ),
            "signature": signature,
        }
    )
    certs: list[bytes] = []
    for cert in (signer.cert, *extra_certs):
        der = cert.public_bytes(_DER)
        if der not in certs:
            certs.append(der)
    is_data = e_content_type.dotted == ID_DATA
    encap: dict[str, object] = {"content_type": e_content_type}
    if not detached:
        encap["content"] = (
            core.OctetString(content) if is_data else core.ParsableOctetString(content)
        )
    signed_data = asn1_cms.SignedData(
        {
            # RFC 5652 5.1: v3 when eContentType is not id-data; asn1crypto models v1 as the
            # PKCS#7-compatible ContentInfo.
            "version": "v1" if is_data else "v3",
            "digest_algorithms": [digest_alg],
            "encap_content_info": (
                asn1_cms.ContentInfo(encap) if is_data else asn1_cms.EncapsulatedContentInfo(encap)
            ),
            "certificates": [asn1_x509.Certificate.load(der) for der in sorted_set(certs)],
            "signer_infos": [signer_info],
        }
    )
    return asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


# --------------------------------------------------------------------------- verification


def _single_attribute(attrs: asn1_cms.CMSAttributes, oid: str) -> core.Asn1Value | None:
    found = [a for a in attrs if a["type"].dotted == oid]
    if not found:
        return None
    values = found[0]["values"]
    if len(found) > 1 or len(values) != 1:
        raise CmsError(CmsFailure.MALFORMED, f"attribute {oid} must occur once with one value")
    return values[0]


_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_SIGNING_TIME = "1.2.840.113549.1.9.5"


def _find_signer(
    sid: asn1_cms.SignerIdentifier, candidates: Sequence[x509.Certificate]
) -> x509.Certificate:
    if sid.name == "issuer_and_serial_number":
        for cert in candidates:
            if matches_issuer_and_serial(cert, sid.chosen):
                return cert
    elif sid.name == "subject_key_identifier":
        wanted = sid.chosen.native
        for cert in candidates:
            if subject_key_id(cert) == wanted:
                return cert
    raise CmsError(CmsFailure.UNTRUSTED, "the signer's certificate is neither included nor known")


def _hash_algorithms(
    signer_info: asn1_cms.SignerInfo,
) -> tuple[hashes.HashAlgorithm, hashes.HashAlgorithm]:
    """(digest for the content, hash inside ECDSA)."""
    digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
    sig_oid = signer_info["signature_algorithm"]["algorithm"].dotted
    if digest_oid not in DIGESTS:
        raise CmsError(CmsFailure.UNSUPPORTED, f"digest algorithm {digest_oid}")
    digest = DIGESTS[digest_oid]()
    if sig_oid in ECDSA_SIGNATURES:
        return digest, ECDSA_SIGNATURES[sig_oid]()
    if sig_oid == ID_EC_PUBLIC_KEY:  # some signers name only the key type
        return digest, digest
    raise CmsError(CmsFailure.UNSUPPORTED, f"signature algorithm {sig_oid}")


def _check_structure(
    signed: asn1_cms.SignedData, signer_info: asn1_cms.SignerInfo, e_content_type: str
) -> None:
    """Versions and algorithm lists as RFC 5652 5.1/5.3 require (these fields are unsigned)."""
    by_sid = {"issuer_and_serial_number": "v1", "subject_key_identifier": "v3"}
    signer_version = signer_info["version"].native
    if signer_version != by_sid.get(signer_info["sid"].name):
        raise CmsError(CmsFailure.MALFORMED, "SignerInfo version does not fit its signer id")
    version = signed["version"].native
    if version not in ("v1", "v3"):
        raise CmsError(CmsFailure.UNSUPPORTED, f"SignedData {version}")
    if version != ("v1" if e_content_type == ID_DATA and signer_version == "v1" else "v3"):
        raise CmsError(CmsFailure.MALFORMED, f"SignedData {version} does not fit its content")
    digest = signer_info["digest_algorithm"]
    check_no_parameters(digest, "digest algorithm")
    check_no_parameters(signer_info["signature_algorithm"], "signature algorithm")
    listed = []
    for alg in signed["digest_algorithms"]:
        check_no_parameters(alg, "digest algorithm")
        listed.append(alg["algorithm"].dotted)
    if digest["algorithm"].dotted not in listed:
        raise CmsError(CmsFailure.MALFORMED, "signer's digest algorithm not listed")


def _message_digest(content: bytes, digest: hashes.HashAlgorithm) -> bytes:
    return hashlib.new(digest.name, content).digest()


def verify(
    der: bytes,
    *,
    trust: Sequence[x509.Certificate],
    expected_signer_sha256: str | None = None,
    detached_content: bytes | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: dt.datetime | None = None,
) -> VerifiedContent:
    """Check a SignedData message completely and return its content.

    Checked: the message digest over the content, the ECDSA signature over the signed
    attributes, the signer's fingerprint (if ``expected_signer_sha256`` is given), and the
    certificate chain up to one of ``trust`` at time ``at`` (default: now) with KeyUsage
    digitalSignature on the signer. Certificates from the message and ``intermediates`` are used
    to build the chain. Any failure raises :class:`CmsError` with its reason.
    """
    expected = (
        None
        if expected_signer_sha256 is None
        else normalise_fingerprint(expected_signer_sha256, field="expected_signer_sha256")
    )
    info = load_content_info(der, accepted=(ID_SIGNED_DATA,))
    with guard("SignedData"):
        signed = info["content"]
        signer_infos = signed["signer_infos"]
        if len(signer_infos) != 1:
            raise CmsError(CmsFailure.UNSUPPORTED, f"{len(signer_infos)} signers instead of one")
        signer_info = signer_infos[0]
        # Re-read with the CMS definition: eContent is always an OCTET STRING (RFC 5652 5.2).
        encap = asn1_cms.EncapsulatedContentInfo.load(signed["encap_content_info"].dump())
        e_content_type = encap["content_type"].dotted
        _check_structure(signed, signer_info, e_content_type)
        embedded = encap["content"]
        content = _pick_content(
            None if isinstance(embedded, core.Void) else bytes(embedded.native), detached_content
        )
        included: list[x509.Certificate] = []
        certificates = signed["certificates"]
        if not isinstance(certificates, core.Void):
            for choice in certificates:
                if choice.name == "certificate":
                    included.append(certificate_from_asn1(choice.chosen))
        signer_cert = _find_signer(signer_info["sid"], [*included, *intermediates])
        signed_attrs = signer_info["signed_attrs"]
        if isinstance(signed_attrs, core.Void):
            raise CmsError(CmsFailure.UNSUPPORTED, "signature without signed attributes")
        digest, sig_hash = _hash_algorithms(signer_info)
        attr_type = _single_attribute(signed_attrs, _OID_CONTENT_TYPE)
        attr_digest = _single_attribute(signed_attrs, _OID_MESSAGE_DIGEST)
        attr_time = _single_attribute(signed_attrs, _OID_SIGNING_TIME)
        if attr_type is None or attr_digest is None:
            raise CmsError(CmsFailure.MALFORMED, "content-type or message-digest attribute missing")
        if attr_type.dotted != e_content_type:
            raise CmsError(CmsFailure.TAMPERED, "content-type attribute differs")
        if not hmac.compare_digest(attr_digest.native, _message_digest(content, digest)):
            raise CmsError(CmsFailure.TAMPERED)
        signing_time = attr_time.native if attr_time is not None else None
        to_be_signed = attributes_as_set(signed_attrs)
        signature = signer_info["signature"].native
    with guard("certificate"):  # certificates from the message are peer input too
        public_key = signer_cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CmsError(CmsFailure.UNSUPPORTED, "only EC signer keys are supported")
        try:
            public_key.verify(signature, to_be_signed, ec.ECDSA(sig_hash))
        except (InvalidSignature, UnsupportedAlgorithm, ValueError) as exc:
            raise CmsError(CmsFailure.BAD_SIGNATURE) from exc
        signer_sha256 = fingerprint(signer_cert.public_bytes(_DER))
        if expected is not None and not hmac.compare_digest(signer_sha256, expected):
            raise CmsError(
                CmsFailure.WRONG_SIGNER, f"signed by {signer_cert.subject.rfc4514_string()}"
            )
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        path = validate_chain(
            signer_cert, intermediates=[*included, *intermediates], trust=trust, at=when
        )
    return VerifiedContent(
        content=content,
        signer=signer_cert,
        signing_time=signing_time,
        content_type=e_content_type,
        chain=tuple(path),
    )


def _pick_content(embedded: bytes | None, detached: bytes | None) -> bytes:
    if embedded is None:
        if detached is None:
            raise CmsError(CmsFailure.CONTENT_MISSING)
        return bytes(detached)
    if detached is not None and not hmac.compare_digest(embedded, bytes(detached)):
        raise CmsError(CmsFailure.TAMPERED, "supplied content differs from the embedded one")
    return embedded
