"""Certificates: a complete demo/test PKI on brainpool curves, and certificate descriptions.

The demo PKI mirrors the shape of the Smart Metering PKI (BSI TR-03109-4): a root CA, a sub-CA,
and for the Gateway Administrator (GWA) and the gateway (SMGW) one TLS, one SIG (content
signature, wake-up packets) and one ENC (content encryption) certificate each. The SMGW's HAN
certificate is self-signed as on real gateways, and the technician gets a client certificate for
the GWA link. The keys are training material for the embedded default, not secrets of anyone;
they are written unencrypted into the demo directory (see ``docs/security.md``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.errors import ConfigurationError, Text
from app.security.tls import CertificateChain, fingerprint

#: Curves by the names TLS and OpenSSL use.
CURVES: dict[str, ec.EllipticCurve] = {
    "brainpoolP256r1": ec.BrainpoolP256R1(),
    "brainpoolP384r1": ec.BrainpoolP384R1(),
    "brainpoolP512r1": ec.BrainpoolP512R1(),
    "prime256v1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
}

PKI_LAYOUT_VERSION = 1


def generate_key(curve: str = "brainpoolP256r1") -> ec.EllipticCurvePrivateKey:
    """A fresh EC private key (blocking but fast: ~1 ms; use a thread for many)."""
    return ec.generate_private_key(CURVES[curve])


@dataclass
class CertifiedKey:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self, password: bytes | None = None) -> bytes:
        algorithm: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm
        )

    @property
    def sha256(self) -> str:
        return fingerprint(self.cert_der)


def _name(common_name: str, org: str = "smgwct demo PKI", unit: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: CertifiedKey | None,
    ca: bool = False,
    path_length: int | None = None,
    usage: str = "tls",
    hosts: Sequence[str] = (),
    days: int = 3 * 365,
    now: dt.datetime | None = None,
    extended: Sequence[x509.ObjectIdentifier] = (),
) -> CertifiedKey:
    """Issue a certificate with clean extensions (strict verifiers accept it).

    ``usage`` is ``"ca"``, ``"tls"``, ``"sig"`` or ``"enc"`` and selects KeyUsage; ``issuer=None``
    makes it self-signed. ``hosts`` become the SubjectAlternativeName.
    """
    now = now or dt.datetime.now(dt.UTC)
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    flags = dict.fromkeys(
        (
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        ),
        False,
    )
    if usage == "ca":
        flags.update(key_cert_sign=True, crl_sign=True, digital_signature=True)
    elif usage == "tls":
        flags.update(digital_signature=True)
    elif usage == "sig":
        flags.update(digital_signature=True, content_commitment=True)
    elif usage == "enc":
        flags.update(key_agreement=True)
    else:
        raise ValueError(f"unknown usage {usage!r}")
    builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    ekus = list(extended)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    digest = hashes.SHA256() if _bits(signer_key) <= 256 else hashes.SHA384()
    cert = builder.sign(signer_key, digest)
    return CertifiedKey(cert, key)


def _bits(key: ec.EllipticCurvePrivateKey) -> int:
    return key.curve.key_size


SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH

#: Roles of the demo PKI, in the order they are written.
ROLES = (
    "root", "sub_ca", "gwa_tls", "gwa_sig", "gwa_enc",
    "smgw_tls", "smgw_sig", "smgw_enc", "han", "technician",
)


@dataclass
class DemoPki:
    """All certificates of the embedded default (virtual SMGW, reference GWA, technician)."""

    smgw_id: str
    curve: str
    certs: dict[str, CertifiedKey] = field(default_factory=dict)
    directory: Path | None = None

    def __getitem__(self, role: str) -> CertifiedKey:
        return self.certs[role]

    def chain_pem(self, role: str) -> bytes:
        """Leaf followed by the sub-CA (what a TLS endpoint presents)."""
        if role == "han":
            return self.certs[role].cert_pem
        return self.certs[role].cert_pem + self.certs["sub_ca"].cert_pem

    def trust_pem(self) -> bytes:
        """The root CA: the trust anchor of the SM-PKI side."""
        return self.certs["root"].cert_pem

    def tls_chain(self, role: str) -> CertificateChain:
        """Files for ``app.security.tls`` (the PKI must have been written to a directory)."""
        if self.directory is None:
            raise ConfigurationError("the demo PKI has not been written to a directory yet")
        return CertificateChain(
            self.directory / f"{role}.chain.pem", self.directory / f"{role}.key.pem"
        )

    def write(self, directory: Path) -> None:
        """Write every certificate, chain and key, plus a manifest, into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        manifest = {"layout": PKI_LAYOUT_VERSION, "smgw_id": self.smgw_id, "curve": self.curve,
                    "roles": {}}
        for role, item in self.certs.items():
            _write_atomic(directory / f"{role}.cert.pem", item.cert_pem)
            _write_atomic(directory / f"{role}.chain.pem", self.chain_pem(role))
            _write_atomic(directory / f"{role}.key.pem", item.key_pem(), private=True)
            manifest["roles"][role] = {"sha256": item.sha256,
                                       "subject": item.cert.subject.rfc4514_string()}
        _write_atomic(directory / "manifest.json", json.dumps(manifest, indent=2).encode())
        self.directory = directory

    @classmethod
    def load(cls, directory: Path) -> DemoPki:
        """Load a PKI written by :meth:`write`; raise ConfigurationError if it is incomplete."""
        try:
            manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
            if manifest.get("layout") != PKI_LAYOUT_VERSION:
                raise ValueError("layout version")
            pki = cls(manifest["smgw_id"], manifest["curve"], directory=directory)
            for role in ROLES:
                cert_pem = (directory / f"{role}.cert.pem").read_bytes()
                cert = x509.load_pem_x509_certificate(cert_pem)
                key = serialization.load_pem_private_key(
                    (directory / f"{role}.key.pem").read_bytes(), password=None
                )
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise ValueError(f"{role}: not an EC key")
                pki.certs[role] = CertifiedKey(cert, key)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                Text(
                    f"The demo certificates in {directory} are incomplete or damaged ({exc}).",
                    f"Die Demo-Zertifikate in {directory} sind unvollständig oder "
                    f"beschädigt ({exc}).",
                ),
                hint=Text("Delete the folder; it is created anew on the next start.",
                          "Löschen Sie den Ordner; er wird beim nächsten Start neu angelegt."),
            ) from exc
        return pki


def _write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def create_demo_pki(
    smgw_id: str = "EDEM0100000001",
    *,
    curve: str = "brainpoolP256r1",
    hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    han_curve: str | None = None,
    now: dt.datetime | None = None,
) -> DemoPki:
    """Create the whole demo PKI in memory (about 10 EC keys; run it in a thread)."""
    pki = DemoPki(smgw_id=smgw_id, curve=curve)
    root = issue_certificate(subject=_name("smgwct Demo Root-CA"), key=generate_key(curve),
                             issuer=None, ca=True, usage="ca", days=10 * 365, now=now)
    sub = issue_certificate(subject=_name("smgwct Demo Sub-CA GWA"), key=generate_key(curve),
                            issuer=root, ca=True, path_length=0, usage="ca", days=6 * 365, now=now)
    pki.certs["root"], pki.certs["sub_ca"] = root, sub
    gwa = "smgwct Demo GWA"
    pki.certs["gwa_tls"] = issue_certificate(
        subject=_name(f"{gwa} TLS", unit="GWA"), key=generate_key(curve), issuer=sub,
        usage="tls", hosts=hosts, extended=(SERVER, CLIENT), now=now)
    pki.certs["gwa_sig"] = issue_certificate(
        subject=_name(f"{gwa} SIG", unit="GWA"), key=generate_key(curve), issuer=sub,
        usage="sig", now=now)
    pki.certs["gwa_enc"] = issue_certificate(
        subject=_name(f"{gwa} ENC", unit="GWA"), key=generate_key(curve), issuer=sub,
        usage="enc", now=now)
    pki.certs["smgw_tls"] = issue_certificate(
        subject=_name(f"{smgw_id} TLS", unit="SMGW"), key=generate_key(curve), issuer=sub,
        usage="tls", hosts=hosts, extended=(CLIENT, SERVER), now=now)
    pki.certs["smgw_sig"] = issue_certificate(
        subject=_name(f"{smgw_id} SIG", unit="SMGW"), key=generate_key(curve), issuer=sub,
        usage="sig", now=now)
    pki.certs["smgw_enc"] = issue_certificate(
        subject=_name(f"{smgw_id} ENC", unit="SMGW"), key=generate_key(curve), issuer=sub,
        usage="enc", now=now)
    pki.certs["han"] = issue_certificate(
        subject=_name(smgw_id, org="smgwct demo gateway", unit="HAN"),
        key=generate_key(han_curve or curve), issuer=None, usage="tls", hosts=hosts,
        extended=(SERVER,), days=5 * 365, now=now)
    pki.certs["technician"] = issue_certificate(
        subject=_name("Demo Servicetechniker", unit="Technician"), key=generate_key(curve),
        issuer=sub, usage="tls", extended=(CLIENT,), days=2 * 365, now=now)
    return pki


def load_or_create_demo_pki(
    directory: Path, smgw_id: str = "EDEM0100000001"
) -> tuple[DemoPki, bool]:
    """Load the demo PKI from ``directory`` or create it there; the flag says it was created."""
    if (directory / "manifest.json").exists():
        try:
            return DemoPki.load(directory), False
        except ConfigurationError:
            backup = directory.with_name(directory.name + ".broken")
            if backup.exists():
                import shutil

                shutil.rmtree(backup)
            directory.rename(backup)
    pki = create_demo_pki(smgw_id)
    pki.write(directory)
    return pki, True


@dataclass(frozen=True)
class CertificateInfo:
    """What the UI and reports show of a certificate."""

    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    key: str
    self_signed: bool

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "subject": self.subject, "issuer": self.issuer, "serial": self.serial,
            "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
            "sha256": self.sha256, "key": self.key, "self_signed": self.self_signed,
        }


def describe_certificate(cert: x509.Certificate | bytes) -> CertificateInfo:
    """Describe a certificate (object, DER or PEM bytes) for display."""
    if isinstance(cert, bytes):
        cert = (
            x509.load_pem_x509_certificate(cert)
            if cert.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_certificate(cert)
        )
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        key = f"EC {public.curve.name}"
    else:
        key = type(public).__name__.removeprefix("_")
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        key=key,
        self_signed=cert.issuer == cert.subject,
    )
