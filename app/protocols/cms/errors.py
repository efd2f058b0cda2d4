"""Why a CMS message was refused (*Signaturprüfung / Entschlüsselung fehlgeschlagen*)."""

from __future__ import annotations

from enum import StrEnum

from app.errors import SmgwctError, Text


class CmsFailure(StrEnum):
    """The precise reason a CMS message could not be verified, decrypted or built."""

    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    CONTENT_MISSING = "content_missing"
    TAMPERED = "tampered"
    BAD_SIGNATURE = "bad_signature"
    WRONG_SIGNER = "wrong_signer"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    KEY_USAGE = "key_usage"
    WRONG_RECIPIENT = "wrong_recipient"
    DECRYPTION_FAILED = "decryption_failed"


_TEXTS: dict[CmsFailure, tuple[str, Text, Text]] = {
    CmsFailure.MALFORMED: (
        "cms",
        Text("The message is not a valid CMS structure (damaged or not CMS at all).",
             "Die Nachricht ist keine gültige CMS-Struktur (beschädigt oder gar kein CMS)."),
        Text("Request the message again; if it keeps failing, report the sender.",
             "Fordern Sie die Nachricht erneut an; tritt der Fehler wieder auf, melden Sie den "
             "Absender."),
    ),
    CmsFailure.UNSUPPORTED: (
        "algorithm",
        Text("The message uses an algorithm or form this tool does not accept.",
             "Die Nachricht verwendet ein Verfahren oder eine Form, die dieses Werkzeug nicht "
             "akzeptiert."),
        Text("The sender must use ECDSA/SHA-2 signatures and ECDH with AES (see "
             "docs/protocol/05-10-content-encryption.md).",
             "Der Absender muss ECDSA/SHA-2-Signaturen und ECDH mit AES verwenden (siehe "
             "docs/protocol/05-10-content-encryption.md)."),
    ),
    CmsFailure.CONTENT_MISSING: (
        "content",
        Text("The signature is detached and the signed content was not supplied.",
             "Die Signatur ist abgesetzt und der signierte Inhalt wurde nicht mitgegeben."),
        Text("Supply the content file together with the signature.",
             "Geben Sie die Inhaltsdatei zusammen mit der Signatur an."),
    ),
    CmsFailure.TAMPERED: (
        "content",
        Text("The content was changed after it was signed (the message digest does not match).",
             "Der Inhalt wurde nach dem Signieren verändert (der Hashwert stimmt nicht)."),
        Text("Discard the message and request it again.",
             "Verwerfen Sie die Nachricht und fordern Sie sie erneut an."),
    ),
    CmsFailure.BAD_SIGNATURE: (
        "signature",
        Text("The signature does not match the signer's certificate.",
             "Die Signatur passt nicht zum Zertifikat des Unterzeichners."),
        Text("Discard the message and request it again.",
             "Verwerfen Sie die Nachricht und fordern Sie sie erneut an."),
    ),
    CmsFailure.WRONG_SIGNER: (
        "signer",
        Text("The message is signed by a different certificate than the expected one.",
             "Die Nachricht ist mit einem anderen als dem erwarteten Zertifikat signiert."),
        Text("Check that the communication profile holds the sender's current SIG certificate.",
             "Prüfen Sie, ob das Kommunikationsprofil das aktuelle SIG-Zertifikat des Absenders "
             "enthält."),
    ),
    CmsFailure.UNTRUSTED: (
        "certificate",
        Text("The signer's certificate does not lead to a trusted root CA.",
             "Das Zertifikat des Unterzeichners führt nicht zu einer vertrauenswürdigen "
             "Wurzel-CA."),
        Text("Import the root CA of the sender's PKI (and its sub-CA) as trust anchor.",
             "Importieren Sie die Wurzel-CA der PKI des Absenders (und deren Sub-CA) als "
             "Vertrauensanker."),
    ),
    CmsFailure.EXPIRED: (
        "certificate",
        Text("A certificate of the signer's chain has expired.",
             "Ein Zertifikat in der Kette des Unterzeichners ist abgelaufen."),
        Text("The sender needs a renewed certificate; also check the computer's clock.",
             "Der Absender braucht ein erneuertes Zertifikat; prüfen Sie auch die Uhr des "
             "Rechners."),
    ),
    CmsFailure.NOT_YET_VALID: (
        "certificate",
        Text("A certificate of the signer's chain is not valid yet.",
             "Ein Zertifikat in der Kette des Unterzeichners ist noch nicht gültig."),
        Text("Check the computer's clock (date and time zone).",
             "Prüfen Sie die Uhr des Rechners (Datum und Zeitzone)."),
    ),
    CmsFailure.KEY_USAGE: (
        "certificate",
        Text("The certificate is not meant for this use (key usage).",
             "Das Zertifikat ist für diesen Zweck nicht bestimmt (Schlüsselverwendung)."),
        Text("Use the SIG certificate for signatures and the ENC certificate for encryption.",
             "Verwenden Sie das SIG-Zertifikat zum Signieren und das ENC-Zertifikat zum "
             "Verschlüsseln."),
    ),
    CmsFailure.WRONG_RECIPIENT: (
        "recipient",
        Text("The message is not encrypted for this certificate.",
             "Die Nachricht ist nicht für dieses Zertifikat verschlüsselt."),
        Text("Check that the sender uses the current ENC certificate of the receiver.",
             "Prüfen Sie, ob der Absender das aktuelle ENC-Zertifikat des Empfängers verwendet."),
    ),
    CmsFailure.DECRYPTION_FAILED: (
        "encrypted_content",
        Text("The message could not be decrypted (wrong key or damaged data).",
             "Die Nachricht ließ sich nicht entschlüsseln (falscher Schlüssel oder beschädigte "
             "Daten)."),
        Text("Request the message again; check that the right ENC key is installed.",
             "Fordern Sie die Nachricht erneut an; prüfen Sie, ob der richtige ENC-Schlüssel "
             "installiert ist."),
    ),
}


class CmsError(SmgwctError):
    """A CMS message was refused; ``reason`` says why, ``detail`` names the technical cause."""

    def __init__(self, reason: CmsFailure, detail: str = "") -> None:
        field, message, hint = _TEXTS[reason]
        if detail:
            message = Text(f"{message.en} ({detail})", f"{message.de} ({detail})")
        super().__init__(message, field=field, hint=hint)
        self.reason = reason
        self.detail = detail
