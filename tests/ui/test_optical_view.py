"""The view "Zähler optisch auslesen" against a virtual meter over socket://, on a qasync loop."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from app.sim.meter import MeterFaults, MeterProfile, VirtualMeter
from tests.ui.conftest import SCREENSHOTS
from tools import i18n as i18n_tool
from ui.views.optical_view import OpticalReadView

KEY = bytes(range(100, 148))

#: German texts of the view, as resources/i18n/app_de.ts must have them
GERMAN = {
    "Read meter optically": "Zähler optisch auslesen",
    "&Port:": "&Anschluss:",
    "Serial port of the read head, or a URL such as socket://127.0.0.1:7001":
        "Serieller Anschluss des Lesekopfs oder eine URL wie socket://127.0.0.1:7001",
    "Refresh": "Aktualisieren",
    "List the serial ports again": "Serielle Anschlüsse neu auflisten",
    "P&rotocol:": "P&rotokoll:",
    "Automatic": "Automatisch",
    "SML (9600 Bd)": "SML (9600 Bd)",
    "IEC 62056-21": "IEC 62056-21",
    "Start": "Start",
    "Stop": "Stopp",
    "Meter identity": "Zähleridentität",
    "Server ID:": "Server-ID:",
    "Server ID (hex):": "Server-ID (hex):",
    "Manufacturer:": "Hersteller:",
    "Public key (SHA-256):": "Öffentlicher Schlüssel (SHA-256):",
    "Protocol:": "Protokoll:",
    "OBIS code": "OBIS-Kennzahl",
    "Description": "Bezeichnung",
    "Value": "Wert",
    "Unit": "Einheit",
    "Copy to clipboard": "In die Zwischenablage kopieren",
    "Telegrams: {0}   valid: {1}   damaged: {2}   noise bytes: {3}":
        "Telegramme: {0}   gültig: {1}   beschädigt: {2}   Störbytes: {3}",
    "Put the read head on the meter's optical interface and press Start.":
        "Setzen Sie den Lesekopf auf die optische Schnittstelle des Zählers und drücken Sie "
        "„Start“.",
    "likely a read head": "vermutlich ein Lesekopf",
    "Reading live: the values update with every telegram.":
        "Live-Auslesung: Die Werte werden mit jedem Telegramm aktualisiert.",
}


@pytest.fixture
def german(app: QApplication, translations) -> Callable[[bool], None]:
    """Switch the UI language: German (``True``) or English."""

    def switch(on: bool) -> None:
        translations.apply("de" if on else "en")
        app.processEvents()

    return switch


def test_the_catalogue_has_the_views_german_texts(translations):
    messages = {m.source: m for m in i18n_tool.read_ts(i18n_tool.ts_path("de"))
                if m.context == "OpticalReadView"}
    assert set(GERMAN) <= set(messages)
    for source, german in GERMAN.items():
        assert messages[source].finished and messages[source].translation == german, source
    translations.apply("de")
    for source, german in GERMAN.items():
        assert QCoreApplication.translate("OpticalReadView", source) == german


def until(run, condition: Callable[[], bool], timeout: float = 8.0) -> None:
    async def wait() -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.03)

    run(wait())


@pytest.fixture
def meter(run) -> Iterator[VirtualMeter]:
    virtual = VirtualMeter(MeterProfile.example(public_key=KEY, push_interval=0.2,
                                                power_w=512.3))
    run(virtual.start())
    yield virtual
    run(virtual.stop())


def clipped(view: QWidget) -> list[str]:
    problems = []
    for widget in view.findChildren(QWidget):
        if not widget.isVisibleTo(view) or not isinstance(widget, QLabel | QAbstractButton):
            continue
        if not widget.text() or (isinstance(widget, QLabel) and widget.wordWrap()):
            continue
        if widget.sizeHint().width() > widget.width():
            problems.append(f"{widget.objectName() or type(widget).__name__} {widget.text()!r}")
    return problems


def test_reads_the_virtual_meter_live_and_stops(qtbot, run, meter, german):
    german(True)
    view = OpticalReadView(default_port=meter.url)
    qtbot.addWidget(view)
    view.resize(980, 700)
    view.show()
    assert view.port == meter.url
    assert view.title.text() == "Zähler optisch auslesen"
    view.set_protocol("auto")
    assert not view.stop_button.isEnabled() and not view.copy_button.isEnabled()

    # the GUI thread must keep running while the link reads: measure the loop's largest gap
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.get_event_loop().create_task(heartbeat())
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.running and view.stop_button.isEnabled() and not view.port_combo.isEnabled()
    until(run, lambda: view.snapshot is not None and view.snapshot.status.frames_ok >= 3)
    beat.cancel()
    assert max(gaps) < 0.25

    sid = meter.profile.server_id
    assert view.server_id_text.text() == "1 EMH00 12345678"
    assert view.server_id_hex.text() == sid.hex == "0a01454d480000bc614e"
    assert view.manufacturer.text() == "EMH"
    fingerprint = view.fingerprint.text().replace(":", "").replace("\n", "").lower()
    assert fingerprint == hashlib.sha256(KEY).hexdigest()
    assert view.line.text() == "SML, 9600 Bd 8N1"
    rows = {
        view.registers.item(r, 0).text(): [view.registers.item(r, c).text() for c in range(4)]
        for r in range(view.registers.rowCount())
    }
    assert set(rows) == {"1-0:1.8.0*255", "1-0:2.8.0*255", "1-0:16.7.0*255"}
    assert rows["1-0:16.7.0*255"][2:] == ["512.3", "W"]
    assert rows["1-0:1.8.0*255"][1] == "Wirkarbeit Bezug, gesamt"
    assert rows["1-0:1.8.0*255"][3] == "Wh"
    frames = view.snapshot.status.frames
    assert view.counters.text().startswith("Telegramme: ")
    assert "beschädigt: 0" in view.counters.text() and "Störbytes: 0" in view.counters.text()
    assert view.copy_button.isEnabled()
    assert view.hint.text().startswith("Live-Auslesung")

    view.copy_to_clipboard()
    copied = QGuiApplication.clipboard().text()
    assert "0a01454d480000bc614e" in copied and "512.3" in copied

    SCREENSHOTS.mkdir(exist_ok=True)
    assert not clipped(view), clipped(view)
    assert view.grab().save(str(SCREENSHOTS / "optical-de.png"))
    german(False)
    assert view.title.text() == "Read meter optically"
    assert view._captions[0].text() == "Server ID:"
    until(run, lambda: view.snapshot.status.frames > frames)  # still live after the switch
    assert not clipped(view), clipped(view)
    assert view.grab().save(str(SCREENSHOTS / "optical-en.png"))

    view.stop_button.click()
    run(view.wait_stopped())
    assert not view.running and view.start_button.isEnabled()
    assert view.hint.text() == "Reading stopped."
    until(run, lambda: meter.open_connections == 0, 3.0)  # the port was closed


def test_noisy_head_shows_counters_and_align_hint(qtbot, run, german):
    german(True)
    faults = MeterFaults(corrupt_every=2, garbage_every=2, garbage_bytes=30)
    noisy = VirtualMeter(MeterProfile.example(push_interval=0.15), faults=faults)
    run(noisy.start())
    try:
        view = OpticalReadView(default_port=noisy.url)
        qtbot.addWidget(view)
        view.set_protocol("sml")
        view.start()
        until(run, lambda: view.snapshot is not None and view.snapshot.status.frame_errors >= 2)
        assert "Lesekopf ausrichten" in view.hint.text()
        assert "beschädigt: 0" not in view.counters.text()
        view.close()  # closing the view cancels the reading
        run(view.wait_stopped())
        assert not view.running
        until(run, lambda: noisy.open_connections == 0, 3.0)
    finally:
        run(noisy.stop())


def test_unreachable_port_shows_one_line_error(qtbot, run, german):
    german(False)
    view = OpticalReadView(default_port="socket://127.0.0.1:1")
    qtbot.addWidget(view)
    view.start()
    run(view.wait_stopped())
    assert not view.running and view.start_button.isEnabled()
    assert "socket://127.0.0.1:1" in view.hint.text()
    assert view.snapshot is None and not view.copy_button.isEnabled()


def test_empty_port_asks_for_one(qtbot, run, german, monkeypatch):
    german(False)
    monkeypatch.setattr("ui.views.optical_view.list_ports", lambda: [])
    view = OpticalReadView()
    qtbot.addWidget(view)
    view.start()
    assert not view.running
    assert "Choose a port" in view.hint.text()
