"""Trust on first use for the self-signed HAN certificate (Zertifikat-Pinning).

First contact: :func:`fetch_candidate` completes a handshake without verification (in a thread,
sending nothing) and returns the certificate with its SHA-256 fingerprint for the technician to
compare with the one on the gateway's label or from the operator. Only
:meth:`PinStore.confirm`, given that same fingerprint back as the explicit confirmation, stores
the pin. From then on the client context trusts exactly the pinned certificate (plus
``check_pin`` on every connection), and :meth:`PinStore.check_identity` refuses a gateway whose
SMGW ID is pinned to another certificate.

Pins live in ``han-pins.json`` in the data directory, keyed by SMGW ID (``smgw:ETHE...``) and,
before the ID is known, by address (``addr:host:port``). The file holds public certificates only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.errors import ConfigurationError, InvalidValue, Text
from app.security import tls
from app.security.pki import CertificateInfo, describe_certificate
from app.security.tls import CertificateChain, Interface
from app.transports.han.errors import HanCertificateChanged, HanTcpError, HanTlsError

PIN_FILE = "han-pins.json"
_FORMAT = "smgwct-han-pins"
_VERSION = 1

#: TLS group names by the curve names ``cryptography`` reports.
_GROUP_BY_CURVE = {
    "brainpoolP256r1": "brainpoolP256r1",
    "brainpoolP384r1": "brainpoolP384r1",
    "brainpoolP512r1": "brainpoolP512r1",
    "secp256r1": "prime256v1",
    "secp384r1": "secp384r1",
}

#: Order in which first contact tries the HAN groups (CONEXA offers only secp384r1).
PROBE_GROUPS = ("brainpoolP256r1", "secp384r1", "prime256v1", "brainpoolP384r1", "brainpoolP512r1")


def data_dir() -> Path:
    """The tool's data directory: the settings module's if present, else platformdirs."""
    try:
        from app.store import settings

        return Path(settings.data_dir())
    except (ImportError, AttributeError):
        pass
    env = os.environ.get("SMGWCT_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("smgwct"))


def _load_cert(data: bytes) -> x509.Certificate:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def to_pem(data: bytes) -> bytes:
    """A certificate (PEM or DER) as PEM."""
    return _load_cert(data).public_bytes(serialization.Encoding.PEM)


def certificate_group(data: bytes) -> str:
    """The TLS group matching the certificate's EC curve (TLS 1.2 needs them to agree)."""
    key = _load_cert(data).public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _GROUP_BY_CURVE:
        return _GROUP_BY_CURVE[key.curve.name]
    return tls.PROFILES[Interface.HAN].default_group


def address_key(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


@dataclass(frozen=True)
class CertificateCandidate:
    """A certificate seen on first contact, waiting for the technician's confirmation."""

    host: str
    port: int
    pem: bytes
    sha256: str
    group: str

    @property
    def info(self) -> CertificateInfo:
        return describe_certificate(self.pem)

    @property
    def fingerprint_display(self) -> str:
        return tls.format_fingerprint(self.sha256)


@dataclass(frozen=True)
class PinnedCertificate:
    """A confirmed HAN certificate: the only trust anchor for that gateway."""

    pem: bytes
    sha256: str
    group: str
    confirmed_at: dt.datetime
    smgw_id: str | None = None
    address: str | None = None

    @property
    def info(self) -> CertificateInfo:
        return describe_certificate(self.pem)

    def ssl_context(self, own: CertificateChain | None = None) -> ssl.SSLContext:
        """Client context trusting exactly this certificate (hostname checks are replaced
        by the pin: HAN addresses are often bare IPs the certificate does not name)."""
        return tls.client_context(
            Interface.HAN, trust=[self.pem], own=own, group=self.group, check_hostname=False
        )

    @classmethod
    def from_pem(cls, pem: bytes, *, smgw_id: str | None = None, address: str | None = None,
                 group: str | None = None) -> PinnedCertificate:
        """A pin from a known certificate (e.g. ``--pin`` after a fetch, tests, demo mode)."""
        pem = to_pem(pem)
        der = _load_cert(pem).public_bytes(serialization.Encoding.DER)
        return cls(pem, tls.fingerprint(der), group or certificate_group(pem),
                   dt.datetime.now(dt.UTC), smgw_id, address)

    def to_json(self) -> dict[str, Any]:
        return {
            "pem": self.pem.decode("ascii"), "sha256": self.sha256, "group": self.group,
            "confirmed_at": self.confirmed_at.isoformat(), "smgw_id": self.smgw_id,
            "address": self.address,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PinnedCertificate:
        pem = str(data["pem"]).encode("ascii")
        der = _load_cert(pem).public_bytes(serialization.Encoding.DER)
        sha = tls.normalise_fingerprint(str(data["sha256"]))
        if tls.fingerprint(der) != sha:
            raise ValueError("fingerprint does not match the certificate")
        group = tls.PROFILES[Interface.HAN].check_group(str(data["group"]))
        return cls(pem, sha, group, dt.datetime.fromisoformat(str(data["confirmed_at"])),
                   data.get("smgw_id"), data.get("address"))


def _fetch_blocking(
    host: str, port: int, groups: Sequence[str], timeout: float
) -> tuple[bytes, str]:
    last: ssl.SSLError | None = None
    for group in groups:
        try:
            return tls.fetch_unverified_certificate(
                host, port, Interface.HAN, group=group, timeout=timeout
            ), group
        except ssl.SSLError as exc:  # wrong group or no common suite: try the next group
            last = exc
        except TimeoutError as exc:
            raise HanTcpError(host, port, "timed out") from exc
        except OSError as exc:
            raise HanTcpError(host, port, exc.strerror or str(exc)) from exc
    raise HanTlsError(tls.describe_ssl_error(last) if last else Text("no group", "keine Gruppe"),
                      alert=tls_alert(last) if last else None)


def tls_alert(exc: BaseException | None) -> str | None:
    """The TLS alert name in an ``ssl`` error (``HANDSHAKE_FAILURE``, ``UNKNOWN_CA``, ...)."""
    reason = getattr(exc, "reason", None) or ""
    if "ALERT_" in reason:
        return reason.split("ALERT_", 1)[1]
    return None


async def fetch_candidate(
    host: str, port: int = 443, *, groups: Sequence[str] = PROBE_GROUPS, timeout: float = 10.0
) -> CertificateCandidate:
    """First contact: the certificate the gateway presents, for explicit confirmation."""
    der, group = await asyncio.to_thread(_fetch_blocking, host, port, tuple(groups), timeout)
    return CertificateCandidate(host, port, to_pem(der), tls.fingerprint(der), group)


class PinStore:
    """Pinned HAN certificates by SMGW ID and address, in a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / PIN_FILE
        self._pins: dict[str, PinnedCertificate] = self._load()

    # -- file ---------------------------------------------------------------------------------

    def _damaged(self, reason: str) -> ConfigurationError:
        return ConfigurationError(
            Text(f"The file of pinned HAN certificates {self.path} is damaged ({reason}).",
                 f"Die Datei der gepinnten HAN-Zertifikate {self.path} ist beschädigt ({reason})."),
            field="pins",
            hint=Text(
                "Restore it from a backup, or delete it and confirm every gateway's certificate "
                "again on the next connection.",
                "Stellen Sie sie aus einer Sicherung wieder her, oder löschen Sie sie und "
                "bestätigen Sie das Zertifikat jedes Gateways bei der nächsten Verbindung erneut.",
            ),
        )

    def _load(self) -> dict[str, PinnedCertificate]:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._damaged(exc.strerror or str(exc)) from exc
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT or data.get("version") != _VERSION:
                raise ValueError("unknown format or version")
            return {str(k): PinnedCertificate.from_json(v) for k, v in data["pins"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._damaged(str(exc)) from exc

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": _FORMAT, "version": _VERSION,
                "pins": {k: v.to_json() for k, v in sorted(self._pins.items())}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2), "utf-8")
        os.replace(tmp, self.path)

    # -- queries ------------------------------------------------------------------------------

    @staticmethod
    def _id_key(smgw_id: str) -> str:
        return "smgw:" + smgw_id.strip().upper()

    def get(self, *, smgw_id: str | None = None, host: str | None = None,
            port: int | None = None) -> PinnedCertificate | None:
        """The pin for the SMGW ID if known, else for the address."""
        if smgw_id:
            pin = self._pins.get(self._id_key(smgw_id))
            if pin is not None:
                return pin
        if host is not None and port is not None:
            return self._pins.get("addr:" + address_key(host, port))
        return None

    def entries(self) -> list[PinnedCertificate]:
        return list(self._pins.values())

    # -- changes ------------------------------------------------------------------------------

    def confirm(self, candidate: CertificateCandidate, confirmed_sha256: str, *,
                smgw_id: str | None = None) -> PinnedCertificate:
        """Pin ``candidate`` after the technician confirmed exactly its fingerprint."""
        confirmed = tls.normalise_fingerprint(confirmed_sha256, field="fingerprint")
        if confirmed != candidate.sha256:
            raise InvalidValue(
                Text("The confirmed fingerprint is not the one the gateway presented; nothing "
                     "was pinned.",
                     "Der bestätigte Fingerabdruck ist nicht der des Gateways; es wurde nichts "
                     "gepinnt."),
                field="fingerprint",
            )
        address = address_key(candidate.host, candidate.port)
        pin = PinnedCertificate(candidate.pem, candidate.sha256, candidate.group,
                                dt.datetime.now(dt.UTC), smgw_id.upper() if smgw_id else None,
                                address)
        if smgw_id:
            self.check_identity(smgw_id, pin.sha256)
            self._pins[self._id_key(smgw_id)] = pin
        self._pins["addr:" + address] = pin
        self._save()
        return pin

    def check_identity(self, smgw_id: str, sha256: str) -> None:
        """Raise HanCertificateChanged if ``smgw_id`` is pinned to another certificate."""
        known = self._pins.get(self._id_key(smgw_id))
        if known is not None and known.sha256 != tls.normalise_fingerprint(sha256):
            raise HanCertificateChanged(known.sha256, tls.normalise_fingerprint(sha256))

    def bind(self, pin: PinnedCertificate, smgw_id: str) -> PinnedCertificate:
        """Record the SMGW ID learnt after connecting with ``pin`` (checks it first)."""
        self.check_identity(smgw_id, pin.sha256)
        bound = PinnedCertificate(pin.pem, pin.sha256, pin.group, pin.confirmed_at,
                                  smgw_id.strip().upper(), pin.address)
        self._pins[self._id_key(smgw_id)] = bound
        if pin.address:
            self._pins["addr:" + pin.address] = bound
        self._save()
        return bound

    def forget(self, *, smgw_id: str | None = None, host: str | None = None,
               port: int | None = None) -> bool:
        """Remove a pin (after a confirmed HAN certificate change); True if one was removed."""
        removed = False
        if smgw_id:
            removed |= self._pins.pop(self._id_key(smgw_id), None) is not None
        if host is not None and port is not None:
            removed |= self._pins.pop("addr:" + address_key(host, port), None) is not None
        if removed:
            self._save()
        return removed
