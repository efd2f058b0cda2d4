"""Certificate path validation for CMS signers (*Zertifikatskettenprüfung*, RFC 5280 subset).

The SM-PKI is shallow (root CA -> sub-CA -> end entity), so the path is built by a small
depth-limited search over the certificates at hand. Checked on every certificate of the path:
issuer signature, validity at the given time; on CA certificates BasicConstraints cA, keyCertSign
and the path length; on the end entity the key usage the caller requires. Revocation (CRLs) is
not checked here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from app.protocols.cms.errors import CmsError, CmsFailure

MAX_DEPTH = 6
"""Longest path (end entity included) that is searched."""


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _find_path(
    cert: x509.Certificate,
    pool: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    path: list[x509.Certificate],
) -> list[x509.Certificate] | None:
    if cert in anchors:
        return path
    if len(path) >= MAX_DEPTH:
        return None
    for candidate in [*anchors, *pool]:
        if candidate in path or not _issued_by(cert, candidate):
            continue
        found = _find_path(candidate, pool, anchors, [*path, candidate])
        if found is not None:
            return found
    return None


def _check_time(cert: x509.Certificate, at: dt.datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise CmsError(
            CmsFailure.NOT_YET_VALID,
            f"{_describe(cert)} valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )
    if at > cert.not_valid_after_utc:
        raise CmsError(
            CmsFailure.EXPIRED,
            f"{_describe(cert)} expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        )


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:  # duplicate or undecodable extension
        raise CmsError(CmsFailure.UNTRUSTED, f"{_describe(cert)}: bad extensions") from exc


def _check_ca(cert: x509.Certificate, below: int) -> None:
    """``below``: number of CA certificates between this one and the end entity."""
    constraints = _extension(cert, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        raise CmsError(CmsFailure.UNTRUSTED, f"{_describe(cert)} is not a CA certificate")
    if constraints.path_length is not None and below > constraints.path_length:
        raise CmsError(CmsFailure.UNTRUSTED, f"{_describe(cert)}: path length exceeded")
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        raise CmsError(CmsFailure.UNTRUSTED, f"{_describe(cert)} may not sign certificates")


def check_key_usage(cert: x509.Certificate, usage: str) -> None:
    """Require KeyUsage ``usage`` (e.g. ``digital_signature``) if the extension is present."""
    value = _extension(cert, x509.KeyUsage)
    if isinstance(value, x509.KeyUsage) and not getattr(value, usage):
        raise CmsError(CmsFailure.KEY_USAGE, f"{_describe(cert)} lacks {usage}")


def validate_chain(
    leaf: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    at: dt.datetime,
    usage: str = "digital_signature",
) -> list[x509.Certificate]:
    """The path from ``leaf`` to a trust anchor, or CmsError with the precise reason.

    The returned list starts with ``leaf`` and ends with the anchor. A certificate listed in
    ``trust`` is an anchor even if it is not self-signed (pinning).
    """
    if not trust:
        raise CmsError(CmsFailure.UNTRUSTED, "no trust anchor configured")
    path = _find_path(leaf, list(intermediates), list(trust), [leaf])
    if path is None:
        raise CmsError(CmsFailure.UNTRUSTED, f"no path from {_describe(leaf)} to a trusted root")
    for cert in path:
        _check_time(cert, at)
    for index, cert in enumerate(path[1:]):
        _check_ca(cert, index)
    check_key_usage(leaf, usage)
    return path
