"""TLS contexts for every interface of the tool and of the embedded default.

This module is the only place in the project that creates an :class:`ssl.SSLContext`. Each context
follows one interface profile of BSI TR-03116-3 (WAN, HAN, LMN):

* TLS 1.2 only. TR-03116-3 allows TLS 1.3 as an option, but Python's ``ssl`` module cannot
  restrict the TLS 1.3 cipher suites or offer brainpool groups for TLS 1.3 with OpenSSL < 3.2, so
  enabling it would offer suites outside the profile. See ``docs/protocol/05-12-tls.md``.
* Only ECDHE-ECDSA with AES (CBC-SHA256 and GCM), as the profile lists them.
* Exactly one key-exchange group per context (``set_ecdh_curve``): with OpenSSL 3.0 brainpool works
  only when both ends configure it, and in TLS 1.2 the group must match the peer certificate's
  curve. Callers therefore pick the group of the peer (brainpoolP256r1 for the SM-PKI, secp384r1
  for a Theben CONEXA HAN, ...), and the profile checks that the group is allowed.
* Verification is always on. A peer can additionally be pinned to the SHA-256 fingerprint of its
  certificate (``pin``); HAN certificates are self-signed, so for them the pinned certificate itself
  is the only trust anchor.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.errors import InvalidValue, SmgwctError, Text

#: TLS 1.2 cipher suites of TR-03116-3, by OpenSSL name.
SUITE_AES128_CBC = "ECDHE-ECDSA-AES128-SHA256"  # 0xC023
SUITE_AES128_GCM = "ECDHE-ECDSA-AES128-GCM-SHA256"  # 0xC02B
SUITE_AES256_GCM = "ECDHE-ECDSA-AES256-GCM-SHA384"  # 0xC02C


class Interface(enum.StrEnum):
    """The SMGW interface a connection belongs to (Schnittstelle)."""

    WAN = "wan"
    HAN = "han"
    LMN = "lmn"


@dataclass(frozen=True)
class TlsProfile:
    """One interface profile of BSI TR-03116-3 as this tool applies it."""

    interface: Interface
    suites: tuple[str, ...]
    groups: tuple[str, ...]
    default_group: str
    max_session_seconds: int

    @property
    def cipher_string(self) -> str:
        return ":".join(self.suites)

    def check_group(self, group: str) -> str:
        """Return ``group`` if the profile allows it, else raise :class:`InvalidValue`."""
        if group not in self.groups:
            raise InvalidValue(
                Text(
                    f"The key-exchange group '{group}' is not allowed on the "
                    f"{self.interface.value.upper()} interface; allowed: {', '.join(self.groups)}.",
                    f"Die Schlüsselaustausch-Gruppe '{group}' ist an der Schnittstelle "
                    f"{self.interface.value.upper()} nicht zulässig; zulässig: "
                    f"{', '.join(self.groups)}.",
                ),
                field="tls_group",
            )
        return group


PROFILES: dict[Interface, TlsProfile] = {
    Interface.WAN: TlsProfile(
        Interface.WAN,
        suites=(SUITE_AES128_GCM, SUITE_AES128_CBC, SUITE_AES256_GCM),
        groups=("brainpoolP256r1", "brainpoolP384r1", "prime256v1", "secp384r1", "brainpoolP512r1"),
        default_group="brainpoolP256r1",
        max_session_seconds=48 * 3600,
    ),
    Interface.HAN: TlsProfile(
        Interface.HAN,
        suites=(SUITE_AES128_GCM, SUITE_AES128_CBC, SUITE_AES256_GCM),
        groups=("brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1", "prime256v1", "secp384r1"),
        default_group="brainpoolP256r1",
        max_session_seconds=48 * 3600,
    ),
    Interface.LMN: TlsProfile(
        Interface.LMN,
        suites=(SUITE_AES128_GCM, SUITE_AES128_CBC, SUITE_AES256_GCM),
        groups=("brainpoolP256r1", "brainpoolP384r1", "prime256v1", "secp384r1", "brainpoolP512r1"),
        default_group="brainpoolP256r1",
        max_session_seconds=744 * 3600,
    ),
}


class TlsError(SmgwctError):
    """A TLS connection could not be set up safely."""


class PinMismatch(TlsError):
    """The peer presented a certificate other than the pinned one."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            Text(
                f"The peer's certificate has changed: fingerprint {format_fingerprint(actual)}, "
                f"expected {format_fingerprint(expected)}. The connection was closed.",
                f"Das Zertifikat der Gegenstelle hat sich geändert: Fingerabdruck "
                f"{format_fingerprint(actual)}, erwartet {format_fingerprint(expected)}. "
                "Die Verbindung wurde getrennt.",
            ),
            field="certificate",
            hint=Text(
                "Check that you are connected to the right device. Accept the new certificate "
                "only if the operator confirms the change.",
                "Prüfen Sie, ob Sie mit dem richtigen Gerät verbunden sind. Nehmen Sie das neue "
                "Zertifikat nur an, wenn der Betreiber den Wechsel bestätigt.",
            ),
        )
        self.expected = expected
        self.actual = actual


def fingerprint(der: bytes) -> str:
    """SHA-256 fingerprint of a DER certificate: 64 lower-case hex digits."""
    return hashlib.sha256(der).hexdigest()


def format_fingerprint(fp: str) -> str:
    """``AB:CD:...`` grouping for display."""
    fp = fp.upper()
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))


def normalise_fingerprint(text: str, *, field: str = "pin") -> str:
    """Accept ``ab:cd:..``, ``AB CD ..`` or plain hex; return 64 lower-case hex digits."""
    cleaned = "".join(ch for ch in text.strip() if ch not in ": -").lower()
    if cleaned.startswith("sha256"):
        cleaned = cleaned.removeprefix("sha256").lstrip("=/")
    if len(cleaned) != 64 or any(ch not in "0123456789abcdef" for ch in cleaned):
        raise InvalidValue(
            Text(
                "A SHA-256 fingerprint has 64 hex digits (pairs may be separated by ':'), "
                f"got '{text.strip()[:80]}'.",
                "Ein SHA-256-Fingerabdruck hat 64 Hex-Ziffern (Paare ggf. durch ':' getrennt), "
                f"erhalten: '{text.strip()[:80]}'.",
            ),
            field=field,
        )
    return cleaned


def _base_context(
    purpose: ssl.Purpose, profile: TlsProfile, group: str | None
) -> ssl.SSLContext:
    client = purpose is ssl.Purpose.SERVER_AUTH
    protocol = ssl.PROTOCOL_TLS_CLIENT if client else ssl.PROTOCOL_TLS_SERVER
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(profile.cipher_string)
    ctx.set_ecdh_curve(profile.check_group(group or profile.default_group))
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if purpose is ssl.Purpose.CLIENT_AUTH:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


def _load_trust(ctx: ssl.SSLContext, trust: Iterable[bytes | str | Path]) -> None:
    loaded = False
    for anchor in trust:
        if isinstance(anchor, Path):
            ctx.load_verify_locations(cafile=str(anchor))
        else:
            pem = anchor.decode("ascii") if isinstance(anchor, bytes) else anchor
            ctx.load_verify_locations(cadata=pem)
        loaded = True
    if not loaded:
        raise InvalidValue(
            Text(
                "No trust anchor given: a TLS peer can only be accepted against a CA or a pinned "
                "certificate.",
                "Kein Vertrauensanker angegeben: eine TLS-Gegenstelle wird nur gegen eine CA oder "
                "ein gepinntes Zertifikat akzeptiert.",
            ),
            field="trust",
        )


@dataclass(frozen=True)
class CertificateChain:
    """Our own certificate chain (PEM file, leaf first) and private key for a TLS endpoint."""

    certfile: Path
    keyfile: Path
    password: bytes | None = None


def client_context(
    interface: Interface,
    *,
    trust: Iterable[bytes | str | Path],
    own: CertificateChain | None = None,
    group: str | None = None,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A client context for ``interface``.

    ``trust`` holds PEM certificates (text/bytes) or PEM files: the CA certificates of the peer's
    PKI, or, for a pinned self-signed HAN certificate, that certificate itself. ``own`` is the
    client certificate for mutual authentication. Certificate verification cannot be switched
    off; hostname checking may be, where the peer's identity is established by a pin instead.
    """
    ctx = _base_context(ssl.Purpose.SERVER_AUTH, PROFILES[interface], group)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = check_hostname
    _load_trust(ctx, trust)
    if own is not None:
        ctx.load_cert_chain(str(own.certfile), str(own.keyfile), own.password)
    return ctx


def server_context(
    interface: Interface,
    *,
    own: CertificateChain,
    client_trust: Iterable[bytes | str | Path] | None = None,
    client_cert: str = "none",
    group: str | None = None,
) -> ssl.SSLContext:
    """A server context for ``interface`` (used by the virtual SMGW and the reference GWA).

    ``client_cert`` is ``"required"`` (mutual TLS), ``"optional"`` (a HAN: certificate or HTTP
    Digest) or ``"none"``; for the first two ``client_trust`` holds the accepted client CAs.
    """
    ctx = _base_context(ssl.Purpose.CLIENT_AUTH, PROFILES[interface], group)
    ctx.load_cert_chain(str(own.certfile), str(own.keyfile), own.password)
    modes = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
    if client_cert not in modes:
        raise ValueError(f"client_cert must be one of {sorted(modes)}")
    if client_cert != "none":
        _load_trust(ctx, client_trust or ())
    ctx.verify_mode = modes[client_cert]
    return ctx


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> str:
    """SHA-256 fingerprint of the certificate the peer presented."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise TlsError(
            Text("The peer presented no certificate.",
                 "Die Gegenstelle hat kein Zertifikat gezeigt.")
        )
    return fingerprint(der)


def check_pin(ssl_object: ssl.SSLObject | ssl.SSLSocket, pin: str | None) -> str:
    """Compare the peer certificate with ``pin`` (if given); return the actual fingerprint."""
    actual = peer_fingerprint(ssl_object)
    if pin is not None and not hmac.compare_digest(actual, normalise_fingerprint(pin)):
        raise PinMismatch(normalise_fingerprint(pin), actual)
    return actual


def fetch_unverified_certificate(
    host: str, port: int, interface: Interface = Interface.HAN, *, group: str | None = None,
    timeout: float = 10.0,
) -> bytes:
    """Fetch the certificate a peer presents, for trust on first use (Erstkontakt).

    The handshake is completed and the connection closed at once: no application data and no
    credentials are sent, so nothing is disclosed to an unverified peer. The caller shows the
    fingerprint to the technician and pins it only after an explicit confirmation; every later
    connection verifies against the pinned certificate. This is a blocking call: run it in a thread.
    """
    ctx = _base_context(ssl.Purpose.SERVER_AUTH, PROFILES[interface], group)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # first contact only: the result is shown, never trusted as is
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise TlsError(
            Text("The peer presented no certificate.",
                 "Die Gegenstelle hat kein Zertifikat gezeigt.")
        )
    return der


def describe_ssl_error(exc: BaseException) -> Text:
    """A plain-language reading of an ``ssl`` error, with the TLS alert where there is one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        return Text(
            f"The peer's certificate was rejected ({reason}).",
            f"Das Zertifikat der Gegenstelle wurde abgelehnt ({reason}).",
        )
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).replace("_", " ").lower()
        return Text(
            f"The TLS handshake failed: {reason}.",
            f"Der TLS-Verbindungsaufbau ist fehlgeschlagen: {reason}.",
        )
    return Text(str(exc), str(exc))
