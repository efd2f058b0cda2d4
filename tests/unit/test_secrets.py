"""Secrets live only in a secure keyring; an insecure backend is refused with a clear message."""

from __future__ import annotations

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from app.errors import InvalidValue
from app.security.secrets import (
    KeyringSecretStore,
    MemorySecretStore,
    SecretStoreUnavailable,
    backend_is_secure,
    secret_key,
)


class _GoodBackend(KeyringBackend):
    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.items:
            raise PasswordDeleteError(username)
        del self.items[(service, username)]


def test_insecure_backend_is_refused_with_clear_message():
    with pytest.raises(SecretStoreUnavailable) as info:
        KeyringSecretStore(fail.Keyring())
    assert "keyring" in info.value.describe("en").lower()
    assert "Schlüsselbund" in info.value.describe("de")


def test_secure_backend_round_trip():
    backend = _GoodBackend()
    store = KeyringSecretStore(backend)
    key = secret_key("han-password", "ETHE0300186023", "technician")
    store.set(key, "geheim")
    assert store.get(key) == "geheim"
    assert backend.items[("smgwct", key)] == "geheim"
    store.delete(key)
    store.delete(key)  # deleting twice is fine
    assert store.get(key) is None


def test_backend_classification():
    assert backend_is_secure(_GoodBackend())
    assert not backend_is_secure(fail.Keyring())


def test_memory_store():
    store = MemorySecretStore()
    store.set("a/b", "x")
    assert store.get("a/b") == "x"


def test_secret_key_parts_are_checked():
    with pytest.raises(InvalidValue):
        secret_key("han-password", "a/b")
