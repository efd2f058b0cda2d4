"""Shared pieces of the CMS modules: object identifiers, hash choice, the parse guard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from asn1crypto import cms as asn1_cms
from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app.protocols.cms.errors import CmsError, CmsFailure

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"

#: Digest algorithms accepted in SignedData, by OID (RFC 5754).
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
DIGEST_OIDS = {cls.name: oid for oid, cls in DIGESTS.items()}

#: ECDSA signature algorithms (RFC 5758), mapped to their hash.
ECDSA_SIGNATURES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
ECDSA_OIDS = {cls.name: oid for oid, cls in ECDSA_SIGNATURES.items()}
ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"

#: Errors the ASN.1 and crypto libraries raise on malformed input.
PARSE_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, UnicodeError,
    RecursionError, UnsupportedAlgorithm, x509.InvalidVersion,
)


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Turn any parse error inside the block into ``CmsError(MALFORMED)``."""
    try:
        yield
    except CmsError:
        raise
    except PARSE_ERRORS as exc:
        raise CmsError(CmsFailure.MALFORMED, f"{what}: {type(exc).__name__}") from exc


def hash_for_key(
    key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
) -> hashes.HashAlgorithm:
    """SHA-256 for 256-bit curves, SHA-384 up to 384 bits, SHA-512 above (TR-03116-3)."""
    bits = key.curve.key_size
    if bits <= 256:
        return hashes.SHA256()
    if bits <= 384:
        return hashes.SHA384()
    return hashes.SHA512()


class _BareAlgorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier)]


def bare_algorithm(oid: str) -> bytes:
    """DER of an AlgorithmIdentifier without parameters (RFC 5754 3, RFC 5758 3.2)."""
    return _BareAlgorithm({"algorithm": oid}).dump()


def der_header(tag: int, length: int) -> bytes:
    """Identifier and definite length octets of a DER TLV."""
    if length < 0x80:
        return bytes((tag, length))
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big")


def attributes_as_set(attrs: asn1_cms.CMSAttributes) -> bytes:
    """The DER of ``[0] IMPLICIT SET OF Attribute`` re-tagged as a universal SET (RFC 5652 5.4)."""
    contents = attrs.contents
    return der_header(0x31, len(contents)) + contents


def sorted_set(items: list[bytes]) -> list[bytes]:
    """DER encodings ordered as X.690 requires for SET OF."""
    return sorted(items)


def load_content_info(der: bytes, *, accepted: tuple[str, ...]) -> asn1_cms.ContentInfo:
    """Parse a ContentInfo and check that its type is one of ``accepted``."""
    if not isinstance(der, bytes | bytearray | memoryview):
        raise CmsError(CmsFailure.MALFORMED, "input is not bytes")
    with guard("ContentInfo"):
        info = asn1_cms.ContentInfo.load(bytes(der), strict=True)
        content_type = info["content_type"].dotted
        if content_type not in accepted:
            raise CmsError(CmsFailure.UNSUPPORTED, f"content type {content_type}")
        info["content"].contents  # noqa: B018 - parses the inner structure's header here
    return info


def certificate_from_asn1(value: core.Asn1Value) -> x509.Certificate:
    """A cryptography certificate from an asn1crypto certificate (serial must be positive)."""
    if value["tbs_certificate"]["serial_number"].native <= 0:
        raise CmsError(CmsFailure.MALFORMED, "certificate with a serial number <= 0")
    return x509.load_der_x509_certificate(value.dump())


def issuer_and_serial(cert: x509.Certificate) -> asn1_cms.IssuerAndSerialNumber:
    """The IssuerAndSerialNumber of ``cert``."""
    from asn1crypto import x509 as asn1_x509

    return asn1_cms.IssuerAndSerialNumber(
        {
            "issuer": asn1_x509.Name.load(cert.issuer.public_bytes()),
            "serial_number": cert.serial_number,
        }
    )


def matches_issuer_and_serial(cert: x509.Certificate, ias: asn1_cms.IssuerAndSerialNumber) -> bool:
    """Whether ``ias`` designates ``cert`` (names compared by their DER encoding)."""
    return (
        ias["serial_number"].native == cert.serial_number
        and ias["issuer"].dump() == cert.issuer.public_bytes()
    )


def check_no_parameters(algorithm: core.Asn1Value, what: str) -> None:
    """Parameters of a SHA-2 or ECDSA AlgorithmIdentifier must be absent (or NULL)."""
    params = algorithm["parameters"]
    if not isinstance(params, core.Void | core.Null) and params.dump() != b"\x05\x00":
        raise CmsError(CmsFailure.MALFORMED, f"{what} with parameters")


def subject_key_id(cert: x509.Certificate) -> bytes | None:
    """The SubjectKeyIdentifier of ``cert``, or None."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.digest
