"""The GWA link of ``smgwct gui`` (GWA-Anbindung) from files: URL, CA certificate, technician
certificate (PKCS#12, or PEM with its key).

The settings keep the URL (``gwa_url``) and the three file paths (``gwa_ca_file``,
``gwa_cert_file``, ``gwa_key_file``); the password of a protected PKCS#12 file or key lives only
in the keyring, under the name the ``smgwct gwa`` command uses
(:func:`app.security.client_certificate.secret_name` of the protected file), so both find it.

:func:`load_target` checks the files (run it in a worker thread); the certificate itself is
opened by :mod:`app.security.client_certificate`, and the key reaches ``app.security.tls``
re-encrypted with a one-time password in a private folder: it is never written in plain
text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.context import GwaTarget
from app.errors import InvalidValue, Text
from app.security.client_certificate import (
    PKCS12_SUFFIXES,
    ClientCertificateError,
    KeyringPasswords,
    open_client_certificate,
    secret_name,
)
from app.security.tls import CertificateChain
from app.store.settings import Settings

#: Largest certificate file read.
MAX_FILE = 1024 * 1024


class PasswordNeeded(InvalidValue):
    """The technician certificate's key is protected and no password was given."""


@dataclass(frozen=True)
class GwaLinkFiles:
    """Where the GWA link's URL and certificates come from."""

    url: str
    ca_file: Path
    cert_file: Path
    key_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GwaLinkFiles | None:
        """The stored set-up, or ``None`` when URL, CA or certificate is missing."""
        ca, cert, key = settings.gwa_ca_file, settings.gwa_cert_file, settings.gwa_key_file
        if not settings.gwa_url or not ca or not cert:
            return None
        return cls(settings.gwa_url, Path(ca), Path(cert), Path(key) if key else None)

    def to_settings(self, settings: Settings) -> Settings:
        """``settings`` with this set-up (URL and paths; never a password)."""
        return dataclasses.replace(
            settings, gwa_url=self.url, gwa_ca_file=str(self.ca_file),
            gwa_cert_file=str(self.cert_file),
            gwa_key_file=None if self.key_file is None else str(self.key_file))

    @property
    def is_pkcs12(self) -> bool:
        return self.cert_file.suffix.lower() in PKCS12_SUFFIXES


def check_url(url: str) -> str:
    """The GWA's base URL without a trailing slash; ``https://host[:port]`` is required."""
    value = url.strip()
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidValue(
            Text(f"'{value}' is not an https URL of the GWA.",
                 f"'{value}' ist keine https-URL des GWA."),
            field="gwa_url",
            hint=Text("Enter it like https://gwa.example.de:8443 (from the GWA's set-up sheet).",
                      "Geben Sie sie wie https://gwa.example.de:8443 ein (aus dem "
                      "Einrichtungsblatt des GWA)."),
        )
    try:
        _ = parts.port
    except ValueError:
        raise InvalidValue(
            Text(f"The port in '{value}' is not a number from 1 to 65535.",
                 f"Der Port in '{value}' ist keine Zahl von 1 bis 65535."),
            field="gwa_url",
        ) from None
    return value.rstrip("/")


def read_file(path: Path, field: str) -> bytes:
    """A certificate file's bytes; a clear error naming ``field`` when it cannot be used."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidValue(
            Text(f"{path} cannot be read: {exc.strerror or exc}.",
                 f"{path} kann nicht gelesen werden: {exc.strerror or exc}."),
            field=field,
            hint=Text("Choose the file again.", "Wählen Sie die Datei erneut aus."),
        ) from None
    if len(data) > MAX_FILE:
        raise InvalidValue(Text(f"{path} is too large for a certificate file.",
                                f"{path} ist zu groß für eine Zertifikatsdatei."), field=field)
    return data


def password_key(data: bytes) -> str:
    """The keyring entry of the password that opens the file with content ``data`` (the
    PKCS#12 file, or the PEM key file); shared with ``smgwct gwa`` and ``smgwct han``."""
    return secret_name(data)


PASSWORD_HINT = Text("Enter the password of the technician certificate.",
                     "Geben Sie das Passwort des Techniker-Zertifikats ein.")


class LinkPasswords(KeyringPasswords):
    """The passwords :func:`load_target` may try: the one typed in the dialog, else the
    keyring's (:class:`~app.security.client_certificate.KeyringPasswords` with this dialog's
    hint). A typed password that opened the file is kept in :attr:`to_remember`."""

    default_hint = PASSWORD_HINT


def _link_error(files: GwaLinkFiles, exc: ClientCertificateError) -> InvalidValue:
    """A certificate error with the dialog's field names (and its wording for passwords)."""
    if exc.reason == "password-needed":
        path = files.key_file or files.cert_file
        return PasswordNeeded(
            Text(f"The key in {path} is protected by a password.",
                 f"Der Schlüssel in {path} ist durch ein Passwort geschützt."),
            field="gwa_password", hint=PASSWORD_HINT)
    if exc.reason == "wrong-password":
        path = files.key_file or files.cert_file
        return InvalidValue(
            Text(f"The password does not open {path}.", f"Das Passwort öffnet {path} nicht."),
            field="gwa_password",
            hint=Text("Check the password (upper and lower case count).",
                      "Prüfen Sie das Passwort (Groß- und Kleinschreibung zählen)."))
    key_problem = exc.field == "key" or (exc.reason == "no-key" and not files.is_pkcs12)
    return InvalidValue(exc.message, field="gwa_key_file" if key_problem else "gwa_cert_file",
                        hint=exc.hint)


def needs_password(files: GwaLinkFiles) -> bool:
    """Whether the technician certificate's key is protected by a password."""
    try:
        with open_client_certificate(files.cert_file, key_path=files.key_file,
                                     password_source=LinkPasswords()):
            return False
    except ClientCertificateError as exc:
        return exc.reason == "password-needed"


def load_target(files: GwaLinkFiles, password: str | LinkPasswords | None,
                workdir: Path) -> GwaTarget:
    """The :class:`~app.context.GwaTarget` for ``files`` (blocking: call it in a thread).

    ``password`` is the typed password or a :class:`LinkPasswords` (typed, else keyring). The
    certificate is opened by :func:`app.security.client_certificate.open_client_certificate`;
    its chain and its key, re-encrypted with a one-time password, are copied to ``workdir``,
    which must stay until the link is no longer used. Errors are
    :class:`~app.errors.InvalidValue` naming the field (``gwa_url``, ``gwa_ca_file``,
    ``gwa_cert_file``, ``gwa_key_file``, ``gwa_password``); :class:`PasswordNeeded` when a
    password is needed and none was given.
    """
    from cryptography import x509

    url = check_url(files.url)
    trust = read_file(files.ca_file, "gwa_ca_file")
    try:
        x509.load_pem_x509_certificates(trust)
    except ValueError:
        raise InvalidValue(
            Text(f"{files.ca_file} holds no PEM certificate.",
                 f"{files.ca_file} enthält kein PEM-Zertifikat."),
            field="gwa_ca_file",
            hint=Text("Choose the GWA's CA certificate (PEM, '-----BEGIN CERTIFICATE-----').",
                      "Wählen Sie das CA-Zertifikat des GWA (PEM, "
                      "'-----BEGIN CERTIFICATE-----')."),
        ) from None
    source = password if isinstance(password, LinkPasswords) else LinkPasswords(password)
    workdir.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = workdir / "gwa-chain.pem", workdir / "gwa-key.pem"
    try:
        with open_client_certificate(files.cert_file, key_path=files.key_file,
                                     password_source=source) as cert:
            certfile.write_bytes(cert.certfile.read_bytes())
            keyfile.write_bytes(cert.keyfile.read_bytes())  # encrypted with cert.password
            chain = CertificateChain(certfile, keyfile, cert.password)
            group = cert.group
    except ClientCertificateError as exc:
        raise _link_error(files, exc) from None
    return GwaTarget(url, trust, chain, tls_group=group)
