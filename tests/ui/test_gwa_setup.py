"""Dialog "GWA-Anbindung einrichten" and the GWA link of ``smgwct gui`` against the reference GWA.

The technician's certificate of the demo PKI is exported as a password-protected PKCS#12 file
(and as PEM with an encrypted key); the dialog checks it, the window connects the GWA link with
it, the settings keep only URL and paths, the password lives in the (fake) keyring only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.context import AppContext, HanTarget, Link, LinkState
from app.processes.flows.connection_test import CONNECTION_TEST
from app.processes.flows.han_common import SECRET_STORE_EXTRA
from app.security.secrets import MemorySecretStore, SecretStoreUnavailable
from app.store.settings import SettingsStore
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import SlowKeyring, answer_prompts, clipped_widgets, wait_until
from ui.gwa_link import GwaLinkFiles, needs_password, password_key
from ui.views.gwa_setup import GwaSetupDialog

PASSWORD = "Monteur-2026!"


@pytest.fixture
def files(demo, tmp_path: Path) -> dict[str, Path]:
    """The reference GWA's CA and the technician certificate as a technician receives them."""
    pki = demo.pki
    tech = pki["technician"]
    folder = tmp_path / "gwa-files"
    folder.mkdir()
    ca = folder / "gwa-ca.pem"
    ca.write_bytes(pki.trust_pem())
    p12 = folder / "techniker.p12"
    chain = [pki["sub_ca"].cert] if "sub_ca" in pki.certs else []
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"techniker", tech.key, tech.cert, chain or None,
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    pem = folder / "techniker.pem"
    pem.write_bytes(pki.chain_pem("technician"))
    key = folder / "techniker.key"
    key.write_bytes(tech.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    return {"ca": ca, "p12": p12, "pem": pem, "key": key}


def gui_context(demo, tmp_path: Path, store: Any | None) -> AppContext:
    """What ``smgwct gui`` has: the gateway's address, no GWA link yet."""
    han = demo.context.han
    extras = {SECRET_STORE_EXTRA: store} if store is not None else {}
    return AppContext(han=HanTarget(han.host, han.port, smgw_id=han.smgw_id, vendor=han.vendor,
                                    user=han.user),
                      data_dir=tmp_path / "data", extras=extras)


def fill(dialog: GwaSetupDialog, url: str, ca: Path, cert: Path, key: Path | None = None,
         password: str = "") -> None:
    dialog.url.setText(url)
    dialog.ca_file.setText(str(ca))
    dialog.cert_file.setText(str(cert))
    dialog.key_file.setText(str(key) if key else "")
    dialog.password.setText(password)


def apply(run, dialog: GwaSetupDialog) -> None:
    async def go() -> None:
        task = dialog.apply()
        assert task is not None
        await dialog.wait_checked()

    run(go())


@pytest.mark.parametrize("lang", ["de", "en"])
def test_set_up_with_pkcs12_then_connect_and_restart(make_window, translations, run, demo,
                                                     files, tmp_path, lang):
    translations.apply(lang)
    store = MemorySecretStore()
    settings = SettingsStore(tmp_path / "settings.json")
    context = gui_context(demo, tmp_path, store)
    window = make_window(context, [CONNECTION_TEST], settings_store=settings,
                         loaded=settings.load())
    window.show()
    assert window.connections.cards[Link.GWA].target.text() in ("nicht eingerichtet",
                                                                "not configured")

    window.gwa_action.trigger()
    dialog = window.gwa_dialog
    assert isinstance(dialog, GwaSetupDialog) and dialog.isVisible()
    assert not dialog.isModal() and dialog.windowModality() == Qt.WindowModality.NonModal
    assert dialog.save_password.isEnabled() and dialog.save_password.isChecked()
    url = demo.context.gwa.base_url
    fill(dialog, url, files["ca"], files["p12"], password=PASSWORD)
    QApplication.processEvents()
    assert clipped_widgets(dialog) == []
    SCREENSHOTS.mkdir(exist_ok=True)
    dialog.grab().save(str(SCREENSHOTS / f"gwa-setup-{lang}.png"))
    apply(run, dialog)
    assert dialog.error is None, dialog.error
    assert context.gwa is not None and context.gwa.base_url == url
    assert window.connections.cards[Link.GWA].target.text() == url
    assert window.gwa_dialog is None  # closed after success

    # the settings hold the URL and the paths, the keyring the password; nothing else has it
    stored = settings.load().settings
    assert stored.gwa_url == url
    assert stored.gwa_ca_file == str(files["ca"]) and stored.gwa_cert_file == str(files["p12"])
    assert stored.gwa_key_file is None
    assert PASSWORD not in settings.path.read_text("utf-8")
    assert store.get(password_key(files["p12"].read_bytes())) == PASSWORD

    # the link works: the connection check reaches the reference GWA with this certificate
    answer_prompts(window)

    async def check():
        return await window.start_flow(CONNECTION_TEST)

    result = run(check())
    assert result.succeeded, result.error
    assert context.link(Link.GWA).state is LinkState.CONNECTED
    assert window.connections.cards[Link.GWA].badge.property("state") == "connected"
    window.close()
    run(window.shutdown())

    # next start: the link comes back from settings and keyring without a question
    again = gui_context(demo, tmp_path, store)
    second = make_window(again, [CONNECTION_TEST], settings_store=settings,
                         loaded=settings.load())
    run(wait_until(lambda: again.gwa is not None))
    assert again.gwa.base_url == url and second.gwa_dialog is None


def test_without_a_keyring_the_password_is_asked_at_every_start(make_window, run, demo, files,
                                                                tmp_path, monkeypatch):
    def no_keyring() -> None:
        raise SecretStoreUnavailable("no keyring")

    monkeypatch.setattr("ui.views.gwa_control.KeyringSecretStore", no_keyring)
    settings = SettingsStore(tmp_path / "settings.json")
    url = demo.context.gwa.base_url
    setup = GwaLinkFiles(url, files["ca"], files["pem"], files["key"])
    settings.save(setup.to_settings(settings.load().settings))
    assert needs_password(setup)

    for _start in range(2):
        context = gui_context(demo, tmp_path, None)
        window = make_window(context, [], settings_store=settings, loaded=settings.load())
        window.show()
        run(wait_until(lambda w=window: w.gwa_dialog is not None))
        dialog = window.gwa_dialog
        assert dialog.notice.isVisible() and "Schlüsselbund" in dialog.notice.text()
        assert not dialog.save_password.isEnabled() and not dialog.save_password.isChecked()
        assert "bei jedem Start erfragt" in dialog.keyring_note.text()
        assert dialog.url.text() == url and dialog.key_file.text() == str(files["key"])
        assert context.gwa is None
        dialog.password.setText(PASSWORD)
        apply(run, dialog)
        assert dialog.error is None, dialog.error
        assert context.gwa is not None and context.gwa.client is not None
        assert PASSWORD not in settings.path.read_text("utf-8")
        window.close()
        run(window.shutdown())


def test_bad_input_is_named_and_nothing_is_applied(make_window, run, demo, files, tmp_path):
    store = MemorySecretStore()
    context = gui_context(demo, tmp_path, store)
    window = make_window(context, [])
    dialog = window.open_gwa_setup()
    url = demo.context.gwa.base_url
    cases = [
        (("http://gwa.example", files["ca"], files["p12"], None, PASSWORD), "gwa_url", "https"),
        ((url, tmp_path / "missing.pem", files["p12"], None, PASSWORD), "gwa_ca_file",
         "missing.pem"),
        ((url, files["p12"], files["p12"], None, PASSWORD), "gwa_ca_file", "PEM"),
        ((url, files["ca"], files["p12"], None, ""), "gwa_password", "Passwort"),
        ((url, files["ca"], files["p12"], None, "falsch"), "gwa_password", "öffnet"),
        ((url, files["ca"], files["ca"], None, ""), "gwa_key_file", "privater Schlüssel"),
    ]
    for values, field, words in cases:
        fill(dialog, *values)
        apply(run, dialog)
        assert dialog.error is not None and dialog.error.field == field, (values, dialog.error)
        assert words in dialog.status.text()
        assert "Traceback" not in dialog.status.text()
        assert dialog.isVisible() and context.gwa is None
    assert store.get(password_key(files["p12"].read_bytes())) is None
    # the same dialog then accepts good input (PEM certificate with an encrypted key)
    fill(dialog, url, files["ca"], files["pem"], files["key"], PASSWORD)
    apply(run, dialog)
    assert dialog.error is None and context.gwa is not None
    assert context.gwa.client is not None and context.gwa.client.password  # one-time, in memory
    assert b"ENCRYPTED" in context.gwa.client.keyfile.read_bytes()
    window.close()
    run(window.shutdown())
    assert not context.gwa.client.keyfile.exists()  # the private folder is removed


def test_only_one_dialog_and_closing_it_cancels_a_check(make_window, run, demo, files, tmp_path):
    window = make_window(gui_context(demo, tmp_path, MemorySecretStore()), [])
    first = window.open_gwa_setup()
    assert window.open_gwa_setup() is first
    fill(first, demo.context.gwa.base_url, files["ca"], files["p12"], password=PASSWORD)

    async def close_while_checking() -> None:
        task = first.apply()
        first.close()
        await asyncio.sleep(0)
        assert task is not None
        await first.wait_checked()

    run(close_while_checking())
    assert window.context.gwa is None
    QApplication.processEvents()
    assert window.gwa_dialog is None


def test_the_link_uses_the_shared_keyring_password_source(files, tmp_path):
    """One password source for the GWA link and the report signer (typed, else keyring)."""
    from app.report.signer import SignerPasswords
    from app.security.client_certificate import PKCS12_SUFFIXES, KeyringPasswords
    from ui import gwa_link

    assert issubclass(gwa_link.LinkPasswords, KeyringPasswords)
    assert issubclass(SignerPasswords, KeyringPasswords)
    assert gwa_link.PKCS12_SUFFIXES is PKCS12_SUFFIXES
    assert gwa_link.LinkPasswords().hint == gwa_link.PASSWORD_HINT
    setup = GwaLinkFiles("https://gwa.example.de:8443", files["ca"], files["p12"])
    assert setup.is_pkcs12 and needs_password(setup)
    store = MemorySecretStore()
    typed = gwa_link.LinkPasswords(PASSWORD, store)
    gwa_link.load_target(setup, typed, tmp_path / "link")
    assert typed.to_remember == (password_key(files["p12"].read_bytes()), PASSWORD)
    store.set(*typed.to_remember)
    # the signer's source finds the same keyring entry for the same file
    assert SignerPasswords(None, store).stored(typed.to_remember[0]) == PASSWORD


def test_the_dialog_stays_busy_while_the_keyring_saves(make_window, run, demo, files, tmp_path,
                                                       qtbot):
    """OK again, Escape or closing while the keyring saves neither saves twice nor loses the
    set-up: the link is applied once, when the save is done."""
    store = SlowKeyring()
    window = make_window(gui_context(demo, tmp_path, store), [])
    dialog = window.open_gwa_setup()
    applied: list[Any] = []
    dialog.applied.connect(lambda target, _files: applied.append(target))
    fill(dialog, demo.context.gwa.base_url, files["ca"], files["p12"], password=PASSWORD)

    async def press_twice_and_close_while_saving() -> None:
        task = dialog.apply()
        assert task is not None
        assert await asyncio.to_thread(store.entered.wait, 10), "the save never began"
        QApplication.processEvents()
        assert not dialog.apply_button.isEnabled() and not dialog.cancel_button.isEnabled()
        assert dialog.apply() is None  # a second OK starts no second run
        dialog.close()
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        assert dialog.isVisible() and not task.done()
        store.release.set()
        await dialog.wait_checked()

    run(press_twice_and_close_while_saving())
    assert store.saves == 1 and len(applied) == 1
    assert window.context.gwa is not None and window.context.gwa.base_url == applied[0].base_url
