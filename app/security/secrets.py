"""Secrets (passwords, PKCS#12 passwords) in the operating system's keyring, and nowhere else.

``KeyringSecretStore`` refuses to work when the only keyring backend is one that would store
secrets in plain text or not at all: the technician then gets a clear message instead of a silent
plain-text fallback. ``MemorySecretStore`` is the in-memory stand-in for tests.
"""

from __future__ import annotations

from typing import Protocol

from app.errors import ConfigurationError, InvalidValue, Text

SERVICE = "smgwct"

#: Backends that do not protect what they store (module prefixes of keyring backends).
_INSECURE_BACKENDS = (
    "keyring.backends.fail",
    "keyring.backends.null",
    "keyrings.alt.file",  # PlaintextKeyring and friends
    "keyrings.alt.Gnome",
)


class SecretStoreUnavailable(ConfigurationError):
    """No secure keyring backend is available on this machine."""


class SecretStore(Protocol):
    """Where secrets live. Keys are plain strings such as ``han-password/ETHE0300186023/user``."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


def secret_key(kind: str, *parts: str) -> str:
    """Build a key like ``han-password/ETHE0300186023/technician``; parts must not contain '/'."""
    for part in (kind, *parts):
        if not part or "/" in part:
            raise InvalidValue(
                Text(f"'{part}' cannot be part of a secret's name.",
                     f"'{part}' kann nicht Teil des Namens eines Geheimnisses sein."),
                field="secret_key",
            )
    return "/".join((kind, *parts))


class MemorySecretStore:
    """Keeps secrets in memory only (tests, and the demo when no keyring exists)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def set(self, key: str, value: str) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)


def backend_is_secure(backend: object) -> bool:
    """Whether a keyring backend actually protects what it stores."""
    module = type(backend).__module__
    if module.startswith("keyring.backends.chainer"):
        inner = getattr(backend, "backends", [])
        return any(backend_is_secure(b) for b in inner)
    if any(module.startswith(prefix) for prefix in _INSECURE_BACKENDS):
        return False
    priority = getattr(backend, "priority", 0)
    try:
        return float(priority) > 0
    except (TypeError, ValueError):
        return False


NO_KEYRING = Text(
    "No secure password store (keyring) is available on this computer, so passwords cannot be "
    "saved. Install or unlock the system keyring (Windows Credential Manager, macOS Keychain, "
    "GNOME Keyring/KWallet), or enter the password each time.",
    "Auf diesem Rechner ist kein sicherer Passwortspeicher (Schlüsselbund) verfügbar, daher "
    "können Passwörter nicht gespeichert werden. Richten Sie den Schlüsselbund des Systems ein "
    "oder entsperren Sie ihn (Windows-Anmeldeinformationsverwaltung, macOS-Schlüsselbund, "
    "GNOME Keyring/KWallet), oder geben Sie das Passwort jedes Mal ein.",
)


class KeyringSecretStore:
    """Secrets in the OS keyring under the service name ``smgwct``."""

    def __init__(self, backend: object | None = None) -> None:
        import keyring

        self._backend = backend if backend is not None else keyring.get_keyring()
        if not backend_is_secure(self._backend):
            raise SecretStoreUnavailable(NO_KEYRING)

    def get(self, key: str) -> str | None:
        from keyring.errors import KeyringError

        try:
            return self._backend.get_password(SERVICE, key)  # type: ignore[attr-defined]
        except KeyringError as exc:
            raise SecretStoreUnavailable(NO_KEYRING) from exc

    def set(self, key: str, value: str) -> None:
        from keyring.errors import KeyringError

        try:
            self._backend.set_password(SERVICE, key, value)  # type: ignore[attr-defined]
        except KeyringError as exc:
            raise SecretStoreUnavailable(NO_KEYRING) from exc

    def delete(self, key: str) -> None:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            self._backend.delete_password(SERVICE, key)  # type: ignore[attr-defined]
        except PasswordDeleteError:
            return
        except KeyringError as exc:
            raise SecretStoreUnavailable(NO_KEYRING) from exc


def keyring_available() -> tuple[bool, str]:
    """(secure backend present?, backend name) for ``smgwct selftest``."""
    import keyring

    backend = keyring.get_keyring()
    return backend_is_secure(backend), f"{type(backend).__module__}.{type(backend).__name__}"
