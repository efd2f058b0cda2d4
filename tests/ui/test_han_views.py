"""The views of the HAN flows, fed with real results of the flows against the embedded default.

Screenshots ``screenshots/han-technical-{de,en}.png`` and ``han-logs-{de,en}.png`` are written
for a human to look at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QDateTime
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from app.processes.engine import Engine, Flow, RunResult
from app.processes.flows.logs import LOGS
from app.processes.flows.technical_data import TECHNICAL_DATA
from app.processes.interaction import ScriptedInteraction
from app.report.log_export import from_csv, from_xml
from app.sim.embedded import EmbeddedDefault
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.transports.han.base import LogKind
from tests.ui.conftest import SCREENSHOTS
from tools import i18n as i18n_tool
from ui.views.han_logs_view import PAGE_SIZE, HanLogsView
from ui.views.han_technical_view import HanTechnicalView

#: German texts of the two views, as resources/i18n/app_de.ts must have them
GERMAN = {
    "HanTechnicalView": {
        "Technical data of the gateway": "Technische Gerätedaten",
        "Run the flow “Read technical data” to see the gateway here.":
            "Führen Sie den Ablauf „Technische Gerätedaten abfragen“ aus, um das Gateway hier "
            "zu sehen.",
        "Assessment": "Bewertung",
        "Identity": "Identität",
        "Vendor:": "Hersteller:",
        "SMGW ID:": "SMGW-ID:",
        "Interface:": "Schnittstelle:",
        "Account:": "Konto:",
        "Operating state": "Betriebszustand",
        "Code:": "Code:",
        "Meaning:": "Bedeutung:",
        "Clock": "Uhrzeit",
        "Gateway:": "Gateway:",
        "Laptop:": "Laptop:",
        "Deviation:": "Abweichung:",
        "Firmware": "Firmware",
        "Component": "Komponente",
        "Version": "Version",
        "SHA-256 hash": "SHA-256-Prüfsumme",
        "Certificates": "Zertifikate",
        "Certificate": "Zertifikat",
        "Subject": "Inhaber",
        "Valid until": "Gültig bis",
        "SHA-256 fingerprint": "SHA-256-Fingerabdruck",
        "LMN meters": "LMN-Zähler",
        "Server ID": "Server-ID",
        "Evaluation profiles": "Auswerteprofile",
        "OBIS code": "OBIS-Kennzahl",
        "Last value": "Letzter Wert",
        "HAN, API version {0}": "HAN, API-Version {0}",
        "HAN": "HAN",
        "{0} s": "{0} s",
        "OK": "OK",
        "Note": "Hinweis",
        "Warning": "Warnung",
        "Error": "Fehler",
        "(Gütesiegel)": "(Gütesiegel)",
        "(operational)": "(Wirkzertifikat)",
        "Issuer: {0}": "Aussteller: {0}",
        "expired": "abgelaufen",
        "expires in {0} days": "läuft in {0} Tagen ab",
        "not readable with this account": "mit diesem Konto nicht lesbar",
    },
    "HanLogsView": {
        "Gateway logs": "Logs des Gateways",
        "&Log:": "&Log:",
        "System log (service technician)": "Systemlog (Servicetechniker)",
        "Consumer log": "Letztverbraucher-Log",
        "Search message, event, subject…": "Meldung, Ereignis, Subjekt suchen…",
        "From": "Von",
        "To": "Bis",
        "Index:": "Index:",
        "Reset filter": "Filter zurücksetzen",
        "◀ Previous": "◀ Zurück",
        "Next ▶": "Weiter ▶",
        "Export CSV…": "CSV exportieren…",
        "Export XML…": "XML exportieren…",
        "UTF-8 with BOM and semicolons, for German Excel":
            "UTF-8 mit BOM und Semikolon, für deutsches Excel",
        "XML checked against log-export.xsd": "XML, geprüft gegen log-export.xsd",
        "Index": "Index",
        "Time": "Zeit",
        "Level": "Stufe",
        "Event": "Ereignis",
        "Subject / user": "Subjekt / Benutzer",
        "Message": "Meldung",
        "No log loaded: run the flow “Read logs”.":
            "Kein Log geladen: Führen Sie den Ablauf „Logs abfragen“ aus.",
        "Page {0} of {1} · {2} of {3} entries": "Seite {0} von {1} · {2} von {3} Einträgen",
        "Exporting {0} entries…": "{0} Einträge werden exportiert…",
        "{0} entries exported to {1}": "{0} Einträge exportiert nach {1}",
        "{0}, read {1}": "{0}, gelesen am {1}",
        "Export the log as CSV": "Log als CSV exportieren",
        "Export the log as XML": "Log als XML exportieren",
        "CSV for Excel (*.csv)": "CSV für Excel (*.csv)",
        "XML (*.xml)": "XML (*.xml)",
    },
}


@pytest.fixture
def german(app: QApplication, translations) -> Callable[[str], None]:
    """Switch the UI language (``"de"`` or ``"en"``)."""

    def switch(lang: str) -> None:
        translations.apply(lang)
        app.processEvents()

    return switch


def test_the_catalogue_has_the_views_german_texts(translations):
    messages = {(m.context, m.source): m for m in i18n_tool.read_ts(i18n_tool.ts_path("de"))}
    translations.apply("de")
    for context, texts in GERMAN.items():
        for source, german in texts.items():
            message = messages[(context, source)]
            assert message.finished and message.translation == german, (context, source)
            assert QCoreApplication.translate(context, source) == german


@pytest.fixture
def embedded(run, tmp_path: Path) -> Iterator[EmbeddedDefault]:
    demo = EmbeddedDefault(data_dir=tmp_path / "demo")
    run(demo.start())
    yield demo
    run(demo.stop())


def run_flow(run, tmp_path: Path, demo: EmbeddedDefault, flow: Flow, answers: Any,
             data: dict | None = None) -> RunResult:
    engine = Engine(JobStore(tmp_path / "jobs.sqlite"), AuditLog(tmp_path / "audit.sqlite"),
                    ScriptedInteraction(answers), demo.context)
    result = run(engine.run(flow, data))
    assert result.succeeded, (result.error, result.hint)
    return result


def clipped(view: QWidget) -> list[str]:
    problems = []
    for widget in view.findChildren(QWidget):
        if not widget.isVisibleTo(view) or not isinstance(widget, QLabel | QAbstractButton):
            continue
        if not widget.text():
            continue
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.heightForWidth(widget.width()) > widget.height() + 1:
                problems.append(f"{widget.objectName()} {widget.text()!r} (height)")
            continue
        if widget.sizeHint().width() > widget.width():
            problems.append(f"{widget.objectName() or type(widget).__name__} {widget.text()!r}")
    return problems


def shoot(view: QWidget, name: str) -> None:
    QApplication.processEvents()
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / name
    assert view.grab().save(str(target))
    assert target.stat().st_size > 10_000


@pytest.mark.parametrize("lang", ["de", "en"])
def test_technical_view_with_a_real_result(qtbot, run, tmp_path, embedded, german, lang):
    german(lang)
    embedded.gateway.drift_seconds = 14  # a clock warning the technician must see
    result = run_flow(run, tmp_path, embedded, TECHNICAL_DATA, [True])
    view = HanTechnicalView()
    qtbot.addWidget(view)
    view.resize(1100, 900)
    view.show()
    assert view.empty.isVisible() and not view.scroll.isVisible()
    view.show_result(result)
    QApplication.processEvents()

    data = result.results["read"].data
    assert view.smgw_id.text() == "ETHE0390000001"
    assert view.state_code.text() == "a0000000"
    assert ("in Betrieb" if lang == "de" else "running") in view.state_words.text()
    assert view.offset.text().startswith("+1")
    assert view.firmware.rowCount() == 1
    assert view.firmware.item(0, 2).text() == data["firmware"][0]["hash"]
    assert view.certificates.rowCount() == len(data["certificates"])
    han_row = next(r for r in range(view.certificates.rowCount())
                   if view.certificates.item(r, 0).text().startswith("HAN"))
    shown = view.certificates.item(han_row, 3).text()
    assert len(shown.splitlines()) == 2  # the whole fingerprint, in two lines
    assert shown.replace(":", "").replace("\n", "").lower() == embedded.pki["han"].sha256
    meters = {view.meters.item(r, 0).text() for r in range(view.meters.rowCount())}
    assert {"1EMH0012345678", "1DZG0042123440"} <= meters
    warnings = [w for w in view.findings_box.findChildren(QLabel)
                if w.property("severity") == "warning"]
    assert warnings and "27 s" in warnings[0].text()
    expected_title = {"de": "Technische Gerätedaten", "en": "Technical data of the gateway"}
    assert view.title.text() == expected_title[lang]
    assert clipped(view) == []
    shoot(view, f"han-technical-{lang}.png")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_log_view_filters_pages_searches_and_exports(qtbot, run, tmp_path, embedded, german,
                                                    lang):
    german(lang)
    answers = {"Trust this gateway certificate?": True, "Which log should be read?": "both",
               "User name of the consumer's HAN account (IF_GW_CON)": "ethe0390000001.lv"}
    result = run_flow(run, tmp_path, embedded, LOGS, answers)
    exports: dict[str, Path] = {"csv": tmp_path / "out.csv", "xml": tmp_path / "out.xml"}
    view = HanLogsView(save_path=lambda fmt: str(exports[fmt]))
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.show_result(result)
    QApplication.processEvents()

    total = result.results["system"].data["count"]
    assert view.kind is LogKind.SYSTEM and len(view.entries) == total > 3000
    assert view.model.rowCount() == PAGE_SIZE
    pages = -(-total // PAGE_SIZE)
    page_text = {"de": f"Seite 1 von {pages} · {total} von {total} Einträgen",
                 "en": f"Page 1 of {pages} · {total} of {total} entries"}
    assert view.page_label.text() == page_text[lang]
    assert not view.prev_button.isEnabled() and view.next_button.isEnabled()
    view.next_button.click()
    assert view.page == 1 and view.model.entries[0].index == view.filtered[PAGE_SIZE].index
    view.go_to_page(10_000)
    assert view.page == pages - 1 and not view.next_button.isEnabled()

    # search, then the index range, then the time range
    view.search.setText("Time synchronised")
    assert view.filtered and all("Time synchronised" in e.message for e in view.filtered)
    assert view.page == 0
    view.search.clear()
    view.index_from.setValue(1000)
    view.index_to.setValue(1099)
    assert [e.index for e in view.filtered] == list(range(1000, 1100))
    view.reset_filter()
    assert len(view.filtered) == total
    middle = view.entries[total // 2].time
    view.from_edit.setDateTime(QDateTime(middle.astimezone()))
    view.from_check.setChecked(True)
    assert view.filtered and all(e.time >= middle.replace(microsecond=0) for e in view.filtered)
    assert len(view.filtered) < total

    # export what is shown: CSV and XML, then read them back
    for fmt in ("csv", "xml"):
        task = view.start_export(fmt)
        assert task is not None
        assert run(task) == exports[fmt]
    shown = list(view.filtered)
    assert from_csv(exports["csv"].read_bytes()) == shown
    assert from_xml(exports["xml"].read_bytes()) == shown
    assert str(exports["xml"]) in view.status.text()

    # the consumer log
    view.reset_filter()
    view.set_kind(LogKind.CONSUMER)
    assert view.entries and all(e.kind is LogKind.CONSUMER for e in view.filtered)
    assert view.model.index(0, 3).data() == "16001"

    view.set_kind(LogKind.SYSTEM)
    view.search.setText("GWA")
    QApplication.processEvents()
    assert clipped(view) == []
    shoot(view, f"han-logs-{lang}.png")


def test_log_view_without_a_result(qtbot, german):
    german("en")
    view = HanLogsView(save_path=lambda fmt: None)
    qtbot.addWidget(view)
    view.show()
    assert "No log loaded" in view.page_label.text()
    assert not view.csv_button.isEnabled()
    assert view.start_export("csv") is None
    view.show_result({"system": {"file": "/nonexistent/snapshot.json"}})
    assert "cannot be read" in view.status.text()
