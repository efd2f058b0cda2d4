"""Optical meter readout (Zähler optisch auslesen): port, protocol, live identity and registers.

The view runs :meth:`app.transports.optical.OpticalLink.read` as a task on the running (qasync)
loop and keeps a reference to it; "Stop" and closing the view cancel it, which closes the port.
The link calls back on the loop's thread - the GUI thread - so the widgets are updated directly.
Nothing here blocks the GUI thread: serial I/O runs in the link's worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

import shiboken6
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import SmgwctError, Text
from app.transports.optical import OpticalLink, OpticalSnapshot, public_key_fingerprint
from app.transports.serial_ports import list_ports
from ui.i18n import language, text

#: registers that belong to the identity card, not to the register table
_IDENTITY_OBIS = frozenset(
    {"8181c78203ff", "0100000009ff", "8181c78205ff", "0100600100ff", "010060320101",
     "0100000000ff"}
)
_PROTOCOLS = ("auto", "sml", "iec")

log = logging.getLogger(__name__)


def _format_value(value: Decimal | None, raw: object) -> str:
    if value is not None:
        return f"{value:f}"
    shown = raw.hex() if isinstance(raw, bytes) else str(raw)
    return shown if len(shown) <= 32 else shown[:29] + "…"


def _fingerprint_display(key: bytes) -> str:
    fp = public_key_fingerprint(key).upper()
    pairs = [fp[i : i + 2] for i in range(0, len(fp), 2)]
    return ":".join(pairs[:16]) + "\n" + ":".join(pairs[16:])


class OpticalReadView(QWidget):
    """Read a meter through the optical read head: live identity card, registers, counters."""

    snapshot_received = Signal(object)
    """Every :class:`~app.transports.optical.OpticalSnapshot` while reading."""
    running_changed = Signal(bool)
    """Reading started (``True``) or ended (``False``; see :attr:`error` for why)."""

    def __init__(self, parent: QWidget | None = None, *, default_port: str | None = None,
                 default_protocol: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("optical-read-view")
        self.snapshot: OpticalSnapshot | None = None
        self._task: asyncio.Task[None] | None = None
        self._status: Text | None = None
        self._error: SmgwctError | None = None
        self._stopped_by_user = False

        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)

        # connection row
        self.port_label = QLabel(self)
        self.port_combo = QComboBox(self)
        self.port_combo.setObjectName("optical-port")
        self.port_combo.setEditable(True)
        self.port_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.port_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.port_combo.setMinimumContentsLength(24)
        self.port_label.setBuddy(self.port_combo)
        self.refresh_button = QPushButton(self)
        self.refresh_button.setObjectName("optical-refresh")
        self.refresh_button.clicked.connect(self.refresh_ports)
        self.protocol_label = QLabel(self)
        self.protocol_combo = QComboBox(self)
        self.protocol_combo.setObjectName("optical-protocol")
        self.protocol_label.setBuddy(self.protocol_combo)
        for key in _PROTOCOLS:
            self.protocol_combo.addItem("", key)
        self.start_button = QPushButton(self)
        self.start_button.setObjectName("optical-start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton(self)
        self.stop_button.setObjectName("optical-stop")
        self.stop_button.clicked.connect(self.stop)
        connection = QHBoxLayout()
        connection.addWidget(self.port_label)
        connection.addWidget(self.port_combo, 1)
        connection.addWidget(self.refresh_button)
        connection.addSpacing(12)
        connection.addWidget(self.protocol_label)
        connection.addWidget(self.protocol_combo)
        connection.addSpacing(12)
        connection.addWidget(self.start_button)
        connection.addWidget(self.stop_button)

        # identity card
        self.identity_box = QGroupBox(self)
        self.identity_box.setObjectName("optical-identity")
        self.identity_box.setProperty("card", True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.server_id_text = self._value_label("server-id-text")
        self.server_id_hex = self._value_label("server-id-hex", mono)
        self.manufacturer = self._value_label("manufacturer")
        self.fingerprint = self._value_label("key-fingerprint", mono)
        self.line = self._value_label("line")
        self._captions = [QLabel(self.identity_box) for _ in range(5)]
        form = QFormLayout(self.identity_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for caption, value in zip(
            self._captions,
            (self.server_id_text, self.server_id_hex, self.manufacturer, self.fingerprint,
             self.line),
            strict=True,
        ):
            form.addRow(caption, value)

        # registers
        self.registers = QTableWidget(0, 4, self)
        self.registers.setObjectName("optical-registers")
        self.registers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.registers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.registers.verticalHeader().setVisible(False)
        header = self.registers.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)

        # counters, hint, copy
        self.counters = QLabel(self)
        self.counters.setObjectName("optical-counters")
        self.hint = QLabel(self)
        self.hint.setObjectName("optical-hint")
        self.hint.setWordWrap(True)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton(self)
        self.copy_button.setObjectName("optical-copy")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counters, 1)
        bottom.addWidget(self.copy_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(connection)
        layout.addWidget(self.identity_box)
        layout.addWidget(self.registers, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.hint)

        self.refresh_ports()
        if default_port:
            self.set_port(default_port)
        if default_protocol in _PROTOCOLS:
            self.set_protocol(default_protocol)
        self.port_combo.editTextChanged.connect(self._port_edited)
        self.retranslate()
        self._render()

    def _value_label(self, name: str, font: object = None) -> QLabel:
        label = QLabel(self.identity_box)
        label.setObjectName(f"optical-{name}")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if font is not None:
            label.setFont(font)  # type: ignore[arg-type]
        return label

    # port and protocol ------------------------------------------------------------------------

    @property
    def port(self) -> str:
        """The port or URL to read: the picked entry's device, or what was typed."""
        typed = self.port_combo.currentText().strip()
        index = self.port_combo.findText(typed)
        if index >= 0 and self.port_combo.itemData(index):
            return str(self.port_combo.itemData(index))
        return typed

    def set_port(self, port: str) -> None:
        index = self.port_combo.findData(port)
        if index >= 0:
            self.port_combo.setCurrentIndex(index)
        else:
            self.port_combo.setEditText(port)

    def _port_edited(self, _text: str) -> None:
        if not self.running:
            self._render_hint()

    @property
    def protocol(self) -> str:
        return str(self.protocol_combo.currentData())

    def set_protocol(self, protocol: str) -> None:
        self.protocol_combo.setCurrentIndex(_PROTOCOLS.index(protocol))

    def refresh_ports(self) -> None:
        """List the serial ports again (likely read heads first); keeps a typed URL."""
        current = self.port_combo.currentText()
        self.port_combo.clear()
        try:
            ports = list_ports()
        except Exception:  # noqa: BLE001 - a broken driver must not break the view
            ports = []
        for info in ports:
            self.port_combo.addItem(info.label(), info.device)
            if info.likely_read_head:
                self.port_combo.setItemData(
                    self.port_combo.count() - 1, self.tr("likely a read head"),
                    Qt.ItemDataRole.ToolTipRole,
                )
        if current:
            self.set_port(current)

    # reading ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def error(self) -> SmgwctError | None:
        """Why the last reading ended, when it failed (``None`` while reading or after Stop)."""
        return self._error

    @property
    def stopped_by_user(self) -> bool:
        """The last reading ended because the technician pressed Stop or closed the view."""
        return self._stopped_by_user

    def start(self) -> None:
        """Start reading on the running event loop (live, until stopped)."""
        if self.running:
            return
        port = self.port
        self.snapshot = None
        self._error = None
        self._stopped_by_user = False
        if not port:
            self._status = Text("Choose a port or enter a URL such as socket://127.0.0.1:7001.",
                                "Anschluss wählen oder URL wie socket://127.0.0.1:7001 "
                                "eingeben.")
            self._render()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called before the loop runs (tests, start-up)
            loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._read(port, self.protocol))
        self._task.add_done_callback(self._finished)
        self._render()
        self.running_changed.emit(True)

    def stop(self) -> None:
        """Cancel the reading; the link closes the port."""
        if self.running and self._task is not None:
            self._stopped_by_user = True
            self._task.cancel()

    async def shutdown(self) -> None:
        """Stop reading and wait until the port is closed (the window calls this on close)."""
        self.stop()
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        """Wait until the reading task has ended (after :meth:`stop` or an error)."""
        task = self._task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)
        await asyncio.sleep(0)  # let the task's done callback run

    async def _read(self, port: str, protocol: str) -> None:
        link = OpticalLink(port)
        try:
            await link.read(protocol, None, self._on_snapshot,  # type: ignore[arg-type]
                            on_status=self._on_status)
        except SmgwctError as exc:
            # keep the message, not the frames: a traceback would tie this widget into a
            # reference cycle that the garbage collector may free on another thread
            exc.__traceback__ = None
            exc.__context__ = None
            self._error = exc
        except asyncio.CancelledError:
            pass  # stopped by the technician or by closing the view

    def _on_snapshot(self, snapshot: OpticalSnapshot) -> None:
        self.snapshot = snapshot
        self._render()
        self.snapshot_received.emit(snapshot)

    def _on_status(self, status: Text) -> None:
        self._status = status
        self._render_hint()

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task is self._task:
            self._task = None  # no reference from the widget to the finished task
        if not task.cancelled() and task.exception() is not None:
            log.error("optical reading failed", exc_info=task.exception())
        if not shiboken6.isValid(self):  # the view was deleted while the task ended
            return
        if self._stopped_by_user:
            self._status = Text("Reading stopped.", "Auslesen beendet.")
        self._render()
        self.running_changed.emit(False)

    # output -----------------------------------------------------------------------------------

    def report_text(self) -> str:
        """Identity, registers and counters as plain text (what "Copy" puts on the clipboard)."""
        from app.cli.meter import render_text

        if self.snapshot is None:
            return ""
        return render_text(self.snapshot.to_json_dict(), language(), status=self.snapshot.status)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())

    def _render(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.port_combo.setEnabled(not running)
        self.refresh_button.setEnabled(not running)
        self.protocol_combo.setEnabled(not running)
        self.copy_button.setEnabled(self.snapshot is not None)
        self._render_identity()
        self._render_registers()
        self._render_counters()
        self._render_hint()

    def _render_identity(self) -> None:
        dash = "–"
        snap = self.snapshot
        ident = snap.identity if snap is not None else None
        sid = ident.server_id if ident is not None else None
        self.server_id_text.setText(sid.display if sid is not None else dash)
        self.server_id_hex.setText(sid.hex if sid is not None else dash)
        self.manufacturer.setText(ident.manufacturer or dash if ident is not None else dash)
        key = ident.public_key if ident is not None else None
        self.fingerprint.setText(_fingerprint_display(key) if key else dash)
        if snap is not None and snap.status.protocol:
            proto = "SML" if snap.status.protocol == "sml" else "IEC 62056-21"
            self.line.setText(f"{proto}, {snap.status.settings}")
        else:
            self.line.setText(dash)

    def _render_registers(self) -> None:
        snap = self.snapshot
        rows = [] if snap is None else [
            r for r in snap.readings if r.obis.hex not in _IDENTITY_OBIS
        ]
        self.registers.setRowCount(len(rows))
        lang = language()
        for row, reading in enumerate(rows):
            name = reading.obis.name.get(lang) if reading.obis.name else ""
            cells = (
                reading.obis.notation,
                name,
                _format_value(reading.value, reading.raw),
                reading.unit or "",
            )
            for column, value in enumerate(cells):
                item = self.registers.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    self.registers.setItem(row, column, item)
                item.setText(value)
                if column == 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )

    def _render_counters(self) -> None:
        status = self.snapshot.status if self.snapshot is not None else None
        frames = status.frames if status else 0
        ok = status.frames_ok if status else 0
        errors = status.frame_errors if status else 0
        noise = status.garbage_bytes if status else 0
        self.counters.setText(
            self.tr("Telegrams: {0}   valid: {1}   damaged: {2}   noise bytes: {3}").format(
                frames, ok, errors, noise
            )
        )
        self.counters.setStyleSheet("color: #a50e0e;" if errors or noise else "")

    def _render_hint(self) -> None:
        hint: Text | None = None
        colour = "#3c4043"
        if self._error is not None:
            self.hint.setText(self._error.describe(language()))
            self.hint.setStyleSheet("color: #a50e0e;")
            return
        if self.snapshot is not None and self.snapshot.status.hint is not None:
            hint = self.snapshot.status.hint
            colour = "#a50e0e" if self.snapshot.status.noisy else "#7a4100"
        elif self.snapshot is not None and self.running:
            self.hint.setText(self.tr("Reading live: the values update with every telegram."))
            self.hint.setStyleSheet("color: #0d652d;")
            return
        elif self._status is not None:
            hint = self._status
        if hint is None and not self.port:
            self.hint.setText(self.tr("No read head port is set up. Connect the read head and "
                                      "press Refresh, or enter a URL such as "
                                      "socket://127.0.0.1:7001."))
        elif hint is None:
            self.hint.setText(self.tr("Put the read head on the meter's optical interface and "
                                      "press Start."))
        else:
            self.hint.setText(text(hint))
        self.hint.setStyleSheet(f"color: {colour};")

    # language and lifecycle -------------------------------------------------------------------

    def retranslate(self) -> None:
        self.title.setText(self.tr("Read meter optically"))
        self.port_label.setText(self.tr("&Port:"))
        self.port_combo.setToolTip(
            self.tr("Serial port of the read head, or a URL such as socket://127.0.0.1:7001")
        )
        self.refresh_button.setText(self.tr("Refresh"))
        self.refresh_button.setToolTip(self.tr("List the serial ports again"))
        self.protocol_label.setText(self.tr("P&rotocol:"))
        for index, label in enumerate(
            (self.tr("Automatic"), self.tr("SML (9600 Bd)"), self.tr("IEC 62056-21"))
        ):
            self.protocol_combo.setItemText(index, label)
        self.start_button.setText(self.tr("Start"))
        self.stop_button.setText(self.tr("Stop"))
        self.identity_box.setTitle(self.tr("Meter identity"))
        for caption, label in zip(
            self._captions,
            (self.tr("Server ID:"), self.tr("Server ID (hex):"), self.tr("Manufacturer:"),
             self.tr("Public key (SHA-256):"), self.tr("Protocol:")),
            strict=True,
        ):
            caption.setText(label)
        self.registers.setHorizontalHeaderLabels(
            [self.tr("OBIS code"), self.tr("Description"), self.tr("Value"), self.tr("Unit")]
        )
        self.copy_button.setText(self.tr("Copy to clipboard"))
        self._render()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.stop()
        super().closeEvent(event)
