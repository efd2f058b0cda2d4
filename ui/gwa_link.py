"""The GWA link of ``smgwct gui`` (GWA-Anbindung) from files: URL, CA certificate, technician
certificate (PKCS#12, or PEM with its key).

The settings keep the URL (``gwa_url``) and the three file paths (``gwa_ca_file``,
``gwa_cert_file``, ``gwa_key_file``); the password of a protected PKCS#12 file or key lives only
in the keyring, under the same name the ``smgwct gwa`` command uses
(``gwa-certificate/<first 24 hex digits of the certificate file's SHA-256>``), so both find it.

:func:`load_target` reads and checks the files (run it in a worker thread) and hands
``app.security.tls`` the key re-encrypted with a one-time password in a private folder: the
private key is never written in plain text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.context import GwaTarget
from app.errors import InvalidValue, Text
from app.security.secrets import secret_key
from app.security.tls import CertificateChain
from app.store.settings import Settings

#: setting keys of the file paths (kept in ``Settings.extra``)
CA_KEY, CERT_KEY, KEY_KEY = "gwa_ca_file", "gwa_cert_file", "gwa_key_file"
MAX_FILE = 1024 * 1024
PKCS12_SUFFIXES = (".p12", ".pfx")


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
        extra = settings.extra
        ca, cert, key = extra.get(CA_KEY), extra.get(CERT_KEY), extra.get(KEY_KEY)
        if not settings.gwa_url or not isinstance(ca, str) or not isinstance(cert, str):
            return None
        return cls(settings.gwa_url, Path(ca), Path(cert),
                   Path(key) if isinstance(key, str) and key else None)

    def to_settings(self, settings: Settings) -> Settings:
        """``settings`` with this set-up (URL and paths; never a password)."""
        extra: dict[str, Any] = dict(settings.extra)
        extra[CA_KEY] = str(self.ca_file)
        extra[CERT_KEY] = str(self.cert_file)
        if self.key_file is not None:
            extra[KEY_KEY] = str(self.key_file)
        else:
            extra.pop(KEY_KEY, None)
        return dataclasses.replace(settings, gwa_url=self.url, extra=extra)

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


def password_key(cert_bytes: bytes) -> str:
    """The keyring entry of the certificate's password (shared with ``smgwct gwa``)."""
    return secret_key("gwa-certificate", hashlib.sha256(cert_bytes).hexdigest()[:24])


def _bad_cert(path: Path, en: str, de: str, field: str = "gwa_cert_file") -> InvalidValue:
    return InvalidValue(Text(f"{path} is not a usable technician certificate ({en}).",
                             f"{path} ist kein verwendbares Techniker-Zertifikat ({de})."),
                        field=field)


def _password_needed(path: Path) -> PasswordNeeded:
    return PasswordNeeded(
        Text(f"The key in {path} is protected by a password.",
             f"Der Schlüssel in {path} ist durch ein Passwort geschützt."),
        field="gwa_password",
        hint=Text("Enter the password of the technician certificate.",
                  "Geben Sie das Passwort des Techniker-Zertifikats ein."),
    )


def _wrong_password(path: Path) -> InvalidValue:
    return InvalidValue(
        Text(f"The password does not open {path}.",
             f"Das Passwort öffnet {path} nicht."),
        field="gwa_password",
        hint=Text("Check the password (upper and lower case count).",
                  "Prüfen Sie das Passwort (Groß- und Kleinschreibung zählen)."),
    )


def _load_chain(files: GwaLinkFiles, password: bytes | None) -> tuple[list[Any], Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    path = files.cert_file
    data = read_file(path, "gwa_cert_file")
    if files.is_pkcs12:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            if password is None:
                raise _password_needed(path) from None
            raise _wrong_password(path) from None
        if key is None or cert is None:
            raise _bad_cert(path, "no key or certificate inside",
                            "kein Schlüssel oder Zertifikat enthalten")
        return [cert, *(extra or [])], key
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _bad_cert(path, "no PEM certificate", "kein PEM-Zertifikat") from None
    key_path = files.key_file or path
    key_data = read_file(files.key_file, "gwa_key_file") if files.key_file else data
    if b"PRIVATE KEY-----" not in key_data:
        raise _bad_cert(key_path, "no private key; choose the key file",
                        "kein privater Schlüssel; wählen Sie die Schlüsseldatei",
                        field="gwa_key_file")
    try:
        key = serialization.load_pem_private_key(key_data, password)
    except TypeError:  # encrypted without a password, or a password for a plain key
        if password is None:
            raise _password_needed(key_path) from None
        key = serialization.load_pem_private_key(key_data, None)
    except ValueError:
        if password is not None:
            raise _wrong_password(key_path) from None
        raise _bad_cert(key_path, "unreadable private key", "privater Schlüssel nicht lesbar",
                        field="gwa_key_file") from None
    return chain, key


def needs_password(files: GwaLinkFiles) -> bool:
    """Whether the technician certificate's key is protected by a password."""
    try:
        _load_chain(files, None)
    except PasswordNeeded:
        return True
    return False


def load_target(files: GwaLinkFiles, password: str | None, workdir: Path) -> GwaTarget:
    """The :class:`~app.context.GwaTarget` for ``files`` (blocking: call it in a thread).

    ``workdir`` receives the chain and the key re-encrypted with a one-time password; it must
    stay until the link is no longer used. Errors are :class:`~app.errors.InvalidValue` naming
    the field (``gwa_url``, ``gwa_ca_file``, ``gwa_cert_file``, ``gwa_key_file``,
    ``gwa_password``); :class:`PasswordNeeded` when a password is needed and none was given.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

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
    chain, key = _load_chain(files, password.encode("utf-8") if password else None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _bad_cert(files.cert_file, "not an elliptic-curve key as TR-03116-3 requires",
                        "kein Schlüssel auf elliptischen Kurven, wie TR-03116-3 ihn verlangt")
    one_time = secrets.token_urlsafe(24).encode()
    workdir.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = workdir / "gwa-chain.pem", workdir / "gwa-key.pem"
    certfile.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    keyfile.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time)))
    group = {"secp256r1": "prime256v1"}.get(key.curve.name, key.curve.name)
    return GwaTarget(url, trust, CertificateChain(certfile, keyfile, one_time), tls_group=group)
