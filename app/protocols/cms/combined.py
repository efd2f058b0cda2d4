"""Signed-then-encrypted administration content of the WAN channels (ARCHITECTURE.md §3.1).

The sender signs with its SIG key and encrypts for the receiver's ENC certificate; the receiver
decrypts with its ENC key and verifies the signature (spec sub-processes 5.10/5.11).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from app.protocols.cms._common import ID_DATA, ID_SIGNED_DATA
from app.protocols.cms.enveloped import decrypt_with_type, encrypt
from app.protocols.cms.errors import CmsError, CmsFailure
from app.protocols.cms.signed import VerifiedContent, sign, verify
from app.security.pki import CertifiedKey

__all__ = ["decrypt_then_verify", "sign_then_encrypt"]


def sign_then_encrypt(
    content: bytes,
    signer: CertifiedKey,
    recipients: Sequence[x509.Certificate],
    *,
    extra_certs: Sequence[x509.Certificate] = (),
    content_type: str = ID_DATA,
    cipher: str = "aes256-cbc",
) -> bytes:
    """SignedData (by ``signer``) inside EnvelopedData (for ``recipients``); DER."""
    signed = sign(content, signer, extra_certs=extra_certs, content_type=content_type)
    return encrypt(signed, recipients, cipher=cipher, content_type=ID_SIGNED_DATA)


def decrypt_then_verify(
    der: bytes,
    recipient: CertifiedKey,
    *,
    trust: Sequence[x509.Certificate],
    expected_signer_sha256: str | None = None,
    intermediates: Sequence[x509.Certificate] = (),
    at: dt.datetime | None = None,
) -> VerifiedContent:
    """Decrypt with ``recipient``'s ENC key, then verify the inner SignedData completely.

    The inner content type may be id-signedData (RFC 5652) or id-data (what a pipe of
    ``openssl cms -sign | openssl cms -encrypt`` produces).
    """
    inner, inner_type = decrypt_with_type(der, recipient)
    if inner_type not in (ID_SIGNED_DATA, ID_DATA):
        raise CmsError(CmsFailure.UNSUPPORTED, f"encrypted content type {inner_type}")
    return verify(
        inner,
        trust=trust,
        expected_signer_sha256=expected_signer_sha256,
        intermediates=intermediates,
        at=at,
    )
