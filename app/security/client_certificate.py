"""The technician's client certificate (Client-Zertifikat) for mutual TLS, loaded once for all.

A PKCS#12 file (.p12/.pfx) or a PEM certificate chain with its private key (inside the same
file or in a separate one) is checked and handed to :mod:`app.security.tls` as a
:class:`~app.security.tls.CertificateChain` of two temporary files: the chain, and the private key
re-encrypted with a random one-time password that only lives in memory. The files are created
with ``tempfile.mkstemp`` (mode 0600) inside a private ``tempfile.mkdtemp`` folder, closed before
``ssl`` reads them, and deleted when the ``with`` block ends - also after an error.

Passwords come from a :class:`PasswordSource` that the caller provides (keyring, standard input,
prompt). In the keyring a password is saved under :func:`secret_name`
(``client-cert-password/<first 24 hex digits of the SHA-256 of the protected file>``); the
names used by earlier versions (``pkcs12-password/...`` of ``smgwct han`` and
``gwa-certificate/...`` of ``smgwct gwa``, both over the ``--cert`` file) are still read.

:class:`KeyringPasswords` is the password source of the dialogs and of ``smgwct report``: a
password given for this run, else the keyring's; one that opened the file is kept for the caller
to save. A file holding the same certificate twice is read as holding it once.

The key must be an EC key on a curve the TLS profiles of BSI TR-03116-3 allow.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from app.errors import InvalidValue, Text
from app.security.secrets import SecretStore, SecretStoreUnavailable, secret_key
from app.security.tls import PROFILES, CertificateChain, fingerprint

#: Largest certificate or key file accepted (real ones are a few kB).
MAX_FILE_BYTES = 1024 * 1024

#: Keyring name prefix of a client certificate's password.
SECRET_KIND = "client-cert-password"  # noqa: S105 - a name, not a password
#: Names of earlier versions, still read (over the hash of the ``--cert`` file).
LEGACY_SECRET_KINDS = ("pkcs12-password", "gwa-certificate")

#: File name endings of PKCS#12 files (they hold the key; there is no separate key file).
PKCS12_SUFFIXES = (".p12", ".pfx")

#: Curves (by TLS group name) that at least one interface profile allows.
ALLOWED_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(
    group for profile in PROFILES.values() for group in profile.groups))

_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:ENCRYPTED |EC |RSA |DSA )?PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL)


class PasswordSource(Protocol):
    """Where the password of a protected certificate or key may come from (the caller decides).

    :func:`open_client_certificate` first tries no password, then ``given()``; only when nothing
    was given, the keyring (``stored``) and then ``ask``. ``remember`` is told a password from
    ``given``/``ask`` once it has opened the file (to save it, if the technician asked for that).
    """

    #: how a password can be supplied in this run (the hint when none is available)
    hint: Text

    def given(self) -> str | None:
        """A password supplied explicitly for this run (e.g. standard input), else None."""
        ...

    def stored(self, name: str) -> str | None:
        """The password saved in the keyring under ``name``, else None (also: no keyring)."""
        ...

    def ask(self, prompt: Text) -> str | None:
        """Ask the technician; None if this run cannot ask."""
        ...

    def remember(self, name: str, password: str) -> None:
        """A given or typed password opened the file; save it under ``name`` if wanted."""
        ...


class KeyringPasswords:
    """A :class:`PasswordSource` for callers that ask in their own way (a dialog's password
    field, standard input): the password given for this run, else the keyring's; never a
    prompt. A given password that opened the file is kept in :attr:`to_remember` (keyring name,
    password) for the caller to save once the certificate is accepted."""

    #: the hint when no password is available (subclasses word it for their purpose)
    default_hint: ClassVar[Text] = Text("Enter the password of the certificate's key.",
                                        "Geben Sie das Passwort des Zertifikatsschlüssels ein.")

    def __init__(self, password: str | None = None, store: SecretStore | None = None, *,
                 hint: Text | None = None) -> None:
        self.password = password or None
        self.store = store
        self.hint = hint if hint is not None else self.default_hint
        self.to_remember: tuple[str, str] | None = None

    def given(self) -> str | None:
        return self.password

    def stored(self, name: str) -> str | None:
        if self.store is None:
            return None
        try:
            return self.store.get(name)
        except SecretStoreUnavailable:
            return None

    def ask(self, prompt: Text) -> str | None:
        return None  # the caller asks in its own way

    def remember(self, name: str, password: str) -> None:
        self.to_remember = (name, password)


class ClientCertificateError(InvalidValue):
    """The client certificate cannot be used; ``reason`` says why (for callers and tests):
    ``unreadable``, ``too-large``, ``damaged``, ``password-needed``, ``wrong-password``,
    ``no-key``, ``no-certificate``, ``key-mismatch``, ``not-ec``, ``curve``, ``key-option``.
    ``path`` is the file at fault and ``detail`` the bare reason (for callers that word the
    message for their own purpose, e.g. the report signature)."""

    def __init__(self, reason: str, message: Text, *, field: str = "cert",
                 hint: Text | None = None, path: Path | None = None,
                 detail: Text | None = None) -> None:
        super().__init__(message, field=field, hint=hint)
        self.reason = reason
        self.path = path
        self.detail = detail


@dataclass(frozen=True)
class ClientCertificate(CertificateChain):
    """The temporary chain for :mod:`app.security.tls` plus what callers show or configure."""

    #: TLS group name of the key's curve (e.g. ``brainpoolP256r1``, ``prime256v1``)
    group: str = ""
    #: SHA-256 fingerprint of the client certificate (64 lower-case hex digits)
    sha256: str = ""
    subject: str = ""


def secret_name(data: bytes) -> str:
    """The keyring name of the password that opens the file with content ``data``."""
    return secret_key(SECRET_KIND, hashlib.sha256(data).hexdigest()[:24])


def _legacy_names(cert_data: bytes) -> list[str]:
    digest = hashlib.sha256(cert_data).hexdigest()[:24]
    return [secret_key(kind, digest) for kind in LEGACY_SECRET_KINDS]


def _unusable(path: Path, reason: str, en: str, de: str, *, field: str = "cert",
              hint: Text | None = None) -> ClientCertificateError:
    return ClientCertificateError(
        reason,
        Text(f"{path} is not a usable client certificate ({en}).",
             f"{path} ist kein verwendbares Client-Zertifikat ({de})."),
        field=field, hint=hint, path=path, detail=Text(en, de))


def _read(path: Path, field: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ClientCertificateError(
            "unreadable",
            Text(f"{path} cannot be read: {exc.strerror or exc}.",
                 f"{path} kann nicht gelesen werden: {exc.strerror or exc}."),
            field=field, path=path) from None
    if len(data) > MAX_FILE_BYTES:
        raise _unusable(path, "too-large", "larger than 1 MiB", "größer als 1 MiB", field=field)
    return data


# --- passwords ----------------------------------------------------------------------------------


class _Unlock:
    """Try passwords on a protected file in the documented order."""

    def __init__(self, source: PasswordSource, path: Path, name: str, legacy: Sequence[str]):
        self.source, self.path, self.name, self.legacy = source, path, name, legacy
        self.tried_password = False

    def candidates(self) -> Iterator[tuple[bytes | None, bool]]:
        """(password, came from the technician in this run)."""
        yield None, False
        given = self.source.given()
        if given is not None:
            self.tried_password = True
            yield given.encode("utf-8"), True
            return
        for name in (self.name, *self.legacy):
            stored = self.source.stored(name)
            if stored is not None:
                self.tried_password = True
                yield stored.encode("utf-8"), False
        typed = self.source.ask(Text(f"Password of {self.path.name}",
                                     f"Passwort von {self.path.name}"))
        if typed:
            self.tried_password = True
            yield typed.encode("utf-8"), True

    def accepted(self, password: bytes | None, fresh: bool) -> None:
        if password is not None and fresh:
            self.source.remember(self.name, password.decode("utf-8"))

    def failure(self, damaged: tuple[str, str] | None = None) -> ClientCertificateError:
        if not self.tried_password:
            return ClientCertificateError(
                "password-needed",
                Text(f"{self.path} is protected by a password, and none was given, saved in the "
                     "keyring or could be asked for.",
                     f"{self.path} ist durch ein Passwort geschützt, und keines wurde angegeben, "
                     "im Schlüsselbund gefunden oder konnte abgefragt werden."),
                hint=self.source.hint, path=self.path)
        en, de = damaged or ("wrong password", "falsches Passwort")
        return _unusable(self.path, "wrong-password", en, de, hint=Text(
            "Check the password; it is the one you received with the certificate.",
            "Prüfen Sie das Passwort; es ist das, das Sie mit dem Zertifikat erhalten haben."))


# --- formats ------------------------------------------------------------------------------------


def _looks_like_pfx(data: bytes) -> bool:
    """Whether ``data`` is a DER SEQUENCE that fills the file and starts with version 3 (PFX)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        length, header = first, 2
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or len(data) < 2 + count:
            return False
        length, header = int.from_bytes(data[2:2 + count], "big"), 2 + count
    return header + length == len(data) and data[header:header + 3] == b"\x02\x01\x03"


def _load_pkcs12(path: Path, data: bytes, unlock: _Unlock):
    if not _looks_like_pfx(data):
        raise _unusable(path, "damaged", "neither PEM nor an intact PKCS#12 file",
                        "weder PEM noch eine intakte PKCS#12-Datei")
    for password, fresh in unlock.candidates():
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            continue
        unlock.accepted(password, fresh)
        return key, [c for c in (cert, *(extra or [])) if c is not None]
    # The structure is intact: the MAC or the decryption failed, i.e. the password (a bit flip
    # inside the protected content looks the same, hence the wording).
    raise unlock.failure(("wrong password or damaged file",
                          "falsches Passwort oder beschädigte Datei"))


def _load_pem_key(key_path: Path, block: bytes, unlock: _Unlock):
    encrypted = b"ENCRYPTED" in block.split(b"\n", 2)[0] or b"Proc-Type: 4,ENCRYPTED" in block
    if not encrypted:
        try:
            return serialization.load_pem_private_key(block, None)
        except (ValueError, TypeError):
            raise _unusable(key_path, "damaged", "the private key is damaged",
                            "der private Schlüssel ist beschädigt", field="key") from None
    for password, fresh in unlock.candidates():
        if password is None:
            continue
        try:
            key = serialization.load_pem_private_key(block, password)
        except (ValueError, TypeError):
            continue
        unlock.accepted(password, fresh)
        return key
    raise unlock.failure()


# --- checks -------------------------------------------------------------------------------------


_NO_KEY_HINT = Text(
    "Give the key file as well (PEM), or export the PKCS#12 file with its private key.",
    "Geben Sie auch die Schlüsseldatei an (PEM) oder exportieren Sie die PKCS#12-Datei mit "
    "privatem Schlüssel.")


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check(path: Path, key: object, certs: list[x509.Certificate]
           ) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate], str]:
    """(EC key, chain with the key's certificate first, TLS group)."""
    if key is None:
        raise _unusable(path, "no-key", "no private key inside",
                        "kein privater Schlüssel enthalten", hint=_NO_KEY_HINT)
    if not certs:
        raise _unusable(path, "no-certificate", "no certificate inside",
                        "kein Zertifikat enthalten")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = type(key).__name__.lstrip("_").removesuffix("PrivateKey") or "?"
        raise _unusable(path, "not-ec", f"{kind} key; TR-03116-3 requires an EC (ECDSA) key",
                        f"{kind}-Schlüssel; TR-03116-3 verlangt einen EC-Schlüssel (ECDSA)")
    mine = _spki(key.public_key())
    leaf = next((c for c in certs if _spki(c.public_key()) == mine), None)
    if leaf is None:
        raise _unusable(path, "key-mismatch", "the private key does not belong to the certificate",
                        "der private Schlüssel gehört nicht zum Zertifikat",
                        hint=Text("Check that certificate and key are from the same request.",
                                  "Prüfen Sie, ob Zertifikat und Schlüssel zusammengehören."))
    group = {"secp256r1": "prime256v1"}.get(key.curve.name, key.curve.name)
    if group not in ALLOWED_GROUPS:
        raise _unusable(path, "curve",
                        f"curve {group} is not allowed; allowed: {', '.join(ALLOWED_GROUPS)}",
                        f"Kurve {group} ist nicht zulässig; zulässig: {', '.join(ALLOWED_GROUPS)}")
    return key, _without_copies(leaf, certs), group


def _der_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _without_copies(leaf: x509.Certificate, certs: list[x509.Certificate]
                    ) -> list[x509.Certificate]:
    """``leaf`` first, then the other certificates in file order, each once (compared by the
    SHA-256 of their DER encoding, so a second copy of the leaf is dropped too)."""
    seen = {_der_sha256(leaf)}
    chain = [leaf]
    for cert in certs:
        digest = _der_sha256(cert)
        if digest not in seen:
            seen.add(digest)
            chain.append(cert)
    return chain


def _load(path: Path, key_path: Path | None, source: PasswordSource,
          extra_names: Sequence[str] = ()
          ) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate], str]:
    data = _read(path, "cert")
    legacy = [*_legacy_names(data), *extra_names]
    if b"-----BEGIN" not in data:
        if key_path is not None:
            raise ClientCertificateError(
                "key-option",
                Text(f"{path} is a PKCS#12 file and holds its key itself; a separate key file "
                     "is only for PEM certificates.",
                     f"{path} ist eine PKCS#12-Datei und enthält den Schlüssel selbst; eine "
                     "eigene Schlüsseldatei gibt es nur zu PEM-Zertifikaten."),
                field="key", path=key_path, hint=Text("Leave out the key file.",
                                                      "Lassen Sie die Schlüsseldatei weg."))
        key, certs = _load_pkcs12(path, data, _Unlock(source, path, secret_name(data), legacy))
        return _check(path, key, certs)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _unusable(path, "damaged", "no readable PEM certificate",
                        "kein lesbares PEM-Zertifikat") from None
    key_file, key_data = (key_path, _read(key_path, "key")) if key_path else (path, data)
    found = _PEM_KEY.search(key_data)
    if found is None and key_path is not None:
        raise _unusable(key_path, "no-key", "no PEM private key inside",
                        "kein privater PEM-Schlüssel enthalten", field="key")
    if found is None:
        return _check(path, None, certs)  # raises: no key
    unlock = _Unlock(source, key_file, secret_name(key_data), legacy)
    return _check(path, _load_pem_key(key_file, found.group(0), unlock), certs)


@dataclass(frozen=True)
class LoadedCertificate:
    """A checked certificate with its key, in memory (for signing rather than TLS)."""

    key: ec.EllipticCurvePrivateKey
    #: the key's certificate first, then whatever else the file held (sub-CA, root)
    chain: list[x509.Certificate]
    #: TLS group name of the key's curve
    group: str


def load_client_certificate(
    path: Path, *, key_path: Path | None = None, password_source: PasswordSource,
    extra_names: Sequence[str] = (),
) -> LoadedCertificate:
    """The certificate at ``path`` (PKCS#12, or PEM with the key inside or in ``key_path``),
    checked as for :func:`open_client_certificate` but kept in memory.

    ``extra_names`` are further keyring names to try for the password (older conventions of
    the caller). Blocking; raises :class:`ClientCertificateError`.
    """
    key, chain, group = _load(Path(path), Path(key_path) if key_path else None,
                              password_source, extra_names)
    return LoadedCertificate(key, chain, group)


# --- temporary files ----------------------------------------------------------------------------


def _write_private(folder: str, suffix: str, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix="smgwct-", suffix=suffix, dir=folder)  # mode 0600
    with os.fdopen(fd, "wb") as handle:  # closed before ssl opens it (Windows)
        handle.write(data)
    return Path(name)


@contextlib.contextmanager
def open_client_certificate(
    path: Path, *, key_path: Path | None = None, password_source: PasswordSource
) -> Iterator[ClientCertificate]:
    """The client certificate at ``path`` (PKCS#12, or PEM with the key inside or in
    ``key_path``) as temporary files for TLS, valid inside the ``with`` block.

    Blocking (file reads, password derivation, maybe a prompt): call it in a worker thread
    where an event loop must not stall. Raises :class:`ClientCertificateError`.
    """
    loaded = load_client_certificate(path, key_path=key_path, password_source=password_source)
    key, chain, group = loaded.key, loaded.chain, loaded.group
    once = secrets.token_urlsafe(32).encode("ascii")
    pem_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(once))
    folder = tempfile.mkdtemp(prefix="smgwct-cert-")  # mode 0700
    written: list[Path] = []
    try:
        written.append(_write_private(folder, ".chain.pem", pem_chain))
        written.append(_write_private(folder, ".key.pem", pem_key))
        leaf = chain[0]
        yield ClientCertificate(
            written[0], written[1], once, group=group,
            sha256=fingerprint(leaf.public_bytes(serialization.Encoding.DER)),
            subject=leaf.subject.rfc4514_string())
    finally:
        for item in written:
            with contextlib.suppress(OSError):
                item.unlink()
        with contextlib.suppress(OSError):
            os.rmdir(folder)


__all__ = [
    "ALLOWED_GROUPS", "PKCS12_SUFFIXES", "ClientCertificate", "ClientCertificateError",
    "KeyringPasswords", "LoadedCertificate", "MAX_FILE_BYTES", "PasswordSource",
    "load_client_certificate", "open_client_certificate", "secret_name",
]
