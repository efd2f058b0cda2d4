"""Gateway logs (Logs abfragen): the result of the flow ``logs`` as a searchable, paged table.

Self-contained: give it a finished run (:meth:`HanLogsView.show_result`, which loads the
snapshots the flow stored) or snapshots (:meth:`HanLogsView.set_snapshots`). The technician
switches between system and consumer log, narrows by time and index range, searches, pages
through the entries and exports what is shown (filtered) as CSV or XML. Exports run in a worker
thread (XSD validation of a large log takes a moment); the file name comes from a save dialog.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.errors import SmgwctError
from app.report.log_export import LogFilter, LogSnapshot, export
from app.transports.han.base import LogEntry, LogKind
from ui.i18n import language, text

log = logging.getLogger(__name__)

PAGE_SIZE = 200
_LEVEL_COLOURS = {2: "#b06000", 3: "#c5221f", 4: "#a50e0e"}

AnyIndex = QModelIndex | QPersistentModelIndex


def _time_text(moment: dt.datetime) -> str:
    local = moment.astimezone()
    return local.strftime("%d.%m.%Y %H:%M:%S" if language() == "de" else "%Y-%m-%d %H:%M:%S")


class LogTableModel(QAbstractTableModel):
    """One page of log entries: index, time, level, event, subject, message."""

    INDEX, TIME, LEVEL, EVENT, SUBJECT, MESSAGE = range(6)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[LogEntry] = []
        self.headers: list[str] = [""] * 6

    def set_entries(self, entries: Sequence[LogEntry]) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def set_headers(self, headers: list[str]) -> None:
        self.headers = headers
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(headers) - 1)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else 6

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.INDEX:
                return str(entry.index)
            if column == self.TIME:
                return _time_text(entry.time)
            if column == self.LEVEL:
                return text(entry.level_text)
            if column == self.EVENT:
                sub = f".{entry.event_sub_id}" if entry.event_sub_id not in (None, "", "0") \
                    else ""
                return f"{entry.event_id or ''}{sub}"
            if column == self.SUBJECT:
                return entry.subject or entry.user or ""
            return entry.message.replace("\n", " ⏎ ")
        if role == Qt.ItemDataRole.ToolTipRole and column == self.MESSAGE:
            return entry.message
        if role == Qt.ItemDataRole.ToolTipRole and column == self.TIME:
            return entry.time.isoformat()
        if role == Qt.ItemDataRole.ForegroundRole and entry.level in _LEVEL_COLOURS \
                and column in (self.LEVEL, self.MESSAGE):
            return QColor(_LEVEL_COLOURS[entry.level])
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.INDEX:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class HanLogsView(QWidget):
    """System and consumer log with filters, search, paging and export."""

    exported = Signal(str)
    """The path of a finished export."""

    def __init__(self, parent: QWidget | None = None, *,
                 save_path: Callable[[str], str | None] | None = None) -> None:
        """``save_path(fmt)``: where to export (default: a save dialog); ``None`` cancels."""
        super().__init__(parent)
        self.setObjectName("han-logs-view")
        self.snapshots: dict[LogKind, LogSnapshot] = {}
        self.filtered: list[LogEntry] = []
        self.page = 0
        self._save_path = save_path
        self.save_dialog: QFileDialog | None = None
        self._status: tuple[str, tuple[Any, ...]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)

        # kind and search
        self.kind_label = QLabel(self)
        self.kind_combo = QComboBox(self)
        self.kind_combo.setObjectName("han-log-kind")
        self.kind_label.setBuddy(self.kind_combo)
        for kind in LogKind:
            self.kind_combo.addItem("", kind.value)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self.search = QLineEdit(self)
        self.search.setObjectName("han-log-search")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_filter)
        top = QHBoxLayout()
        top.addWidget(self.kind_label)
        top.addWidget(self.kind_combo)
        top.addSpacing(12)
        top.addWidget(self.search, 1)

        # filters
        self.from_check = QCheckBox(self)
        self.from_check.setObjectName("han-log-from-enabled")
        self.from_edit = self._datetime_edit("han-log-from")
        self.to_check = QCheckBox(self)
        self.to_check.setObjectName("han-log-to-enabled")
        self.to_edit = self._datetime_edit("han-log-to")
        self.index_label = QLabel(self)
        self.index_from = self._index_spin("han-log-index-from")
        self.index_dash = QLabel("–", self)
        self.index_to = self._index_spin("han-log-index-to")
        self.reset_button = QPushButton(self)
        self.reset_button.setObjectName("han-log-reset")
        self.reset_button.clicked.connect(self.reset_filter)
        for widget in (self.from_check, self.to_check):
            widget.toggled.connect(self.apply_filter)
        for edit in (self.from_edit, self.to_edit):
            edit.dateTimeChanged.connect(self.apply_filter)
        filters = QHBoxLayout()
        filters.addWidget(self.from_check)
        filters.addWidget(self.from_edit)
        filters.addSpacing(8)
        filters.addWidget(self.to_check)
        filters.addWidget(self.to_edit)
        filters.addSpacing(12)
        filters.addWidget(self.index_label)
        filters.addWidget(self.index_from)
        filters.addWidget(self.index_dash)
        filters.addWidget(self.index_to)
        filters.addStretch(1)
        filters.addWidget(self.reset_button)

        # table
        self.model = LogTableModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("han-log-table")
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        for column in range(5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LogTableModel.MESSAGE, QHeaderView.ResizeMode.Stretch)

        # paging and export
        self.prev_button = QPushButton(self)
        self.prev_button.setObjectName("han-log-prev")
        self.prev_button.clicked.connect(lambda: self.go_to_page(self.page - 1))
        self.page_label = QLabel(self)
        self.page_label.setObjectName("han-log-page")
        self.next_button = QPushButton(self)
        self.next_button.setObjectName("han-log-next")
        self.next_button.clicked.connect(lambda: self.go_to_page(self.page + 1))
        self.csv_button = QPushButton(self)
        self.csv_button.setObjectName("han-log-export-csv")
        self.csv_button.clicked.connect(lambda: self.start_export("csv"))
        self.xml_button = QPushButton(self)
        self.xml_button.setObjectName("han-log-export-xml")
        self.xml_button.clicked.connect(lambda: self.start_export("xml"))
        bottom = QHBoxLayout()
        bottom.addWidget(self.prev_button)
        bottom.addWidget(self.page_label)
        bottom.addWidget(self.next_button)
        bottom.addStretch(1)
        bottom.addWidget(self.csv_button)
        bottom.addWidget(self.xml_button)

        self.status = QLabel(self)
        self.status.setObjectName("han-log-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.status)
        self.retranslate()
        self._render()

    def _datetime_edit(self, name: str) -> QDateTimeEdit:
        edit = QDateTimeEdit(self)
        edit.setObjectName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("dd.MM.yyyy HH:mm:ss")
        edit.setDateTime(QDateTime.currentDateTime())
        return edit

    def _index_spin(self, name: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setObjectName(name)
        spin.setRange(0, 2_000_000_000)
        spin.setSpecialValueText("–")  # 0: no limit
        spin.setMinimumWidth(90)
        spin.valueChanged.connect(self.apply_filter)
        return spin

    # data -------------------------------------------------------------------------------------

    def show_result(self, result: Any) -> None:
        """Load the logs of a finished ``logs`` run (RunResult or its ``results``)."""
        from app.processes.flows.logs import snapshots

        results = getattr(result, "results", result) or {}
        try:
            self.set_snapshots(snapshots(results))
        except SmgwctError as exc:
            self.set_snapshots([])
            self._set_status(exc.describe(language()))

    def set_snapshots(self, snapshots: Iterable[LogSnapshot]) -> None:
        self.snapshots = {s.kind: s for s in snapshots}
        model = self.kind_combo.model()
        for row in range(self.kind_combo.count()):
            kind = LogKind(self.kind_combo.itemData(row))
            item = model.item(row) if hasattr(model, "item") else None
            if item is not None:
                item.setEnabled(kind in self.snapshots)
        first = next((k for k in LogKind if k in self.snapshots), None)
        if first is not None:
            self.kind_combo.blockSignals(True)
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(first.value))
            self.kind_combo.blockSignals(False)
        self._preset_filters()
        self.apply_filter()

    @property
    def kind(self) -> LogKind:
        return LogKind(self.kind_combo.currentData())

    def set_kind(self, kind: LogKind | str) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(LogKind(kind).value))

    @property
    def entries(self) -> list[LogEntry]:
        snapshot = self.snapshots.get(self.kind)
        return list(snapshot.entries) if snapshot else []

    def _kind_changed(self) -> None:
        self._preset_filters()
        self.apply_filter()

    def _preset_filters(self) -> None:
        """Time edits span the current log; the filters start switched off."""
        entries = self.entries
        for widget in (self.from_check, self.to_check, self.from_edit, self.to_edit,
                       self.index_from, self.index_to):
            widget.blockSignals(True)
        self.from_check.setChecked(False)
        self.to_check.setChecked(False)
        self.index_from.setValue(0)
        self.index_to.setValue(0)
        if entries:
            self.from_edit.setDateTime(QDateTime(entries[0].time.astimezone()))
            self.to_edit.setDateTime(QDateTime(entries[-1].time.astimezone()))
        for widget in (self.from_check, self.to_check, self.from_edit, self.to_edit,
                       self.index_from, self.index_to):
            widget.blockSignals(False)

    def current_filter(self) -> LogFilter:
        def moment(edit: QDateTimeEdit) -> dt.datetime:
            return edit.dateTime().toPython().astimezone()  # type: ignore[union-attr]

        return LogFilter(
            since=moment(self.from_edit) if self.from_check.isChecked() else None,
            until=moment(self.to_edit) if self.to_check.isChecked() else None,
            from_index=self.index_from.value() or None,
            to_index=self.index_to.value() or None,
            text=self.search.text().strip(),
        )

    def apply_filter(self) -> None:
        self.from_edit.setEnabled(self.from_check.isChecked())
        self.to_edit.setEnabled(self.to_check.isChecked())
        self.filtered = self.current_filter().apply(self.entries)
        self.page = 0
        self._render()

    def reset_filter(self) -> None:
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._preset_filters()
        self.apply_filter()

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.filtered) // PAGE_SIZE))

    def go_to_page(self, page: int) -> None:
        self.page = min(max(0, page), self.page_count - 1)
        self._render()

    # export -----------------------------------------------------------------------------------

    def ask_path(self, fmt: str) -> QFileDialog:
        """A non-modal save dialog; choosing a file starts the export."""
        if self.save_dialog is not None:
            self.save_dialog.close()
        snapshot = self.snapshots.get(self.kind)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
        name = f"{(snapshot.smgw_id if snapshot else None) or 'smgw'}-{self.kind.value}-" \
               f"{stamp}.{fmt}"
        caption = self.tr("Export the log as CSV") if fmt == "csv" else \
            self.tr("Export the log as XML")
        pattern = self.tr("CSV for Excel (*.csv)") if fmt == "csv" else self.tr("XML (*.xml)")
        dialog = QFileDialog(self, caption, name, pattern)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(fmt)
        dialog.fileSelected.connect(lambda path: self._export_in_task(path, fmt))
        dialog.finished.connect(lambda _result: self._save_dialog_closed(dialog))
        self.save_dialog = dialog
        dialog.open()
        return dialog

    def _save_dialog_closed(self, dialog: QFileDialog) -> None:
        if self.save_dialog is dialog:
            self.save_dialog = None
        dialog.deleteLater()

    def start_export(self, fmt: str) -> asyncio.Task[Path | None] | None:
        """Export the filtered entries in a worker thread: to ``save_path(fmt)`` when the view
        was given one (returns the task), else after the technician chose a file in a
        non-modal save dialog (returns ``None``; the export starts from the dialog)."""
        if self._save_path is None:
            self.ask_path(fmt)
            return None
        path = self._save_path(fmt)
        return self._export_in_task(path, fmt) if path else None

    def _export_in_task(self, path: str, fmt: str) -> asyncio.Task[Path | None]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        task = loop.create_task(self.export_to(path, fmt))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def export_to(self, path: str | Path, fmt: str) -> Path | None:
        """Export what the table shows (all pages, filtered) to ``path``."""
        entries = list(self.filtered)
        snapshot = self.snapshots.get(self.kind)
        source = snapshot.source if snapshot else None
        log_filter = self.current_filter()
        self.csv_button.setEnabled(False)
        self.xml_button.setEnabled(False)
        self._set_status(self.tr("Exporting {0} entries…"), len(entries))
        try:
            target = await asyncio.to_thread(export, entries, path, fmt, lang=language(),
                                             source=source, log_filter=log_filter)
        except SmgwctError as exc:
            self._set_status(exc.describe(language()))
            return None
        finally:
            with contextlib.suppress(RuntimeError):  # the view may be gone
                self.csv_button.setEnabled(bool(self.filtered))
                self.xml_button.setEnabled(bool(self.filtered))
        self._set_status(self.tr("{0} entries exported to {1}"), len(entries), str(target))
        self.exported.emit(str(target))
        return target

    def _set_status(self, message: str, *args: Any) -> None:
        self._status = (message, args)
        self.status.setText(message.format(*args) if args else message)

    # rendering --------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Gateway logs"))
        self.kind_label.setText(self.tr("&Log:"))
        for row, label in enumerate((self.tr("System log (service technician)"),
                                     self.tr("Consumer log"))):
            self.kind_combo.setItemText(row, label)
        self.search.setPlaceholderText(self.tr("Search message, event, subject…"))
        self.from_check.setText(self.tr("From"))
        self.to_check.setText(self.tr("To"))
        self.index_label.setText(self.tr("Index:"))
        self.reset_button.setText(self.tr("Reset filter"))
        self.prev_button.setText(self.tr("◀ Previous"))
        self.next_button.setText(self.tr("Next ▶"))
        self.csv_button.setText(self.tr("Export CSV…"))
        self.csv_button.setToolTip(self.tr("UTF-8 with BOM and semicolons, for German Excel"))
        self.xml_button.setText(self.tr("Export XML…"))
        self.xml_button.setToolTip(self.tr("XML checked against log-export.xsd"))
        self.model.set_headers([self.tr("Index"), self.tr("Time"), self.tr("Level"),
                                self.tr("Event"), self.tr("Subject / user"),
                                self.tr("Message")])
        self._render()

    def _render(self) -> None:
        start = self.page * PAGE_SIZE
        self.model.set_entries(self.filtered[start:start + PAGE_SIZE])
        total, shown = len(self.entries), len(self.filtered)
        if not self.snapshots:
            self.page_label.setText(self.tr("No log loaded: run the flow “Read logs”."))
        else:
            self.page_label.setText(
                self.tr("Page {0} of {1} · {2} of {3} entries").format(
                    self.page + 1, self.page_count, shown, total))
        self.prev_button.setEnabled(self.page > 0)
        self.next_button.setEnabled(self.page + 1 < self.page_count)
        self.csv_button.setEnabled(bool(self.filtered))
        self.xml_button.setEnabled(bool(self.filtered))
        if self._status is not None:
            message, args = self._status
            self.status.setText(message.format(*args) if args else message)
        elif self.snapshots.get(self.kind) is not None:
            snap = self.snapshots[self.kind]
            self.status.setText(self.tr("{0}, read {1}").format(
                snap.smgw_id or "", _time_text(snap.fetched_at)))
