"""The technician's client certificate: PKCS#12 and PEM load, clear refusals, TLS works with the
result, and nothing readable is left on disk."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import ssl
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from app.errors import Text
from app.security import tls
from app.security.client_certificate import (
    MAX_FILE_BYTES,
    PKCS12_SUFFIXES,
    ClientCertificate,
    ClientCertificateError,
    KeyringPasswords,
    load_client_certificate,
    open_client_certificate,
    secret_name,
)
from app.security.pki import DemoPki
from app.security.secrets import MemorySecretStore, SecretStoreUnavailable
from app.security.tls import Interface


@dataclass
class Source:
    """A scripted password source that records what was asked of it."""

    given_password: str | None = None
    keyring: dict[str, str] = field(default_factory=dict)
    typed: str | None = None
    hint: Text = Text("pipe it in", "leiten Sie es ein")
    calls: list[str] = field(default_factory=list)
    remembered: dict[str, str] = field(default_factory=dict)

    def given(self) -> str | None:
        self.calls.append("given")
        return self.given_password

    def stored(self, name: str) -> str | None:
        self.calls.append(f"stored {name}")
        return self.keyring.get(name)

    def ask(self, prompt: Text) -> str | None:
        self.calls.append(f"ask {prompt.en}")
        return self.typed

    def remember(self, name: str, password: str) -> None:
        self.remembered[name] = password


def _p12(pki: DemoPki, path: Path, password: bytes | None, *, role: str = "technician") -> Path:
    item = pki[role]
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"technician", item.key, item.cert, [pki["sub_ca"].cert], encryption))
    return path


def _pem_pair(pki: DemoPki, folder: Path, password: bytes | None) -> tuple[Path, Path]:
    chain, key = folder / "tech.chain.pem", folder / "tech.key.pem"
    chain.write_bytes(pki.chain_pem("technician"))
    key.write_bytes(pki["technician"].key_pem(password))
    return chain, key


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> bytes:
    """A TLS handshake in memory; return the client certificate the server received (DER)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values()), done
    peer = server.getpeercert(binary_form=True)
    assert peer is not None
    return peer


def _server(pki: DemoPki) -> ssl.SSLContext:
    return tls.server_context(Interface.WAN, own=pki.tls_chain("gwa_tls"),
                              client_trust=[pki.trust_pem()], client_cert="required")


def _client(pki: DemoPki, own: ClientCertificate) -> ssl.SSLContext:
    return tls.client_context(Interface.WAN, trust=[pki.trust_pem()], own=own, group=own.group)


# --- loading ------------------------------------------------------------------------------------


def test_pkcs12_with_password_gives_a_working_tls_chain(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"p12 secret")
    source = Source(typed="p12 secret")
    with open_client_certificate(p12, password_source=source) as own:
        assert isinstance(own, tls.CertificateChain)
        assert own.group == "brainpoolP256r1"
        assert own.sha256 == demo_pki["technician"].sha256
        assert "Demo Servicetechniker" in own.subject
        peer = _handshake(_server(demo_pki), _client(demo_pki, own))
    assert tls.fingerprint(peer) == demo_pki["technician"].sha256
    assert source.calls[-1] == "ask Password of tech.p12"
    assert source.remembered == {secret_name(p12.read_bytes()): "p12 secret"}


def test_pkcs12_without_password_asks_nobody(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.pfx", None)
    source = Source()
    with open_client_certificate(p12, password_source=source) as own:
        chain = x509.load_pem_x509_certificates(own.certfile.read_bytes())
    assert source.calls == []
    assert [c.subject for c in chain] == [demo_pki["technician"].cert.subject,
                                          demo_pki["sub_ca"].cert.subject]


def test_pem_with_encrypted_key_from_the_keyring(demo_pki, tmp_path):
    chain, key = _pem_pair(demo_pki, tmp_path, b"key secret")
    source = Source(keyring={secret_name(key.read_bytes()): "key secret"})
    with open_client_certificate(chain, key_path=key, password_source=source) as own:
        peer = _handshake(_server(demo_pki), _client(demo_pki, own))
    assert tls.fingerprint(peer) == demo_pki["technician"].sha256
    assert "given" in source.calls and not any(c.startswith("ask") for c in source.calls)
    assert source.remembered == {}  # it came from the keyring already


def test_key_inside_the_pem_file_and_leaf_put_first(demo_pki, tmp_path):
    # sub-CA first, then the leaf, then the key: the leaf must still be presented first
    combined = tmp_path / "all-in-one.pem"
    combined.write_bytes(demo_pki["sub_ca"].cert_pem + demo_pki["technician"].cert_pem
                         + demo_pki["technician"].key_pem())
    with open_client_certificate(combined, password_source=Source()) as own:
        first = x509.load_pem_x509_certificates(own.certfile.read_bytes())[0]
    assert first == demo_pki["technician"].cert


def test_a_certificate_twice_in_the_file_is_loaded_once(demo_pki, tmp_path):
    tech, sub = demo_pki["technician"], demo_pki["sub_ca"]
    doubled = tmp_path / "doubled.pem"
    doubled.write_bytes(tech.cert_pem + sub.cert_pem + tech.cert_pem + sub.cert_pem
                        + tech.key_pem())
    loaded = load_client_certificate(doubled, password_source=Source())
    assert loaded.chain == [tech.cert, sub.cert]
    with open_client_certificate(doubled, password_source=Source()) as own:
        presented = x509.load_pem_x509_certificates(own.certfile.read_bytes())
    assert presented == [tech.cert, sub.cert]


class _BrokenKeyring:
    def get(self, key: str) -> str | None:
        raise SecretStoreUnavailable(Text("no keyring", "kein Schlüsselbund"))

    def set(self, key: str, value: str) -> None:
        raise AssertionError("not to be saved by the source")

    def delete(self, key: str) -> None: ...


def test_keyring_passwords_give_the_typed_one_else_the_keyring_and_never_ask(demo_pki,
                                                                             tmp_path):
    chain, key = _pem_pair(demo_pki, tmp_path, b"key secret")
    store = MemorySecretStore()
    typed = KeyringPasswords("key secret", store)
    assert load_client_certificate(chain, key_path=key, password_source=typed).chain[0] == \
        demo_pki["technician"].cert
    assert typed.to_remember == (secret_name(key.read_bytes()), "key secret")
    assert store.get(secret_name(key.read_bytes())) is None  # saving is the caller's decision
    store.set(*typed.to_remember)
    from_keyring = KeyringPasswords(None, store)
    load_client_certificate(chain, key_path=key, password_source=from_keyring)
    assert from_keyring.to_remember is None and from_keyring.ask(Text("?", "?")) is None
    hint = Text("pipe it in", "leiten Sie es ein")
    for source in (KeyringPasswords(None, _BrokenKeyring(), hint=hint),
                   KeyringPasswords("", None, hint=hint)):
        with pytest.raises(ClientCertificateError) as needed:
            load_client_certificate(chain, key_path=key, password_source=source)
        assert needed.value.reason == "password-needed" and needed.value.hint == hint
    assert KeyringPasswords().hint == KeyringPasswords.default_hint


def test_the_report_signer_shares_the_password_source_and_the_pkcs12_suffixes():
    from app.report import signer

    assert issubclass(signer.SignerPasswords, KeyringPasswords)
    assert signer.PKCS12_SUFFIXES is PKCS12_SUFFIXES
    assert signer.SignerPasswords().hint == signer.PASSWORD_HINT
    assert signer.SignerPasswords(hint=Text("a", "b")).hint == Text("a", "b")


@pytest.mark.parametrize("kind", ["pkcs12-password", "gwa-certificate"])
def test_passwords_saved_under_the_old_names_still_work(demo_pki, tmp_path, kind):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"old secret")
    old = f"{kind}/{hashlib.sha256(p12.read_bytes()).hexdigest()[:24]}"
    source = Source(keyring={old: "old secret"})
    with open_client_certificate(p12, password_source=source) as own:
        assert own.sha256 == demo_pki["technician"].sha256
    # the new name is looked up first
    assert source.calls.index(f"stored {secret_name(p12.read_bytes())}") \
        < source.calls.index(f"stored {old}")


def test_a_given_password_wins_and_is_remembered_only_when_it_works(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"right")
    source = Source(given_password="wrong", keyring={secret_name(p12.read_bytes()): "right"})
    assert _refusal(p12, source).reason == "wrong-password"
    assert source.remembered == {} and not any(c.startswith("stored") for c in source.calls)

    source = Source(given_password="right")
    with open_client_certificate(p12, password_source=source):
        pass
    assert source.remembered == {secret_name(p12.read_bytes()): "right"}


# --- refusals -----------------------------------------------------------------------------------


def _refusal(path: Path, source: Source | None = None, **kwargs) -> ClientCertificateError:
    with pytest.raises(ClientCertificateError) as caught, \
            open_client_certificate(path, password_source=source or Source(), **kwargs):
        pass
    error = caught.value
    assert error.message.en != error.message.de and error.field in ("cert", "key")
    return error


def test_wrong_password_is_named_in_both_languages(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"right")
    error = _refusal(p12, Source(typed="wrong"))
    assert error.reason == "wrong-password"
    assert "wrong password" in error.describe("en")
    assert "falsches Passwort" in error.describe("de")

    chain, key = _pem_pair(demo_pki, tmp_path, b"right")
    assert _refusal(chain, Source(given_password="wrong"), key_path=key).reason \
        == "wrong-password"


def test_no_password_to_be_had_gives_the_sources_hint(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"right")
    error = _refusal(p12, Source())
    assert error.reason == "password-needed"
    assert error.hint == Source().hint


def test_damaged_files_are_not_mistaken_for_a_wrong_password(demo_pki, tmp_path):
    whole = _p12(demo_pki, tmp_path / "tech.p12", b"right").read_bytes()
    cut = tmp_path / "cut.p12"
    cut.write_bytes(whole[: len(whole) // 2])
    source = Source(typed="right")
    error = _refusal(cut, source)
    assert error.reason == "damaged" and "PKCS#12" in error.describe("en")
    assert source.calls == []  # nobody is asked for the password of a broken file

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                       "-----END CERTIFICATE-----\n")
    assert _refusal(garbage).reason == "damaged"


def test_key_of_another_certificate_is_refused(demo_pki, tmp_path):
    chain = tmp_path / "tech.chain.pem"
    chain.write_bytes(demo_pki.chain_pem("technician"))
    key = tmp_path / "other.key.pem"
    key.write_bytes(demo_pki["gwa_tls"].key_pem())
    error = _refusal(chain, key_path=key)
    assert error.reason == "key-mismatch"
    assert "does not belong" in error.describe("en")


def test_certificate_without_key(demo_pki, tmp_path):
    chain = tmp_path / "tech.chain.pem"
    chain.write_bytes(demo_pki.chain_pem("technician"))
    assert _refusal(chain).reason == "no-key"


def _self_signed(key, path: Path) -> Path:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd key")])
    now = dt.datetime.now(dt.UTC)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, algorithm))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


def test_keys_outside_the_tls_profiles_are_refused(tmp_path):
    error = _refusal(_self_signed(ed25519.Ed25519PrivateKey.generate(), tmp_path / "ed.pem"))
    assert error.reason == "not-ec" and "EC" in error.describe("en")
    error = _refusal(_self_signed(ec.generate_private_key(ec.SECP521R1()), tmp_path / "p521.pem"))
    assert error.reason == "curve" and "secp521r1" in error.describe("en")
    assert "brainpoolP256r1" in error.describe("en")


def test_size_cap_missing_file_and_key_option_with_pkcs12(demo_pki, tmp_path):
    big = tmp_path / "big.p12"
    big.write_bytes(b"\0" * (MAX_FILE_BYTES + 1))
    assert _refusal(big).reason == "too-large"
    assert _refusal(tmp_path / "missing.p12").reason == "unreadable"
    p12 = _p12(demo_pki, tmp_path / "tech.p12", None)
    error = _refusal(p12, key_path=tmp_path / "tech.key.pem")
    assert error.reason == "key-option" and error.field == "key"


# --- what is on disk ----------------------------------------------------------------------------


def test_key_on_disk_is_encrypted_with_the_one_time_password(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", None)
    with open_client_certificate(p12, password_source=Source()) as own:
        data = own.keyfile.read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert b"-----BEGIN PRIVATE KEY-----" not in data
        with pytest.raises(TypeError):  # needs a password
            serialization.load_pem_private_key(data, None)
        assert own.password and len(own.password) >= 32
        key = serialization.load_pem_private_key(data, own.password)
        assert key.private_numbers() == demo_pki["technician"].key.private_numbers()  # type: ignore[union-attr]
        if os.name == "posix":
            for item in (own.certfile, own.keyfile):
                assert stat.S_IMODE(item.stat().st_mode) == 0o600
            assert stat.S_IMODE(own.keyfile.parent.stat().st_mode) == 0o700


def test_temporary_files_are_gone_after_the_block_even_on_an_error(demo_pki, tmp_path):
    p12 = _p12(demo_pki, tmp_path / "tech.p12", None)
    with open_client_certificate(p12, password_source=Source()) as own:
        files = [own.certfile, own.keyfile, own.keyfile.parent]
        assert all(f.exists() for f in files)
    assert not any(f.exists() for f in files)

    with pytest.raises(RuntimeError), \
            open_client_certificate(p12, password_source=Source()) as own:
        files = [own.certfile, own.keyfile, own.keyfile.parent]
        raise RuntimeError("the connection failed")
    assert not any(f.exists() for f in files)


def test_nothing_is_written_when_loading_fails(demo_pki, tmp_path, monkeypatch):
    created: list[str] = []
    real = tempfile.mkdtemp
    monkeypatch.setattr("tempfile.mkdtemp", lambda *a, **k: created.append(real(*a, **k))
                        or created[-1])
    p12 = _p12(demo_pki, tmp_path / "tech.p12", b"right")
    _refusal(p12, Source(typed="wrong"))
    assert created == []
