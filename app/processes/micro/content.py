"""Seal and open administration content (spec ch. 5.10/5.11, docs/protocol/05-10).

*Sealing* is: encode the typed document and validate it against its XSD
(:func:`app.protocols.admin.to_xml`), sign it with the sender's SIG key, and encrypt it for the
receiver's ENC certificate. *Opening* is the reverse in two steps, so that the CPU-heavy CMS part
can run in a worker thread while the XML part stays on the event loop:

1. :func:`open_cms` decrypts and verifies; it refuses anything not signed by the expected SIG
   certificate (``ContentRejected.kind == "authentication"``);
2. :func:`decode` validates the XML and decodes it (``kind == "malformed"`` or
   ``"unsupported-version"``).
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from app.errors import InvalidValue, SmgwctError, Text
from app.protocols import cms
from app.protocols.admin import from_xml
from app.protocols.admin.catalog import NAMESPACE_FAMILY, namespace_by_uri
from app.security.pki import CertifiedKey
from app.security.tls import normalise_fingerprint
from app.security.xml import parse_xml

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class ContentKeys:
    """One end's content keys: its SIG and ENC keys, the trusted roots and its sub-CA chain."""

    sig: CertifiedKey
    enc: CertifiedKey
    trust: tuple[x509.Certificate, ...]
    chain: tuple[x509.Certificate, ...] = ()
    """Certificates sent along with every signature (the sub-CA, never the root)."""


class ContentRejected(SmgwctError):
    """A received body was refused.

    ``kind`` is ``"authentication"`` (it does not decrypt, or is not signed by the expected
    key), ``"malformed"`` (not well-formed or not schema-valid) or ``"unsupported-version"``.
    ``signer_sha256`` is the fingerprint of the certificate that did sign it, if known;
    ``request_id`` the ``requestId`` found in a malformed document, if any.
    """

    def __init__(
        self,
        kind: str,
        message: Text,
        *,
        cms_reason: str | None = None,
        signer_sha256: str | None = None,
        request_id: uuid.UUID | None = None,
        hint: Text | None = None,
    ) -> None:
        super().__init__(message, field="content", hint=hint)
        self.kind = kind
        self.cms_reason = cms_reason
        self.signer_sha256 = signer_sha256
        self.request_id = request_id


def seal_xml(xml: bytes, keys: ContentKeys, recipient: x509.Certificate) -> bytes:
    """Sign ``xml`` with the own SIG key and encrypt it for ``recipient`` (an ENC certificate)."""
    return cms.sign_then_encrypt(xml, keys.sig, [recipient], extra_certs=keys.chain)


@dataclass(frozen=True)
class OpenedContent:
    """Decrypted and verified content: the XML bytes and who signed them."""

    xml: bytes
    signer_sha256: str


def open_cms(
    der: bytes, keys: ContentKeys, *, expected_signer_sha256: str | Sequence[str]
) -> OpenedContent:
    """Decrypt with the own ENC key and verify the signature and its chain.

    ``expected_signer_sha256`` is the SIG certificate fingerprint of the peer (several during a
    certificate change). Raises :class:`ContentRejected` of kind ``authentication``.
    """
    expected = (
        [expected_signer_sha256] if isinstance(expected_signer_sha256, str)
        else list(expected_signer_sha256)
    )
    wanted = {normalise_fingerprint(fp, field="expected_signer") for fp in expected}
    try:
        verified = cms.decrypt_then_verify(der, keys.enc, trust=keys.trust,
                                           intermediates=keys.chain)
    except cms.CmsError as err:
        raise ContentRejected(
            "authentication",
            Text(f"The content was refused: {err.message.en}",
                 f"Der Inhalt wurde abgelehnt: {err.message.de}"),
            cms_reason=err.reason.value, hint=err.hint,
        ) from None
    actual = verified.signer_sha256
    if not any(hmac.compare_digest(actual, fp) for fp in wanted):
        raise ContentRejected(
            "authentication",
            Text("The content is signed by a certificate other than the SIG certificate of the "
                 "communication profile.",
                 "Der Inhalt ist mit einem anderen Zertifikat signiert als dem SIG-Zertifikat "
                 "des Kommunikationsprofils."),
            cms_reason=cms.CmsFailure.WRONG_SIGNER.value, signer_sha256=actual,
        )
    return OpenedContent(verified.content, actual)


def request_id_hint(xml: bytes) -> uuid.UUID | None:
    """The ``requestId`` attribute of a document that could not be decoded, if it has one."""
    try:
        root = parse_xml(xml, field="content")
    except InvalidValue:
        return None
    value = root.get("requestId") or ""
    return uuid.UUID(value) if _UUID.fullmatch(value) else None


def decode(xml: bytes, *, expect: type | tuple[type, ...]) -> object:
    """Validate and decode a document of one of the ``expect`` types; else ContentRejected."""
    try:
        return from_xml(xml, expect=expect, field="content")
    except InvalidValue as err:
        kind = "unsupported-version" if _unknown_version(xml) else "malformed"
        raise ContentRejected(kind, err.message, request_id=request_id_hint(xml),
                              hint=err.hint) from None


def _unknown_version(xml: bytes) -> bool:
    try:
        root = parse_xml(xml, field="content")
    except InvalidValue:
        return False
    namespaces = {el.tag[1:].partition("}")[0] for el in root.iter() if isinstance(el.tag, str)
                  and el.tag.startswith("{")}
    return any(ns.startswith(NAMESPACE_FAMILY) and namespace_by_uri(ns) is None
               for ns in namespaces)
