"""Dialog "Signaturzertifikat für Protokolle einrichten": check a technician certificate for
report signatures, show its details, name the field at fault, keep the password in the keyring.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.report.signer import SignerFiles
from app.security.client_certificate import secret_name
from app.security.secrets import MemorySecretStore
from app.security.tls import format_fingerprint
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import SlowKeyring, clipped_widgets
from tests.unit.test_report_signer import Pki
from ui.views.signer_setup import SignerSetupDialog

PASSWORD = "Signatur-2026!"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture
def files(pki: Pki, tmp_path: Path) -> dict[str, Path]:
    paths = pki.write(tmp_path / "pem", root_in_chain=False, password=PASSWORD)
    paths["p12"] = pki.p12(tmp_path / "techniker.p12", PASSWORD)
    return paths


def make_dialog(qtbot: Any, files: SignerFiles | None = None,
                store: MemorySecretStore | None = None) -> SignerSetupDialog:
    dialog = SignerSetupDialog(None, files, store)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def fill(dialog: SignerSetupDialog, cert: Path, key: Path | None = None,
         trust: Path | None = None, password: str = "") -> None:
    dialog.cert_file.setText(str(cert))
    dialog.key_file.setText(str(key) if key else "")
    dialog.trust_file.setText(str(trust) if trust else "")
    dialog.password.setText(password)


def press(run: Any, dialog: SignerSetupDialog, *, ok: bool = False) -> None:
    async def go() -> None:
        task = dialog.apply() if ok else dialog.check()
        assert task is not None
        await dialog.wait_checked()

    run(go())
    QApplication.processEvents()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_good_certificate_is_checked_shown_and_configured(qtbot, run, translations, pki,
                                                            files, lang):
    translations.apply(lang)
    store = MemorySecretStore()
    dialog = make_dialog(qtbot, store=store)
    assert not dialog.isModal() and dialog.windowModality() == Qt.WindowModality.NonModal
    assert dialog.key_file.isVisibleTo(dialog)
    fill(dialog, files["cert"], files["key"], files["root"], PASSWORD)
    press(run, dialog)
    assert dialog.error is None, dialog.error
    assert dialog.details.isVisibleTo(dialog)
    assert "Erika Monteurin" in dialog.subject.text()
    assert "Test Sub-CA" in dialog.issuer.text()
    assert dialog.sha256.text().replace("\n", ":") == format_fingerprint(pki.tech.sha256)
    assert "Test Root CA" in dialog.anchor.text()
    assert pki.tech.cert.not_valid_after_utc.astimezone().strftime("%Y-%m-%d") in \
        dialog.validity.text()
    assert not any(label.isVisibleTo(dialog) for label in dialog.field_errors.values())
    assert store.get(secret_name(files["key"].read_bytes())) is None  # only on OK
    dialog.resize(dialog.sizeHint())
    QApplication.processEvents()
    assert clipped_widgets(dialog) == []
    SCREENSHOTS.mkdir(exist_ok=True)
    dialog.grab().save(str(SCREENSHOTS / f"signer-setup-{lang}.png"))

    with qtbot.waitSignal(dialog.configured, timeout=5000) as emitted:
        press(run, dialog, ok=True)
    assert emitted.args == [SignerFiles(files["cert"], files["key"], files["root"])]
    assert store.get(secret_name(files["key"].read_bytes())) == PASSWORD
    assert not dialog.isVisible()


def test_pkcs12_hides_the_key_and_uses_the_stored_password(qtbot, run, pki, files, tmp_path):
    store = MemorySecretStore()
    store.set(secret_name(files["p12"].read_bytes()), PASSWORD)
    setup = SignerFiles(files["p12"], None, files["root"])
    dialog = make_dialog(qtbot, setup, store)
    assert not dialog.key_file.isVisibleTo(dialog) and not dialog.key_file.isEnabled()
    dialog.key_file.setText(str(files["key"]))  # left over from before: not used
    assert dialog.files() == setup
    press(run, dialog)
    assert dialog.error is None and dialog.signer is not None
    assert dialog.signer.key.cert == pki.tech.cert
    dialog.cert_file.setText(str(files["cert"]))  # back to PEM: the key row returns
    assert dialog.key_file.isVisibleTo(dialog) and dialog.key_file.isEnabled()
    assert not dialog.details.isVisibleTo(dialog)  # the details belonged to the other file


@pytest.mark.parametrize("lang", ["de", "en"])
def test_bad_input_is_shown_next_to_its_field(qtbot, run, translations, pki, files, tmp_path,
                                              lang):
    translations.apply(lang)
    store = MemorySecretStore()
    dialog = make_dialog(qtbot, store=store)
    configured: list[Any] = []
    dialog.configured.connect(configured.append)
    stranger = tmp_path / "stranger.key"
    stranger.write_bytes(Pki().tech.key_pem())
    cases = [
        ((tmp_path / "missing.pem", files["key"], files["root"], PASSWORD), "report_cert",
         "missing.pem"),
        ((files["cert"], files["key"], files["root"], ""), "report_password",
         "Passwort" if lang == "de" else "password"),
        ((files["cert"], files["key"], files["root"], "falsch"), "report_password",
         "öffnet" if lang == "de" else "does not open"),
        ((files["cert"], stranger, files["root"], ""), "report_key",
         "gehört nicht" if lang == "de" else "does not belong"),
        ((files["cert"], files["key"], None, PASSWORD), "report_trust",
         "CA-Zertifikat" if lang == "de" else "A CA certificate is needed"),
    ]
    for values, field, words in cases:
        fill(dialog, *values)
        press(run, dialog, ok=True)
        error = dialog.error
        assert error is not None and error.field == field, (values, error)
        label = dialog.field_errors[field]
        assert label.isVisibleTo(dialog) and words in label.text(), label.text()
        assert "Traceback" not in label.text()
        others = [f for f, lab in dialog.field_errors.items() if lab.isVisibleTo(dialog)]
        assert others == [field]
        assert dialog.isVisible() and not dialog.details.isVisibleTo(dialog)
        if field == "report_trust":
            dialog.resize(dialog.sizeHint())
            QApplication.processEvents()
            assert clipped_widgets(dialog) == []
            dialog.grab().save(str(SCREENSHOTS / f"signer-setup-error-{lang}.png"))
    assert configured == [] and store.get(secret_name(files["key"].read_bytes())) is None
    # editing the field clears its error; good input is then accepted
    dialog.trust_file.setText(str(files["root"]))
    assert not dialog.field_errors["report_trust"].isVisibleTo(dialog)
    press(run, dialog, ok=True)
    assert configured == [SignerFiles(files["cert"], files["key"], files["root"])]


def test_without_a_keyring_the_password_is_not_offered_for_saving(qtbot, run, files):
    dialog = make_dialog(qtbot)
    assert not dialog.save_password.isEnabled() and not dialog.save_password.isChecked()
    assert "keyring" in dialog.keyring_note.text() or "Schlüsselbund" in \
        dialog.keyring_note.text()
    fill(dialog, files["cert"], files["key"], files["root"], PASSWORD)
    press(run, dialog)
    assert dialog.error is None and dialog.signer is not None


def test_closing_while_checking_cancels_and_emits_nothing(qtbot, run, files):
    dialog = make_dialog(qtbot, store=MemorySecretStore())
    configured: list[Any] = []
    dialog.configured.connect(configured.append)
    fill(dialog, files["cert"], files["key"], files["root"], PASSWORD)

    async def close_while_checking() -> None:
        task = dialog.apply()
        assert task is not None and dialog.checking
        assert dialog.apply() is None  # one check at a time
        dialog.close()
        await dialog.wait_checked()

    run(close_while_checking())
    assert configured == []


def test_the_dialog_stays_busy_while_the_keyring_saves_and_emits_once(qtbot, run, files):
    store = SlowKeyring()
    dialog = make_dialog(qtbot, store=store)
    configured: list[Any] = []
    dialog.configured.connect(configured.append)
    fill(dialog, files["cert"], files["key"], files["root"], PASSWORD)

    async def press_twice_and_close_while_saving() -> None:
        task = dialog.apply()
        assert task is not None
        assert await asyncio.to_thread(store.entered.wait, 10), "the save never began"
        QApplication.processEvents()
        assert dialog.checking and dialog.saving
        assert not dialog.ok_button.isEnabled() and not dialog.check_button.isEnabled()
        assert "keyring" in dialog.status.text() or "Schlüsselbund" in dialog.status.text()
        dialog.ok_button.click()  # a second OK starts no second run
        assert dialog.apply() is None and dialog.check() is None
        dialog.close()  # waits for the save instead of cancelling it
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        dialog.cancel_button.click()
        assert not dialog.cancel_button.isEnabled()
        assert dialog.isVisible() and not task.done()
        store.release.set()
        await dialog.wait_checked()

    try:
        run(press_twice_and_close_while_saving())
    finally:
        store.release.set()
    QApplication.processEvents()
    assert configured == [SignerFiles(files["cert"], files["key"], files["root"])]
    assert store.saves == 1 and store.get(secret_name(files["key"].read_bytes())) == PASSWORD
    assert not dialog.isVisible()


def test_an_anchor_from_the_certificate_file_is_marked_with_its_fingerprint(qtbot, run, pki,
                                                                            tmp_path,
                                                                            translations):
    translations.apply("en")
    paths = pki.write(tmp_path / "with-root")  # the root CA follows in the certificate file
    dialog = make_dialog(qtbot, store=MemorySecretStore())
    fill(dialog, paths["cert"], paths["key"])
    press(run, dialog)
    assert dialog.error is None and dialog.signer is not None
    assert dialog.signer.anchor_from_certificate_file
    note = dialog.anchor_note
    assert note.isVisibleTo(dialog)
    assert "Root CA taken from the certificate file" in note.text()
    assert format_fingerprint(pki.root.sha256) in note.text()
    dialog.resize(dialog.sizeHint())
    QApplication.processEvents()
    assert clipped_widgets(dialog) == []
    dialog.trust_file.setText(str(paths["root"]))  # an explicit CA file: nothing to compare
    press(run, dialog)
    assert dialog.error is None and not dialog.signer.anchor_from_certificate_file
    assert not note.isVisibleTo(dialog)


def test_browse_opens_a_non_modal_chooser_that_fills_the_field(qtbot, translations, tmp_path):
    """"Durchsuchen…" opens a file chooser without blocking; the chosen file lands in its
    field, and closing the dialog closes a chooser still open."""
    from PySide6.QtWidgets import QFileDialog

    translations.apply("en")
    dialog = make_dialog(qtbot)
    cert = tmp_path / "techniker.pem"
    cert.write_text("-", "utf-8")
    qtbot.mouseClick(dialog.cert_browse, Qt.MouseButton.LeftButton)
    [picker] = dialog.findChildren(QFileDialog)
    assert picker.isVisible() and picker.windowModality() != Qt.WindowModality.ApplicationModal
    assert "*.p12" in " ".join(picker.nameFilters())
    picker.fileSelected.emit(str(cert))
    assert dialog.cert_file.text() == str(cert)
    picker.close()
    qtbot.mouseClick(dialog.trust_browse, Qt.MouseButton.LeftButton)
    second = dialog.file_rows.pickers[-1]
    assert "CA certificates" in " ".join(second.nameFilters())
    assert second.isVisible()
    dialog.close()
    assert not second.isVisible()
