"""Technical data of the gateway (Technische Gerätedaten) as cards: the result of the flow
``technical_data`` (steps ``read`` and ``assess``).

Self-contained: give it a finished run (:meth:`HanTechnicalView.show_result`) or the two steps'
data (:meth:`HanTechnicalView.set_data`). Findings come first, coloured by severity; then identity,
state in words, clock, firmware with hashes, certificates with fingerprints and validity, and the
LMN meters with their last values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import Text
from app.processes.flows.technical_data import CERT_WARN_DAYS, Finding, role_name
from app.security.tls import format_fingerprint
from ui.i18n import language, text

SEVERITY_COLOURS = {"ok": "#188038", "info": "#1a73e8", "warning": "#b06000", "error": "#c5221f"}
SEVERITY_BACKGROUNDS = {"ok": "#e6f4ea", "info": "#e8f0fe", "warning": "#fef7e0",
                        "error": "#fce8e6"}


def _local(value: str | None) -> str:
    if not value:
        return "–"
    moment = dt.datetime.fromisoformat(value).astimezone()
    pattern = "%d.%m.%Y %H:%M:%S" if language() == "de" else "%Y-%m-%d %H:%M:%S"
    return moment.strftime(pattern)


def _date(value: str) -> str:
    moment = dt.datetime.fromisoformat(value).astimezone()
    return moment.strftime("%d.%m.%Y" if language() == "de" else "%Y-%m-%d")


def _table(parent: QWidget, name: str, columns: int) -> QTableWidget:
    table = QTableWidget(0, columns, parent)
    table.setObjectName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
    table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    header = table.horizontalHeader()
    for column in range(columns):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _fit_height(table: QTableWidget) -> None:
    height = table.horizontalHeader().height() + 2 * table.frameWidth()
    for row in range(table.rowCount()):
        height += table.rowHeight(row)
    table.setFixedHeight(height + 2)


class HanTechnicalView(QWidget):
    """Cards of the gateway's technical data with the assessment's findings on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("han-technical-view")
        self.data: dict[str, Any] = {}
        self.findings: list[Finding] = []
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._mono = mono

        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.empty = QLabel(self)
        self.empty.setObjectName("han-technical-empty")
        self.empty.setWordWrap(True)

        content = QWidget(self)
        content.setObjectName("han-technical-content")
        self.findings_box = QGroupBox(content)
        self.findings_box.setObjectName("han-findings")
        self.findings_layout = QVBoxLayout(self.findings_box)
        self.findings_layout.setSpacing(4)

        # identity, state, clock: three form cards side by side
        self.identity_box = QGroupBox(content)
        self.identity_box.setObjectName("han-identity")
        self.vendor = self._value(self.identity_box, "vendor")
        self.smgw_id = self._value(self.identity_box, "smgw-id", mono)
        self.api = self._value(self.identity_box, "api")
        self.account = self._value(self.identity_box, "account")
        self._identity_captions = [QLabel(self.identity_box) for _ in range(4)]
        form = QFormLayout(self.identity_box)
        for caption, value in zip(self._identity_captions,
                                  (self.vendor, self.smgw_id, self.api, self.account),
                                  strict=True):
            form.addRow(caption, value)

        self.state_box = QGroupBox(content)
        self.state_box.setObjectName("han-state")
        self.state_code = self._value(self.state_box, "state-code", mono)
        self.state_words = self._value(self.state_box, "state-words")
        self.state_words.setWordWrap(True)
        self._state_captions = [QLabel(self.state_box) for _ in range(2)]
        form = QFormLayout(self.state_box)
        form.addRow(self._state_captions[0], self.state_code)
        form.addRow(self._state_captions[1], self.state_words)

        self.clock_box = QGroupBox(content)
        self.clock_box.setObjectName("han-clock")
        self.gateway_time = self._value(self.clock_box, "gateway-time")
        self.laptop_time = self._value(self.clock_box, "laptop-time")
        self.offset = self._value(self.clock_box, "offset")
        self._clock_captions = [QLabel(self.clock_box) for _ in range(3)]
        form = QFormLayout(self.clock_box)
        for caption, value in zip(self._clock_captions,
                                  (self.gateway_time, self.laptop_time, self.offset),
                                  strict=True):
            form.addRow(caption, value)

        self.firmware_box = QGroupBox(content)
        self.firmware_box.setObjectName("han-firmware")
        self.firmware = _table(self.firmware_box, "han-firmware-table", 3)
        QVBoxLayout(self.firmware_box).addWidget(self.firmware)

        self.certificates_box = QGroupBox(content)
        self.certificates_box.setObjectName("han-certificates")
        self.certificates = _table(self.certificates_box, "han-certificates-table", 4)
        header = self.certificates.horizontalHeader()
        header.setStretchLastSection(False)  # the fingerprint is never cut; the subject may be
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.certificates.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        QVBoxLayout(self.certificates_box).addWidget(self.certificates)

        self.meters_box = QGroupBox(content)
        self.meters_box.setObjectName("han-meters")
        self.meters = _table(self.meters_box, "han-meters-table", 4)
        QVBoxLayout(self.meters_box).addWidget(self.meters)

        grid = QGridLayout()
        grid.addWidget(self.identity_box, 0, 0)
        grid.addWidget(self.state_box, 0, 1)
        grid.addWidget(self.clock_box, 0, 2)
        for column in range(3):
            grid.setColumnStretch(column, 1)
        for box in (self.findings_box, self.identity_box, self.state_box, self.clock_box,
                    self.firmware_box, self.certificates_box, self.meters_box):
            box.setProperty("card", True)  # drawn as cards by the window's style sheet
        inner = QVBoxLayout(content)
        inner.addWidget(self.findings_box)
        inner.addLayout(grid)
        inner.addWidget(self.firmware_box)
        inner.addWidget(self.certificates_box)
        inner.addWidget(self.meters_box)
        inner.addStretch(1)

        self.scroll = QScrollArea(self)
        self.scroll.setObjectName("han-technical-scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.empty)
        layout.addWidget(self.scroll, 1)
        self.retranslate()
        self._render()

    def _value(self, parent: QWidget, name: str, font: object = None) -> QLabel:
        label = QLabel(parent)
        label.setObjectName(f"han-{name}")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if font is not None:
            label.setFont(font)  # type: ignore[arg-type]
        return label

    # data -------------------------------------------------------------------------------------

    def show_result(self, result: Any) -> None:
        """Show a finished run of ``technical_data`` (a RunResult or its ``results``)."""
        results = getattr(result, "results", result) or {}
        read = results.get("read")
        assessed = results.get("assess")
        self.set_data(getattr(read, "data", read) if read is not None else None,
                      getattr(assessed, "data", assessed) if assessed is not None else None)

    def set_data(self, read: Mapping[str, Any] | None,
                 assessment: Mapping[str, Any] | None = None) -> None:
        """The ``read`` step's data and the ``assess`` step's data (findings)."""
        self.data = dict(read or {})
        if assessment is not None:
            self.findings = [Finding.from_dict(f) for f in assessment.get("findings", [])]
        elif self.data:
            from app.processes.flows.technical_data import assess

            self.findings = assess(self.data)
        else:
            self.findings = []
        self._render()

    # rendering --------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Technical data of the gateway"))
        self.empty.setText(self.tr("Run the flow “Read technical data” to see the gateway here."))
        self.findings_box.setTitle(self.tr("Assessment"))
        self.identity_box.setTitle(self.tr("Identity"))
        for caption, label in zip(self._identity_captions,
                                  (self.tr("Vendor:"), self.tr("SMGW ID:"),
                                   self.tr("Interface:"), self.tr("Account:")), strict=True):
            caption.setText(label)
        self.state_box.setTitle(self.tr("Operating state"))
        self._state_captions[0].setText(self.tr("Code:"))
        self._state_captions[1].setText(self.tr("Meaning:"))
        self.clock_box.setTitle(self.tr("Clock"))
        for caption, label in zip(self._clock_captions,
                                  (self.tr("Gateway:"), self.tr("Laptop:"),
                                   self.tr("Deviation:")), strict=True):
            caption.setText(label)
        self.firmware_box.setTitle(self.tr("Firmware"))
        self.firmware.setHorizontalHeaderLabels(
            [self.tr("Component"), self.tr("Version"), self.tr("SHA-256 hash")])
        self.certificates_box.setTitle(self.tr("Certificates"))
        self.certificates.setHorizontalHeaderLabels(
            [self.tr("Certificate"), self.tr("Subject"), self.tr("Valid until"),
             self.tr("SHA-256 fingerprint")])
        self.meters_box.setTitle(self.tr("LMN meters"))
        self.meters.setHorizontalHeaderLabels(
            [self.tr("Server ID"), self.tr("Evaluation profiles"), self.tr("OBIS code"),
             self.tr("Last value")])
        self._render()

    def _render(self) -> None:
        has = bool(self.data)
        self.empty.setVisible(not has)
        self.scroll.setVisible(has)
        if not has:
            return
        d = self.data
        self._render_findings()
        model = f" {d['model']}" if d.get("model") else ""
        self.vendor.setText(f"{str(d.get('vendor', '')).capitalize()}{model}")
        self.smgw_id.setText(str(d.get("smgw_id", "")))
        api = d.get("api_version")
        self.api.setText(self.tr("HAN, API version {0}").format(api) if api else self.tr("HAN"))
        self.account.setText(str(d.get("user") or "–"))
        self.state_code.setText(str(d.get("state", "")))
        words = [text(Text(w["en"], w["de"])) for w in d.get("state_words", [])]
        self.state_words.setText(", ".join(words))
        self.gateway_time.setText(_local(d.get("time")))
        self.laptop_time.setText(_local(d.get("measured_at")))
        offset = float(d.get("clock_offset_seconds", 0.0))
        clock = next((f for f in self.findings if f.topic == "clock"), None)
        self.offset.setText(self.tr("{0} s").format(f"{offset:+.1f}"))
        colour = SEVERITY_COLOURS.get(clock.severity if clock else "ok", "#202124")
        self.offset.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self._render_firmware(d.get("firmware", []))
        self._render_certificates(d.get("certificates", []))
        self._render_meters(d.get("meters", []))

    def _render_findings(self) -> None:
        while self.findings_layout.count():
            item = self.findings_layout.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
        for finding in sorted(self.findings, key=lambda f: order.get(f.severity, 4)):
            label = QLabel(self.findings_box)
            label.setObjectName(f"han-finding-{finding.severity}")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            words = {"ok": self.tr("OK"), "info": self.tr("Note"),
                     "warning": self.tr("Warning"), "error": self.tr("Error")}
            body = f"<b>{words.get(finding.severity, '')}:</b> {_escape(text(finding.message))}"
            if finding.hint is not None:
                body += f"<br/>{_escape(text(finding.hint))}"
            label.setText(body)
            label.setStyleSheet(
                f"QLabel {{ background: {SEVERITY_BACKGROUNDS.get(finding.severity, '#fff')};"
                f" color: {SEVERITY_COLOURS.get(finding.severity, '#202124')};"
                " border-radius: 4px; padding: 4px 6px; }")
            label.setProperty("severity", finding.severity)
            self.findings_layout.addWidget(label)

    def _render_firmware(self, firmware: Sequence[Mapping[str, Any]]) -> None:
        table = self.firmware
        table.setRowCount(len(firmware))
        for row, fw in enumerate(firmware):
            for column, value in enumerate((fw.get("component"), fw.get("version"),
                                            fw.get("hash"))):
                table.setItem(row, column, QTableWidgetItem(str(value or "")))
        _fit_height(table)

    def _render_certificates(self, certificates: Sequence[Mapping[str, Any]]) -> None:
        table = self.certificates
        table.setRowCount(len(certificates))
        now = dt.datetime.now(dt.UTC)
        for row, cert in enumerate(certificates):
            name = role_name(str(cert.get("role")), cert.get("index"))
            state = cert.get("state")
            label = text(name)
            if state == "guetesiegel":
                label += " " + self.tr("(Gütesiegel)")
            elif state == "wirkzertifikat":
                label += " " + self.tr("(operational)")
            fingerprint = format_fingerprint(str(cert.get("sha256", "")))
            half = len(fingerprint) // 2 + 1  # 16 pairs per line: the full value stays visible
            two_lines = fingerprint[:half].rstrip(":") + "\n" + fingerprint[half:]
            items = [QTableWidgetItem(label), QTableWidgetItem(str(cert.get("subject", ""))),
                     QTableWidgetItem(_date(str(cert["not_after"]))),
                     QTableWidgetItem(two_lines)]
            items[1].setToolTip(str(cert.get("subject", "")) + "\n"
                                + self.tr("Issuer: {0}").format(cert.get("issuer", "")))
            items[3].setToolTip(fingerprint)
            days = (dt.datetime.fromisoformat(str(cert["not_after"])) - now).days
            if days < CERT_WARN_DAYS:
                severity = "error" if days < 0 else "warning"
                items[2].setForeground(QColor(SEVERITY_COLOURS[severity]))
                items[2].setToolTip(self.tr("expired") if days < 0
                                    else self.tr("expires in {0} days").format(days))
            items[3].setFont(self._mono)
            for column, item in enumerate(items):
                table.setItem(row, column, item)
        table.resizeRowsToContents()
        _fit_height(table)

    def _render_meters(self, meters: Sequence[Mapping[str, Any]]) -> None:
        rows: list[tuple[str, str, str, str]] = []
        for meter in meters:
            profiles = ", ".join(meter.get("usage_points", []))
            values = meter.get("values", [])
            if not values:
                note = (self.tr("not readable with this account")
                        if not meter.get("values_available", True) else "–")
                rows.append((str(meter.get("server_id")), profiles, "", note))
                continue
            for n, value in enumerate(values):
                shown = f"{value.get('value')} {value.get('unit') or ''}".strip()
                rows.append((str(meter.get("server_id")) if n == 0 else "",
                             profiles if n == 0 else "", str(value.get("obis")), shown))
        table = self.meters
        table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, value in enumerate(cells):
                table.setItem(row, column, QTableWidgetItem(value))
        _fit_height(table)


def _escape(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br/>"))
