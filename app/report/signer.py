"""Who signs the commissioning report (Unterzeichner des Inbetriebnahmeprotokolls).

A :class:`ReportSigner` is the technician's key with its certificate, the further certificates
that go into the signature (sub-CA) and the trust anchors that verify the result. It comes from
the demo PKI (:func:`demo_report_signer`) or from files (:func:`load_report_signer`): a PEM
certificate (the sub-CA may follow) with a PEM key (encrypted or not), or a PKCS#12 file. The
files are read by :func:`app.security.client_certificate.load_client_certificate`, the loader of
the TLS client certificate, so a password saved for one is found by the other; passwords live
only in the keyring (``client-cert-password/…`` over the protected file; the older
``key-password/<certificate SHA-256>`` is still read).

The signature is CMS SignedData with ECDSA (``app.protocols.cms``, see docs/report.md), so only
EC keys sign. The signer is checked when it is loaded - currently valid, key usage, not
self-signed, path to the trust anchor - so that a problem with the signer shows when it is set
up, not in a finished report.

The trust anchor comes from the CA file when one is given; otherwise from the self-signed root
CA inside the certificate file itself. The latter is a convenience, not a proof: whoever made
the file chose that root. :attr:`ReportSigner.anchor_source` says which, so that the window and
the command can ask the technician to compare the root's fingerprint. The signing certificate,
and any certificate with its public key, is never an anchor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from app.errors import InvalidValue, Text
from app.protocols.cms import CmsError, CmsFailure
from app.protocols.cms.chain import validate_chain
from app.security.client_certificate import (
    MAX_FILE_BYTES,
    PKCS12_SUFFIXES,
    ClientCertificateError,
    KeyringPasswords,
    PasswordSource,
    load_client_certificate,
)
from app.security.pki import (
    CertificateInfo,
    CertifiedKey,
    describe_certificate,
    load_or_create_demo_pki,
)
from app.security.secrets import secret_key
from app.security.tls import fingerprint
from app.store.settings import Settings
from app.workbench import demo_pki_dir

#: Error fields (the names of the settings that hold the files).
FIELD_CERT, FIELD_KEY, FIELD_TRUST = "report_cert", "report_key", "report_trust"
FIELD_PASSWORD = "report_password"  # noqa: S105 - a field name, not a password
#: Keyring name prefix of the key password used by earlier versions of ``smgwct report``.
LEGACY_SECRET_KIND = "key-password"  # noqa: S105 - a name, not a password
#: Where the trust anchors came from (:attr:`ReportSigner.anchor_source`).
ANCHOR_CA_FILE, ANCHOR_CERT_FILE, ANCHOR_DEMO = "ca-file", "certificate-file", "demo"


class SignerError(InvalidValue):
    """The signing certificate cannot be used; ``field`` is one of the ``FIELD_*`` names and
    ``reason`` a short code for callers and tests (``expired``, ``not-ec``, ``no-trust``, …)."""

    def __init__(self, reason: str, message: Text, *, field: str,
                 hint: Text | None = None) -> None:
        super().__init__(message, field=field, hint=hint)
        self.reason = reason


class PasswordNeeded(SignerError):
    """The key is protected and no password was given or found in the keyring."""


@dataclass(frozen=True)
class ReportSigner:
    """What signs a report and what anchors its verification."""

    key: CertifiedKey
    #: certificates included in the signature (sub-CA), never the root
    extra_certs: list[x509.Certificate]
    #: trust anchors for :func:`app.report.verify_report`
    trust: list[x509.Certificate]
    #: where :attr:`trust` came from: ``ANCHOR_CA_FILE`` (an explicit CA file),
    #: ``ANCHOR_CERT_FILE`` (the root CA inside the certificate file) or ``ANCHOR_DEMO``
    anchor_source: str = ANCHOR_CA_FILE

    @property
    def info(self) -> CertificateInfo:
        """Subject, issuer, validity and SHA-256 of the signing certificate."""
        return describe_certificate(self.key.cert)

    @property
    def anchor_from_certificate_file(self) -> bool:
        """Whether the anchor is the root CA found in the technician's own certificate file
        (no CA file given): its fingerprint must then be compared by a person."""
        return self.anchor_source == ANCHOR_CERT_FILE

    @property
    def anchor_fingerprints(self) -> list[str]:
        """SHA-256 fingerprints (64 lower-case hex digits) of the trust anchors."""
        return [fingerprint(c.public_bytes(serialization.Encoding.DER)) for c in self.trust]

    def anchor_note(self) -> Text | None:
        """One line for the technician when the anchor came from the certificate file, else
        ``None``."""
        if not self.anchor_from_certificate_file:
            return None
        prints = ", ".join(self.anchor_fingerprints)
        return Text(
            f"Trust anchor: root CA from the certificate file (SHA-256 {prints}); compare the "
            "fingerprint with the one your PKI published, or give the CA file.",
            f"Vertrauensanker: Wurzel-CA aus der Zertifikatsdatei (SHA-256 {prints}); "
            "vergleichen Sie den Fingerabdruck mit dem von Ihrer PKI veröffentlichten oder "
            "geben Sie die CA-Datei an.")


@dataclass(frozen=True)
class SignerFiles:
    """Where the report signing certificate comes from (kept in the settings; no password)."""

    cert: Path
    key: Path | None = None
    trust: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SignerFiles | None:
        """The configured files, or ``None`` when no signing certificate is set up."""
        if not settings.report_cert:
            return None
        return cls(Path(settings.report_cert),
                   Path(settings.report_key) if settings.report_key else None,
                   Path(settings.report_trust) if settings.report_trust else None)

    def to_settings(self, settings: Settings) -> Settings:
        """``settings`` with these file paths."""
        return dataclasses.replace(
            settings, report_cert=str(self.cert),
            report_key=str(self.key) if self.key is not None else None,
            report_trust=str(self.trust) if self.trust is not None else None)

    @property
    def is_pkcs12(self) -> bool:
        """Whether the certificate file is named like a PKCS#12 file (it then holds the key)."""
        return self.cert.suffix.lower() in PKCS12_SUFFIXES


PASSWORD_HINT = Text("Enter the password of the signing key.",
                     "Geben Sie das Passwort des Signaturschlüssels ein.")


class SignerPasswords(KeyringPasswords):
    """The passwords :func:`load_report_signer` may try: the one given for this run, else the
    keyring's (:class:`~app.security.client_certificate.KeyringPasswords` with the signing
    key's hint). A given password that opened the file is kept in :attr:`to_remember`."""

    default_hint = PASSWORD_HINT


# --- loading ------------------------------------------------------------------------------------


def _legacy_names(cert_path: Path) -> list[str]:
    """``key-password/<SHA-256 of the certificate>`` of earlier ``smgwct report`` versions."""
    try:
        with Path(cert_path).open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if b"-----BEGIN CERTIFICATE" not in data:
            return []
        first = x509.load_pem_x509_certificates(data)[0]
    except (OSError, ValueError):
        return []  # the loader reports the file itself
    return [secret_key(LEGACY_SECRET_KIND,
                       fingerprint(first.public_bytes(serialization.Encoding.DER)))]


def _loader_error(files: SignerFiles, exc: ClientCertificateError,
                  passwords: PasswordSource) -> SignerError:
    """A loader error worded for the report signature, with the settings' field names."""
    path = exc.path or files.key or files.cert
    if exc.reason == "password-needed":
        return PasswordNeeded(
            exc.reason,
            Text(f"The key in {path} is protected by a password.",
                 f"Der Schlüssel in {path} ist durch ein Passwort geschützt."),
            field=FIELD_PASSWORD, hint=passwords.hint)
    if exc.reason == "wrong-password":
        return SignerError(
            exc.reason,
            Text(f"The password does not open {path}.", f"Das Passwort öffnet {path} nicht."),
            field=FIELD_PASSWORD,
            hint=Text("Check the password (upper and lower case count).",
                      "Prüfen Sie das Passwort (Groß- und Kleinschreibung zählen)."))
    key_problem = exc.field == "key" or (
        files.key is not None and exc.reason in ("key-mismatch", "not-ec", "curve")) or (
        exc.reason == "no-key" and not files.is_pkcs12)
    field = FIELD_KEY if key_problem else FIELD_CERT
    if exc.reason == "not-ec":
        kind = exc.detail.en.split(" ", 1)[0] if exc.detail else "non-EC"
        return SignerError(
            exc.reason,
            Text(f"{path} holds an {kind} key; commissioning reports are signed with ECDSA, so "
                 "the signing certificate needs an EC key.",
                 f"{path} enthält einen {kind}-Schlüssel; Inbetriebnahmeprotokolle werden mit "
                 "ECDSA signiert, das Signaturzertifikat braucht daher einen EC-Schlüssel."),
            field=field,
            hint=Text("Use a technician certificate with an EC key (brainpoolP256r1 or P-256).",
                      "Verwenden Sie ein Techniker-Zertifikat mit EC-Schlüssel "
                      "(brainpoolP256r1 oder P-256)."))
    if exc.detail is None:  # unreadable, wrong key option: the loader's words fit
        return SignerError(exc.reason, exc.message, field=field, hint=exc.hint)
    return SignerError(
        exc.reason,
        Text(f"{path} cannot sign commissioning reports ({exc.detail.en}).",
             f"{path} kann keine Inbetriebnahmeprotokolle signieren ({exc.detail.de})."),
        field=field, hint=exc.hint)


def _check_valid(cert: x509.Certificate, path: Path, now: dt.datetime) -> None:
    subject = cert.subject.rfc4514_string()
    if now > cert.not_valid_after_utc:
        when = f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        raise SignerError(
            "expired",
            Text(f"The signing certificate {subject} in {path} expired on {when}.",
                 f"Das Signaturzertifikat {subject} in {path} ist am {when} abgelaufen."),
            field=FIELD_CERT,
            hint=Text("Request a new technician certificate and set it up again.",
                      "Beantragen Sie ein neues Techniker-Zertifikat und richten Sie es neu ein."))
    if now < cert.not_valid_before_utc:
        when = f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        raise SignerError(
            "not-yet-valid",
            Text(f"The signing certificate {subject} in {path} is valid only from {when}.",
                 f"Das Signaturzertifikat {subject} in {path} gilt erst ab {when}."),
            field=FIELD_CERT,
            hint=Text("Check the computer's date and time, or wait until the certificate is "
                      "valid.",
                      "Prüfen Sie Datum und Uhrzeit des Rechners oder warten Sie, bis das "
                      "Zertifikat gilt."))


def _check_usage(cert: x509.Certificate, path: Path) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        extra = (" (nonRepudiation alone is not enough)" if usage.content_commitment else "",
                 " (nonRepudiation allein genügt nicht)" if usage.content_commitment else "")
        raise SignerError(
            "key-usage",
            Text(f"The certificate in {path} may not make digital signatures: its key usage "
                 f"lacks digitalSignature{extra[0]}.",
                 f"Das Zertifikat in {path} darf nicht digital signieren: seiner "
                 f"Schlüsselverwendung fehlt digitalSignature{extra[1]}."),
            field=FIELD_CERT,
            hint=Text("Choose your technician certificate for signatures, not one for "
                      "encryption.",
                      "Wählen Sie Ihr Techniker-Zertifikat für Signaturen, nicht eines für "
                      "Verschlüsselung."))


SELF_SIGNED_HINT = Text(
    "Use a technician certificate issued by your company's or the GWA's CA, and give that CA's "
    "certificate as the CA file.",
    "Verwenden Sie ein Techniker-Zertifikat, das die CA Ihres Unternehmens oder des GWA "
    "ausgestellt hat, und geben Sie deren Zertifikat als CA-Datei an.")


def _check_not_self_signed(cert: x509.Certificate, path: Path) -> None:
    """A self-signed certificate proves nothing about who signed: refused."""
    if not _self_signed(cert):
        return
    subject = cert.subject.rfc4514_string()
    raise SignerError(
        "self-signed",
        Text(f"The signing certificate {subject} in {path} is self-signed; nobody vouches for "
             "it, so it cannot sign commissioning reports.",
             f"Das Signaturzertifikat {subject} in {path} ist selbstsigniert; niemand bürgt "
             "dafür, daher kann es keine Inbetriebnahmeprotokolle signieren."),
        field=FIELD_CERT, hint=SELF_SIGNED_HINT)


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _read_trust(path: Path) -> list[x509.Certificate]:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SignerError(
            "unreadable",
            Text(f"The CA certificate file {path} cannot be read: {exc.strerror or exc}.",
                 f"Die CA-Zertifikatsdatei {path} kann nicht gelesen werden: "
                 f"{exc.strerror or exc}."),
            field=FIELD_TRUST,
            hint=Text("Choose the file again.", "Wählen Sie die Datei erneut aus.")) from None
    try:
        if len(data) > MAX_FILE_BYTES:
            raise ValueError("too large")
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SignerError(
            "damaged",
            Text(f"{path} holds no PEM certificate.", f"{path} enthält kein PEM-Zertifikat."),
            field=FIELD_TRUST,
            hint=Text("Choose the root CA certificate as a PEM file "
                      "('-----BEGIN CERTIFICATE-----').",
                      "Wählen Sie das Zertifikat der Wurzel-CA als PEM-Datei "
                      "('-----BEGIN CERTIFICATE-----').")) from None


NEED_CA_HINT = Text(
    "Choose the CA certificate file (PEM) of the PKI that issued your technician certificate.",
    "Wählen Sie die CA-Zertifikatsdatei (PEM) der PKI, die Ihr Techniker-Zertifikat ausgestellt "
    "hat.")


def _public_key_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def _anchor(files: SignerFiles, chain: list[x509.Certificate], now: dt.datetime
            ) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(trust anchors, certificates to include in the signature). No certificate with the
    signing certificate's public key is an anchor or an intermediate."""
    leaf = chain[0]
    own_key = _public_key_der(leaf)
    others = [c for c in chain[1:] if _public_key_der(c) != own_key]
    if files.trust is not None:
        trust = [c for c in _read_trust(files.trust) if _public_key_der(c) != own_key]
    else:
        trust = [c for c in others if _self_signed(c)]
        if not trust:
            raise SignerError(
                "no-trust",
                Text(f"A CA certificate is needed to verify the report: {files.cert} holds no "
                     "root CA certificate, and no CA certificate file is set.",
                     f"Zum Prüfen des Protokolls wird ein CA-Zertifikat gebraucht: {files.cert} "
                     "enthält kein Wurzel-CA-Zertifikat, und keine CA-Zertifikatsdatei ist "
                     "angegeben."),
                field=FIELD_TRUST, hint=NEED_CA_HINT)
    try:
        path = validate_chain(leaf, intermediates=others, trust=trust, at=now)
    except CmsError as exc:
        if exc.reason in (CmsFailure.EXPIRED, CmsFailure.NOT_YET_VALID):
            raise SignerError(
                "chain-invalid",
                Text(f"A certificate of the signing certificate's chain is not valid now "
                     f"({exc.detail}).",
                     f"Ein Zertifikat der Kette des Signaturzertifikats ist derzeit nicht "
                     f"gültig ({exc.detail})."),
                field=FIELD_TRUST if files.trust is not None else FIELD_CERT,
                hint=Text("Get the current CA certificates from your PKI.",
                          "Besorgen Sie die aktuellen CA-Zertifikate bei Ihrer PKI.")) from None
        where = files.trust or files.cert
        raise SignerError(
            "untrusted",
            Text(f"The signing certificate {leaf.subject.rfc4514_string()} does not lead to a "
                 f"CA certificate in {where} ({exc.detail or exc.reason}).",
                 f"Das Signaturzertifikat {leaf.subject.rfc4514_string()} führt zu keinem "
                 f"CA-Zertifikat in {where} ({exc.detail or exc.reason})."),
            field=FIELD_TRUST,
            hint=Text("Choose the CA that issued the technician certificate, or add the missing "
                      "sub-CA to the certificate file.",
                      "Wählen Sie die CA, die das Techniker-Zertifikat ausgestellt hat, oder "
                      "ergänzen Sie die fehlende Sub-CA in der Zertifikatsdatei.")) from None
    return trust, [c for c in path[1:] if not _self_signed(c)]


def load_report_signer(files: SignerFiles, passwords: PasswordSource | None = None, *,
                       now: dt.datetime | None = None) -> ReportSigner:
    """The signer from ``files`` (blocking: file reads and key derivation - use a thread).

    ``passwords`` supplies the key's password (default: none, i.e. only unprotected keys).
    Raises :class:`SignerError` (``field`` = ``report_cert``/``report_key``/``report_trust``/
    ``report_password``), :class:`PasswordNeeded` when a password is needed and none was found.
    """
    source: PasswordSource = passwords if passwords is not None else SignerPasswords()
    try:
        loaded = load_client_certificate(files.cert, key_path=files.key, password_source=source,
                                         extra_names=_legacy_names(files.cert))
    except ClientCertificateError as exc:
        raise _loader_error(files, exc, source) from None
    now = now or dt.datetime.now(dt.UTC)
    leaf = loaded.chain[0]
    _check_valid(leaf, files.cert, now)
    _check_usage(leaf, files.cert)
    _check_not_self_signed(leaf, files.cert)
    trust, extra = _anchor(files, loaded.chain, now)
    source = ANCHOR_CA_FILE if files.trust is not None else ANCHOR_CERT_FILE
    return ReportSigner(CertifiedKey(leaf, loaded.key), extra, trust, source)


def demo_report_signer(folder: Path, smgw_id: str) -> ReportSigner:
    """The demo PKI's technician (``smgwct report build --demo``, the window in demo mode): the
    PKI in :func:`app.workbench.demo_pki_dir` of ``folder``, created there if missing."""
    pki, _ = load_or_create_demo_pki(demo_pki_dir(folder, smgw_id), smgw_id)
    return ReportSigner(pki["technician"], [pki["sub_ca"].cert], [pki["root"].cert],
                        ANCHOR_DEMO)


__all__ = [
    "ANCHOR_CA_FILE", "ANCHOR_CERT_FILE", "ANCHOR_DEMO", "FIELD_CERT", "FIELD_KEY",
    "FIELD_PASSWORD", "FIELD_TRUST", "PKCS12_SUFFIXES", "PasswordNeeded",
    "ReportSigner", "SignerError", "SignerFiles", "SignerPasswords", "demo_report_signer",
    "load_report_signer",
]
