"""The question dialog shows certificate details as fields, the fingerprint monospaced."""

from __future__ import annotations

from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QApplication, QLabel

from app.errors import Text
from app.processes.interaction import confirm_request
from tests.ui.helpers import clipped_widgets
from ui.views.prompt import DetailPart, PromptDialog, detail_parts, fingerprint_lines

FP = ":".join(f"{i:02X}" for i in range(32))
TRUST = Text(
    f"Subject: CN=ETHE0390000001,OU=HAN,O=smgwct demo gateway,C=DE\nSHA-256: {FP}\n"
    "Compare the fingerprint with the gateway's label or the operator's data sheet.",
    f"Inhaber: CN=ETHE0390000001,OU=HAN,O=smgwct demo gateway,C=DE\nSHA-256: {FP}\n"
    "Vergleichen Sie den Fingerabdruck mit dem Typschild des Gateways oder dem Datenblatt des "
    "Betreibers.",
)


def test_detail_parts_find_fields_only_next_to_a_fingerprint():
    parts = detail_parts(TRUST.en)
    assert parts == [
        DetailPart("CN=ETHE0390000001,OU=HAN,O=smgwct demo gateway,C=DE", "Subject"),
        DetailPart(FP, "SHA-256", fingerprint=True),
        DetailPart("Compare the fingerprint with the gateway's label or the operator's data "
                   "sheet."),
    ]
    # a sentence with a colon is no field when there is no fingerprint
    assert detail_parts("Note: the password is kept in the keyring.") == [
        DetailPart("Note: the password is kept in the keyring.")]
    assert fingerprint_lines(FP.lower()).splitlines() == [
        ":".join(f"{i:02X}" for i in range(16)), ":".join(f"{i:02X}" for i in range(16, 32))]


def test_trust_question_shows_subject_and_fingerprint_block_in_both_languages(qtbot,
                                                                             translations):
    dialog = PromptDialog(confirm_request(
        Text("Trust this gateway certificate?", "Diesem Gateway-Zertifikat vertrauen?"), TRUST))
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    assert dialog.fields.isVisible() and dialog.fingerprint is not None
    assert QFontInfo(dialog.fingerprint.font()).fixedPitch()
    assert dialog.fingerprint.text() == fingerprint_lines(FP)
    texts = [w.text() for w in dialog.fields.findChildren(QLabel)]
    assert "Inhaber:" in texts
    assert "CN=ETHE0390000001, OU=HAN, O=smgwct demo gateway, C=DE" in texts
    assert dialog.after.text().startswith("Vergleichen Sie den Fingerabdruck")
    assert not dialog.detail.isVisible()
    assert clipped_widgets(dialog) == []

    translations.apply("en")  # live switch while the question is open
    QApplication.processEvents()
    QApplication.processEvents()  # the new labels are shown, the old ones are gone
    texts = [w.text() for w in dialog.fields.findChildren(QLabel) if not w.isHidden()]
    assert "Subject:" in texts and "Inhaber:" not in texts
    assert dialog.prompt.text() == "Trust this gateway certificate?"
    assert dialog.cancel_button.text() == "Cancel flow"
    assert clipped_widgets(dialog) == []
    dialog.dismiss()


def test_plain_detail_keeps_its_lines(qtbot, translations):
    detail = Text("It is kept in the keyring.\nUsed for this gateway from now on.",
                  "Es wird im Schlüsselbund abgelegt.\nKünftig für dieses Gateway verwendet.")
    dialog = PromptDialog(confirm_request(Text("Save?", "Speichern?"), detail))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.detail.text() == detail.de
    assert dialog.fields.isHidden() and dialog.after.isHidden() and dialog.fingerprint is None
    dialog.dismiss()
