"""CMS (RFC 5652) with brainpool keys: signatures and encryption of WAN content.

Sub-processes 5.10/5.11 of the specification (*Daten verschlüsseln / entschlüsseln*); the profile
is documented in docs/protocol/05-10-content-encryption.md.
"""

from app.protocols.cms._common import (
    ID_AUTH_ENVELOPED_DATA,
    ID_DATA,
    ID_ENVELOPED_DATA,
    ID_SIGNED_DATA,
)
from app.protocols.cms.combined import decrypt_then_verify, sign_then_encrypt
from app.protocols.cms.enveloped import CONTENT_CIPHERS, decrypt, decrypt_with_type, encrypt
from app.protocols.cms.errors import CmsError, CmsFailure
from app.protocols.cms.signed import VerifiedContent, sign, verify

__all__ = [
    "CONTENT_CIPHERS",
    "ID_AUTH_ENVELOPED_DATA",
    "ID_DATA",
    "ID_ENVELOPED_DATA",
    "ID_SIGNED_DATA",
    "CmsError",
    "CmsFailure",
    "VerifiedContent",
    "decrypt",
    "decrypt_then_verify",
    "decrypt_with_type",
    "encrypt",
    "sign",
    "sign_then_encrypt",
    "verify",
]
