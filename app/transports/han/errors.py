"""What can go wrong at the HAN interface, each with a plain next step for the technician.

The taxonomy follows what a technician can do about it, not where the fault sits in the stack:

=====================  ==================================================================
error                  typical cause
=====================  ==================================================================
HanTcpError            wrong address, cable, laptop not in the gateway's subnet
HanTlsError            handshake refused (the TLS alert is kept), certificate problems
HanCertificateChanged  the pinned HAN certificate differs (TLS error, never ignored)
HanAuthError           wrong user name or password, client certificate not registered
HanAccessDenied        the account may not do this (e.g. consumer asks for the system log)
HanLockedOut           too many failed logins: the portal is locked for a while
HanSessionBusy         another session of the same user is still open
HanNotEnabled          the operator has not (yet) enabled HAN access for this user
HanTimeout             the gateway did not answer in time
HanProtocolError       the answer does not have the documented form
=====================  ==================================================================
"""

from __future__ import annotations

import math

from app.errors import SmgwctError, Text
from app.security.tls import format_fingerprint


def format_duration(seconds: float) -> Text:
    """``4 min 37 s`` / ``4 Min. 37 s`` for a countdown."""
    total = max(0, math.ceil(seconds))
    minutes, secs = divmod(total, 60)
    if minutes:
        return Text(f"{minutes} min {secs} s", f"{minutes} Min. {secs} s")
    return Text(f"{secs} s", f"{secs} s")


class HanError(SmgwctError):
    """Base of all errors at the HAN interface (HAN-Schnittstelle)."""


class HanTcpError(HanError):
    """No TCP connection to the gateway's HAN address."""

    def __init__(self, host: str, port: int, reason: str, *, hint: Text | None = None) -> None:
        """``hint``: a next step that fits better than checking cable and address (e.g. the
        gateway is known to be restarting)."""
        super().__init__(
            Text(
                f"No connection to {host}:{port} ({reason}).",
                f"Keine Verbindung zu {host}:{port} ({reason}).",
            ),
            field="host",
            hint=hint or Text(
                "Check the cable to the HAN port, the gateway's HAN address and that the laptop "
                "has an address in the same subnet (without a default gateway on that port).",
                "Prüfen Sie das Kabel am HAN-Anschluss, die HAN-Adresse des Gateways und ob der "
                "Laptop eine Adresse im selben Subnetz hat (ohne Standard-Gateway an diesem "
                "Anschluss).",
            ),
        )
        self.host = host
        self.port = port
        self.reason = reason


class HanTlsError(HanError):
    """The TLS connection could not be set up; ``alert`` is the TLS alert where there is one."""

    def __init__(
        self,
        message: Text,
        *,
        alert: str | None = None,
        hint: Text | None = None,
    ) -> None:
        super().__init__(
            message,
            field="tls",
            hint=hint
            or Text(
                "Check that this is the gateway's HAN port (HTTPS) and that the gateway has "
                "finished booting. If the gateway offers another key-exchange group, choose it "
                "in the connection settings.",
                "Prüfen Sie, ob dies der HAN-Anschluss (HTTPS) des Gateways ist und ob das "
                "Gateway fertig gestartet ist. Bietet das Gateway eine andere "
                "Schlüsselaustausch-Gruppe an, wählen Sie diese in den Verbindungseinstellungen.",
            ),
        )
        self.alert = alert


class HanCertificateChanged(HanTlsError):
    """The gateway shows a HAN certificate other than the pinned one."""

    def __init__(self, expected: str, actual: str | None) -> None:
        shown = format_fingerprint(actual) if actual else "?"
        super().__init__(
            Text(
                f"The gateway's HAN certificate has changed: fingerprint {shown}, pinned "
                f"{format_fingerprint(expected)}. The connection was refused.",
                f"Das HAN-Zertifikat des Gateways hat sich geändert: Fingerabdruck {shown}, "
                f"gepinnt {format_fingerprint(expected)}. Die Verbindung wurde abgelehnt.",
            ),
            hint=Text(
                "Make sure you are connected to the right gateway. Accept the new certificate "
                "only if the operator confirms a HAN certificate change.",
                "Stellen Sie sicher, dass Sie mit dem richtigen Gateway verbunden sind. Nehmen Sie "
                "das neue Zertifikat nur an, wenn der Betreiber einen Wechsel des HAN-Zertifikats "
                "bestätigt.",
            ),
        )
        self.field = "certificate"
        self.expected = expected
        self.actual = actual


class HanAuthError(HanError):
    """The gateway refused the credentials."""

    def __init__(self, message: Text | None = None, *, hint: Text | None = None) -> None:
        super().__init__(
            message
            or Text(
                "The gateway refused the user name or password (or the client certificate).",
                "Das Gateway hat Benutzername oder Passwort (bzw. das Client-Zertifikat) "
                "abgelehnt.",
            ),
            field="user",
            hint=hint
            or Text(
                "Check the HAN access data from the metering point operator. Each further "
                "failed attempt brings the gateway's login lock closer.",
                "Prüfen Sie die HAN-Zugangsdaten des Messstellenbetreibers. Jeder weitere "
                "Fehlversuch bringt die Anmeldesperre des Gateways näher.",
            ),
        )


class HanAccessDenied(HanAuthError):
    """The account is valid but may not do what was asked."""

    def __init__(self, what: Text) -> None:
        super().__init__(
            Text(f"This HAN account may not {what.en}.", f"Dieses HAN-Konto darf nicht {what.de}."),
            hint=Text(
                "Use the access data of the role that may do this (consumer or service "
                "technician).",
                "Verwenden Sie die Zugangsdaten der Rolle, die dies darf (Letztverbraucher oder "
                "Servicetechniker).",
            ),
        )


class HanLockedOut(HanError):
    """Too many failed logins: the gateway refuses every login for a while."""

    def __init__(self, remaining_seconds: float | None) -> None:
        if remaining_seconds is None:
            message = Text(
                "The gateway has locked the login after too many failed attempts.",
                "Das Gateway hat die Anmeldung nach zu vielen Fehlversuchen gesperrt.",
            )
        else:
            left = format_duration(remaining_seconds)
            message = Text(
                f"The gateway has locked the login after too many failed attempts for another "
                f"{left.en}.",
                f"Das Gateway hat die Anmeldung nach zu vielen Fehlversuchen gesperrt, noch "
                f"{left.de}.",
            )
        super().__init__(
            message,
            field="user",
            hint=Text(
                "Wait until the lock has expired, then log in once with checked access data. "
                "Do not retry before: every attempt may extend the lock.",
                "Warten Sie, bis die Sperre abgelaufen ist, und melden Sie sich dann einmal mit "
                "geprüften Zugangsdaten an. Nicht vorher erneut versuchen: jeder Versuch kann die "
                "Sperre verlängern.",
            ),
        )
        self.remaining_seconds = remaining_seconds


class HanSessionBusy(HanError):
    """The gateway allows one session per user and another one is still open."""

    def __init__(self, remaining_seconds: float | None) -> None:
        tail_en = tail_de = ""
        if remaining_seconds is not None:
            left = format_duration(remaining_seconds)
            tail_en = f" It ends by itself after {left.en} without activity."
            tail_de = f" Sie endet von selbst nach {left.de} ohne Aktivität."
        super().__init__(
            Text(
                "Another session of this HAN user is still open on the gateway." + tail_en,
                "Auf dem Gateway ist noch eine andere Sitzung dieses HAN-Benutzers offen."
                + tail_de,
            ),
            field="user",
            hint=Text(
                "Close other programs that are logged in with the same account (display "
                "software, browser, home automation), then try again.",
                "Schließen Sie andere Programme, die mit demselben Konto angemeldet sind "
                "(Anzeigesoftware, Browser, Hausautomation), und versuchen Sie es erneut.",
            ),
        )
        self.remaining_seconds = remaining_seconds


class HanNotEnabled(HanError):
    """The gateway answers, but HAN access is not enabled for this account."""

    def __init__(self) -> None:
        super().__init__(
            Text(
                "The gateway answers, but HAN access is not enabled.",
                "Das Gateway antwortet, aber der HAN-Zugang ist nicht freigeschaltet.",
            ),
            field="han",
            hint=Text(
                "Ask the metering point operator (gateway administrator) to enable HAN access "
                "for this account.",
                "Bitten Sie den Messstellenbetreiber (Gateway-Administrator), den HAN-Zugang für "
                "dieses Konto freizuschalten.",
            ),
        )


class HanTimeout(HanError):
    """The gateway did not answer within the time allowed for the call."""

    def __init__(self, operation: str, seconds: float) -> None:
        super().__init__(
            Text(
                f"The gateway did not answer '{operation}' within {seconds:g} s.",
                f"Das Gateway hat '{operation}' nicht innerhalb von {seconds:g} s beantwortet.",
            ),
            hint=Text(
                "The gateway may be busy (e.g. right after booting or during a self-test). "
                "Wait a minute and try again; check the cable if it keeps happening.",
                "Das Gateway ist evtl. ausgelastet (z. B. direkt nach dem Start oder während "
                "eines Selbsttests). Warten Sie eine Minute und versuchen Sie es erneut; prüfen "
                "Sie das Kabel, wenn es wieder auftritt.",
            ),
        )
        self.operation = operation
        self.seconds = seconds


class HanProtocolError(HanError):
    """The gateway's answer does not have the documented form."""

    def __init__(self, detail: Text, *, field: str | None = None) -> None:
        super().__init__(
            Text(
                f"The gateway's answer could not be read: {detail.en}",
                f"Die Antwort des Gateways ist nicht lesbar: {detail.de}",
            ),
            field=field,
            hint=Text(
                "Check that the right vendor is selected. If the gateway runs a newer firmware, "
                "save the diagnostics and report it.",
                "Prüfen Sie, ob der richtige Hersteller gewählt ist. Läuft auf dem Gateway eine "
                "neuere Firmware, speichern Sie die Diagnose und melden Sie sie.",
            ),
        )
        self.detail = detail
