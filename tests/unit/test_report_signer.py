"""The report signer from files (``app.report.signer``): PEM, encrypted PEM, PKCS#12, the
checks that refuse unusable certificates, the settings that remember the files, and
``smgwct report build --cert`` on the same implementation."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from app.protocols.cms import sign, verify
from app.report import demo_report_signer, verify_report
from app.report.signer import (
    ANCHOR_CA_FILE,
    ANCHOR_CERT_FILE,
    ANCHOR_DEMO,
    PasswordNeeded,
    ReportSigner,
    SignerError,
    SignerFiles,
    SignerPasswords,
    load_report_signer,
)
from app.security.client_certificate import secret_name
from app.security.pki import CertifiedKey, generate_key, issue_certificate
from app.security.secrets import MemorySecretStore, secret_key
from app.security.tls import fingerprint
from app.store.settings import Settings, SettingsStore
from app.workbench import demo_pki_dir
from tests.unit.test_cli_job_report import Cli, prepared_job

PASSWORD = "Signatur-2026!"


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """Root, sub-CA and a technician signing certificate on ``curve``."""

    def __init__(self, curve: str = "brainpoolP256r1", *, usage: str = "sig",
                 now: dt.datetime | None = None, days: int = 365) -> None:
        self.root = issue_certificate(subject=name("Test Root CA"), key=generate_key(curve),
                                      issuer=None, ca=True, usage="ca")
        self.sub = issue_certificate(subject=name("Test Sub-CA"), key=generate_key(curve),
                                     issuer=self.root, ca=True, path_length=0, usage="ca")
        self.tech = issue_certificate(subject=name("Erika Monteurin"), key=generate_key(curve),
                                      issuer=self.sub, usage=usage, now=now, days=days)

    def write(self, folder: Path, *, root_in_chain: bool = True,
              password: str | None = None) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        chain = [self.tech, self.sub, *([self.root] if root_in_chain else [])]
        paths = {"cert": folder / "tech.pem", "key": folder / "tech.key",
                 "root": folder / "root.pem"}
        paths["cert"].write_bytes(b"".join(c.cert_pem for c in chain))
        paths["key"].write_bytes(self.tech.key_pem(password.encode() if password else None))
        paths["root"].write_bytes(self.root.cert_pem)
        return paths

    def p12(self, path: Path, password: str) -> Path:
        path.write_bytes(pkcs12.serialize_key_and_certificates(
            b"tech", self.tech.key, self.tech.cert, [self.sub.cert],
            serialization.BestAvailableEncryption(password.encode())))
        return path


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def signs_and_verifies(signer: ReportSigner) -> None:
    """A detached signature made with ``signer`` verifies against ``signer.trust`` alone."""
    der = sign(b"<report/>", signer.key, extra_certs=signer.extra_certs, detached=True)
    checked = verify(der, trust=signer.trust, detached_content=b"<report/>")
    assert checked.signer == signer.key.cert


# --- loading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["brainpoolP256r1", "prime256v1"])
def test_plain_pem_with_the_root_in_the_chain(tmp_path, curve):
    pki = Pki(curve)
    files = pki.write(tmp_path)
    signer = load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert signer.key.cert == pki.tech.cert
    assert signer.extra_certs == [pki.sub.cert]  # the root is not included in the signature
    assert signer.trust == [pki.root.cert]
    assert signer.info.sha256 == pki.tech.sha256
    assert "Erika Monteurin" in signer.info.subject and "Test Sub-CA" in signer.info.issuer
    signs_and_verifies(signer)


def test_trust_file_anchors_a_chain_without_its_root(tmp_path, pki):
    files = pki.write(tmp_path, root_in_chain=False)
    signer = load_report_signer(SignerFiles(files["cert"], files["key"], files["root"]))
    assert signer.trust == [pki.root.cert] and signer.extra_certs == [pki.sub.cert]
    signs_and_verifies(signer)


def test_encrypted_key_opens_with_the_keyring_password(tmp_path, pki):
    files = pki.write(tmp_path, password=PASSWORD)
    setup = SignerFiles(files["cert"], files["key"])
    with pytest.raises(PasswordNeeded) as needed:
        load_report_signer(setup, SignerPasswords(None, MemorySecretStore()))
    assert needed.value.field == "report_password"
    assert "protected by a password" in needed.value.message.en
    assert "Passwort" in needed.value.message.de

    store = MemorySecretStore()
    store.set(secret_name(files["key"].read_bytes()), PASSWORD)
    passwords = SignerPasswords(None, store)
    signer = load_report_signer(setup, passwords)
    assert signer.key.cert == pki.tech.cert
    assert passwords.to_remember is None  # it came from the keyring: nothing new to save
    signs_and_verifies(signer)


def test_a_typed_password_is_offered_for_the_keyring_and_a_wrong_one_is_named(tmp_path, pki):
    files = pki.write(tmp_path, password=PASSWORD)
    setup = SignerFiles(files["cert"], files["key"])
    with pytest.raises(SignerError) as wrong:
        load_report_signer(setup, SignerPasswords("falsch"))
    assert wrong.value.field == "report_password" and wrong.value.reason == "wrong-password"
    assert str(files["key"]) in wrong.value.message.en
    passwords = SignerPasswords(PASSWORD, MemorySecretStore())
    load_report_signer(setup, passwords)
    assert passwords.to_remember == (secret_name(files["key"].read_bytes()), PASSWORD)


def test_the_password_name_of_earlier_versions_is_still_read(tmp_path, pki):
    files = pki.write(tmp_path, password=PASSWORD)
    store = MemorySecretStore()
    store.set(secret_key("key-password", fingerprint(pki.tech.cert_der)), PASSWORD)
    signer = load_report_signer(SignerFiles(files["cert"], files["key"]),
                                SignerPasswords(None, store))
    assert signer.key.cert == pki.tech.cert


def test_pkcs12_holds_the_key_and_the_password_comes_from_the_keyring(tmp_path, pki):
    files = pki.write(tmp_path)
    p12 = pki.p12(tmp_path / "tech.p12", PASSWORD)
    setup = SignerFiles(p12, None, files["root"])
    assert setup.is_pkcs12
    store = MemorySecretStore()
    store.set(secret_name(p12.read_bytes()), PASSWORD)
    signer = load_report_signer(setup, SignerPasswords(None, store))
    assert signer.key.cert == pki.tech.cert and signer.extra_certs == [pki.sub.cert]
    signs_and_verifies(signer)
    # a key file beside a PKCS#12 file is refused at the key field
    with pytest.raises(SignerError) as both:
        load_report_signer(SignerFiles(p12, files["key"], files["root"]),
                           SignerPasswords(None, store))
    assert both.value.field == "report_key" and "PKCS#12" in both.value.message.en


def test_an_rsa_key_is_refused(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name("RSA Monteur"))
            .issuer_name(name("RSA Monteur")).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "rsa.pem", tmp_path / "rsa.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(cert_file, key_file))
    assert refused.value.reason == "not-ec" and refused.value.field == "report_key"
    assert "RSA key" in refused.value.message.en and "ECDSA" in refused.value.message.en
    assert "RSA-Schlüssel" in refused.value.message.de and refused.value.hint is not None


def test_an_expired_certificate_is_refused(tmp_path):
    old = Pki(now=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), days=30)
    files = old.write(tmp_path)
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert refused.value.reason == "expired" and refused.value.field == "report_cert"
    assert "expired on" in refused.value.message.en
    assert "abgelaufen" in refused.value.message.de


def test_a_certificate_not_yet_valid_is_refused(tmp_path):
    early = Pki(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=10), days=30)
    files = early.write(tmp_path)
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert refused.value.reason == "not-yet-valid" and refused.value.field == "report_cert"
    assert "is valid only from" in refused.value.message.en
    assert "gilt erst ab" in refused.value.message.de
    assert refused.value.hint is not None and "date and time" in refused.value.hint.en


def _expired_sub_ca() -> Pki:
    """A current root and technician certificate, but the sub-CA between them has expired."""
    pki = Pki()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    pki.sub = issue_certificate(subject=name("Old Sub-CA"), key=generate_key("brainpoolP256r1"),
                                issuer=pki.root, ca=True, path_length=0, usage="ca", now=past,
                                days=30)
    pki.tech = issue_certificate(subject=name("Erika Monteurin"),
                                 key=generate_key("brainpoolP256r1"), issuer=pki.sub, usage="sig")
    return pki


def test_an_expired_sub_ca_makes_the_chain_invalid(tmp_path):
    pki = _expired_sub_ca()
    files = pki.write(tmp_path)
    with pytest.raises(SignerError) as in_file:
        load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert in_file.value.reason == "chain-invalid" and in_file.value.field == "report_cert"
    assert "is not valid now" in in_file.value.message.en
    assert "derzeit nicht gültig" in in_file.value.message.de
    files = pki.write(tmp_path / "ca", root_in_chain=False)
    with pytest.raises(SignerError) as with_ca:
        load_report_signer(SignerFiles(files["cert"], files["key"], files["root"]))
    assert with_ca.value.reason == "chain-invalid" and with_ca.value.field == "report_trust"
    assert with_ca.value.hint is not None and "current CA certificates" in with_ca.value.hint.en


def _self_signed_technician(folder: Path, copies: int) -> dict[str, Path]:
    own = issue_certificate(subject=name("Selbst Gemacht"), key=generate_key("brainpoolP256r1"),
                            issuer=None, usage="sig")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"cert": folder / "self.pem", "key": folder / "self.key", "ca": folder / "ca.pem"}
    paths["cert"].write_bytes(own.cert_pem * copies)
    paths["key"].write_bytes(own.key_pem())
    paths["ca"].write_bytes(own.cert_pem)
    return paths


@pytest.mark.parametrize("copies", [1, 2, 3])
def test_a_self_signed_certificate_is_refused_also_when_the_file_holds_it_twice(tmp_path,
                                                                                copies):
    files = _self_signed_technician(tmp_path, copies)
    for setup in (SignerFiles(files["cert"], files["key"]),
                  SignerFiles(files["cert"], files["key"], files["ca"])):
        with pytest.raises(SignerError) as refused:
            load_report_signer(setup)
        error = refused.value
        assert error.reason == "self-signed" and error.field == "report_cert"
        assert "is self-signed" in error.message.en and str(files["cert"]) in error.message.en
        assert "selbstsigniert" in error.message.de
        assert error.hint is not None
        assert "issued by your company's or the GWA's CA" in error.hint.en
        assert "CA file" in error.hint.en and "CA-Datei" in error.hint.de


def test_copies_in_the_file_count_once_and_the_leaf_is_never_an_anchor(tmp_path, pki):
    folder = tmp_path / "dup"
    files = pki.write(folder)
    files["cert"].write_bytes(b"".join(c.cert_pem for c in (
        pki.tech, pki.tech, pki.sub, pki.sub, pki.root, pki.tech, pki.root)))
    signer = load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert signer.extra_certs == [pki.sub.cert] and signer.trust == [pki.root.cert]
    signs_and_verifies(signer)
    # the technician's own certificate given as "CA file" anchors nothing
    pinned = tmp_path / "pinned.pem"
    pinned.write_bytes(pki.tech.cert_pem)
    files = pki.write(tmp_path / "plain", root_in_chain=False)
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"], pinned))
    assert refused.value.reason == "untrusted" and refused.value.field == "report_trust"


def test_a_certificate_with_the_leafs_key_is_no_anchor(tmp_path, pki):
    """A self-signed certificate over the technician's own key beside the real chain is no
    root: only the real root anchors the signer."""
    twin = x509.CertificateBuilder().subject_name(name("Zwilling")).issuer_name(
        name("Zwilling")).public_key(pki.tech.key.public_key()).serial_number(7).not_valid_before(
        dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).not_valid_after(
        dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(
        pki.tech.key, hashes.SHA256())
    files = pki.write(tmp_path, root_in_chain=False)
    files["cert"].write_bytes(files["cert"].read_bytes()
                              + twin.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert refused.value.reason == "no-trust"
    with_root = SignerFiles(files["cert"], files["key"], files["root"])
    ca_file = tmp_path / "both.pem"
    ca_file.write_bytes(files["root"].read_bytes() + twin.public_bytes(serialization.Encoding.PEM))
    signer = load_report_signer(SignerFiles(files["cert"], files["key"], ca_file))
    assert signer.trust == [pki.root.cert] and signer.extra_certs == [pki.sub.cert]
    assert load_report_signer(with_root).trust == [pki.root.cert]


def test_the_signer_says_where_its_trust_anchor_came_from(tmp_path, pki):
    files = pki.write(tmp_path)
    inside = load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert inside.anchor_source == ANCHOR_CERT_FILE and inside.anchor_from_certificate_file
    assert inside.anchor_fingerprints == [pki.root.sha256]
    note = inside.anchor_note()
    assert note is not None and pki.root.sha256 in note.en and pki.root.sha256 in note.de
    assert "root CA from the certificate file" in note.en
    assert "Wurzel-CA aus der Zertifikatsdatei" in note.de
    explicit = load_report_signer(SignerFiles(files["cert"], files["key"], files["root"]))
    assert explicit.anchor_source == ANCHOR_CA_FILE and not explicit.anchor_from_certificate_file
    assert explicit.anchor_note() is None
    demo = demo_report_signer(tmp_path / "demo", "EDEM0100000001")
    assert demo.anchor_source == ANCHOR_DEMO and demo.anchor_note() is None


def test_a_key_of_another_certificate_is_refused(tmp_path, pki):
    files = pki.write(tmp_path)
    other = tmp_path / "other.key"
    other.write_bytes(CertifiedKey(pki.tech.cert, generate_key()).key_pem())
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], other))
    assert refused.value.reason == "key-mismatch" and refused.value.field == "report_key"
    assert "does not belong to the certificate" in refused.value.message.en


def test_without_a_root_or_ca_file_the_error_asks_for_a_ca_certificate(tmp_path, pki):
    files = pki.write(tmp_path, root_in_chain=False)
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"]))
    error = refused.value
    assert error.reason == "no-trust" and error.field == "report_trust"
    assert "A CA certificate is needed to verify the report" in error.message.en
    assert "CA-Zertifikat" in error.message.de and error.hint is not None


def test_a_ca_file_of_another_pki_is_refused(tmp_path, pki):
    files = pki.write(tmp_path, root_in_chain=False)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(Pki().root.cert_pem)
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"], stranger))
    assert refused.value.reason == "untrusted" and refused.value.field == "report_trust"
    not_pem = tmp_path / "not.pem"
    not_pem.write_bytes(b"hello")
    with pytest.raises(SignerError) as damaged:
        load_report_signer(SignerFiles(files["cert"], files["key"], not_pem))
    assert damaged.value.field == "report_trust" and "no PEM certificate" in \
        damaged.value.message.en


def test_an_encryption_certificate_may_not_sign(tmp_path):
    files = Pki(usage="enc").write(tmp_path)
    with pytest.raises(SignerError) as refused:
        load_report_signer(SignerFiles(files["cert"], files["key"]))
    assert refused.value.reason == "key-usage" and "digitalSignature" in refused.value.message.en


def test_a_missing_file_is_named(tmp_path, pki):
    files = pki.write(tmp_path)
    with pytest.raises(SignerError) as missing:
        load_report_signer(SignerFiles(tmp_path / "nope.pem", files["key"]))
    assert missing.value.field == "report_cert" and "nope.pem" in missing.value.message.en
    with pytest.raises(SignerError) as no_key:
        load_report_signer(SignerFiles(files["cert"], tmp_path / "nope.key"))
    assert no_key.value.field == "report_key"


def test_demo_signer_uses_the_demo_pki_folder(tmp_path):
    signer = demo_report_signer(tmp_path, "EDEM0100000001")
    assert (demo_pki_dir(tmp_path, "EDEM0100000001") / "manifest.json").is_file()
    assert len(signer.extra_certs) == 1 and len(signer.trust) == 1
    assert demo_report_signer(tmp_path, "EDEM0100000001").key.cert == signer.key.cert
    signs_and_verifies(signer)


# --- settings -----------------------------------------------------------------------------------


def test_settings_round_trip_and_older_files(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    files = SignerFiles(tmp_path / "tech.p12", None, tmp_path / "root.pem")
    store.save(files.to_settings(Settings(technician="Erika")))
    loaded = store.load()
    assert loaded.notice is None
    assert SignerFiles.from_settings(loaded.settings) == files
    doc = json.loads(store.path.read_text("utf-8"))
    assert doc["report_cert"] == str(files.cert) and doc["report_key"] is None
    # a file of an earlier version has no such keys: nothing configured, nothing lost
    store.path.write_text(json.dumps({"schema_version": 1, "technician": "Erika"}), "utf-8")
    older = store.load()
    assert older.notice is None and older.settings.technician == "Erika"
    assert SignerFiles.from_settings(older.settings) is None
    # a wrong value is refused like any other field
    with pytest.raises(ValueError, match="report_key"):
        Settings(report_key="")
    store.path.write_text(json.dumps({"report_trust": 5}), "utf-8")
    assert store.load().notice is not None


# --- command line -------------------------------------------------------------------------------


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SMGWCT_LANG", "en")
    return Cli(capsys)


@pytest.fixture
def keyring(monkeypatch: pytest.MonkeyPatch) -> MemorySecretStore:
    store = MemorySecretStore()
    monkeypatch.setattr("app.cli.report._keyring", lambda: store)
    return store


def test_cli_signs_with_an_encrypted_pem_key_from_the_keyring(cli, keyring, tmp_path, pki):
    job_id = prepared_job(cli, tmp_path)
    files = pki.write(tmp_path / "pki", root_in_chain=False, password=PASSWORD)
    out = tmp_path / "report"
    code, _, err = cli("report", "build", "--job", job_id, "--out", out, "--cert",
                       files["cert"], "--key", files["key"], "--trust", files["root"])
    assert code == 1 and "--password-stdin: " in err and "protected by a password" in err
    keyring.set(secret_name(files["key"].read_bytes()), PASSWORD)
    cli.ok("report", "build", "--job", job_id, "--out", out, "--cert", files["cert"],
           "--key", files["key"], "--trust", files["root"])
    result = verify_report(out, trust=[pki.root.cert])
    assert result.ok and result.anchored and result.signer_sha256 == pki.tech.sha256
    assert cli("report", "verify", out, "--trust", files["root"])[0] == 0


def test_cli_signs_with_pkcs12_from_standard_input_and_saves_the_password(
        cli, keyring, tmp_path, pki, monkeypatch):
    job_id = prepared_job(cli, tmp_path)
    files = pki.write(tmp_path / "pki")
    p12 = pki.p12(tmp_path / "tech.p12", PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    out = tmp_path / "report"
    cli.ok("report", "build", "--job", job_id, "--out", out, "--cert", p12,
           "--trust", files["root"], "--password-stdin", "--save-password")
    assert keyring.get(secret_name(p12.read_bytes())) == PASSWORD
    assert verify_report(out, trust=[pki.root.cert]).ok


class _Terminal(io.StringIO):
    """Standard input that is a terminal: reading a line from it would echo the password."""

    def isatty(self) -> bool:
        return True

    def readline(self, *_args: object) -> str:
        raise AssertionError("the password was read with echo")


def test_cli_password_from_a_terminal_is_read_without_echo(cli, keyring, tmp_path, pki,
                                                           monkeypatch):
    job_id = prepared_job(cli, tmp_path)
    files = pki.write(tmp_path / "pki", root_in_chain=False, password=PASSWORD)
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or PASSWORD)
    out = tmp_path / "report"
    cli.ok("report", "build", "--job", job_id, "--out", out, "--cert", files["cert"],
           "--key", files["key"], "--trust", files["root"], "--password-stdin")
    assert prompts == ["Key password: "]
    assert verify_report(out, trust=[pki.root.cert]).ok


def test_cli_notes_a_trust_anchor_taken_from_the_certificate_file(cli, keyring, tmp_path, pki):
    job_id = prepared_job(cli, tmp_path)
    files = pki.write(tmp_path / "pki")
    code, out, err = cli("report", "build", "--job", job_id, "--out", tmp_path / "a",
                         "--cert", files["cert"], "--key", files["key"])
    assert code == 0, err
    notes = [line for line in err.splitlines() if "Trust anchor" in line]
    assert len(notes) == 1 and pki.root.sha256 in notes[0]
    assert "root CA from the certificate file" in notes[0]
    assert pki.root.sha256 not in out  # stdout keeps listing only the written files
    code, _, err = cli("report", "build", "--job", job_id, "--out", tmp_path / "b",
                       "--cert", files["cert"], "--key", files["key"], "--trust", files["root"])
    assert code == 0 and "Trust anchor" not in err


def test_cli_names_the_option_at_fault(cli, keyring, tmp_path, pki):
    job_id = prepared_job(cli, tmp_path)
    files = pki.write(tmp_path / "pki", root_in_chain=False)
    code, _, err = cli("report", "build", "--job", job_id, "--out", tmp_path / "r",
                       "--cert", files["cert"], "--key", files["key"])
    assert code == 1 and err.startswith("smgwct: --trust: A CA certificate is needed")
    assert not (tmp_path / "r").exists()
    code, _, err = cli("report", "build", "--job", job_id, "--out", tmp_path / "r",
                       "--cert", files["cert"])
    assert code == 1 and "--key: " in err and "no private key" in err
