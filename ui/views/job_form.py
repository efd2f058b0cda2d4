"""Dialog "Auftrag anlegen": a work order (Arbeitsauftrag) typed in on site.

Non-modal (``show()``/``open()``). The typed fields are checked by the very rules of a work order
file (:meth:`app.store.work_order.WorkOrder.create`, i.e.
:func:`app.store.work_order_check.order_from_document`); every problem is shown on the field at
fault, in the UI language, and nothing typed is lost: Escape, "Cancel" and the window's close
button ask before discarding typed data (:meth:`JobFormDialog.is_modified`). A valid order is
emitted with
:attr:`JobFormDialog.submitted`; whoever stores it answers with :meth:`JobFormDialog.saved` or
:meth:`JobFormDialog.show_error` (e.g. a job number already in the list).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.errors import SmgwctError, Text
from app.store.work_order import MeterRole, PlannedFlow, WorkOrder
from app.store.work_order_check import JobFileError, field_label
from ui.i18n import language, text

MAX_METERS = 16
ERROR_COLOUR = "#c5221f"
PREFERRED_SIZE = QSize(660, 720)
_METER_FIELD = re.compile(r"meters\[(\d+)\]\.(server_id|role|key_ref)")
_STYLE = (f"QLineEdit[invalid=\"true\"], QPlainTextEdit[invalid=\"true\"], "
          f"QComboBox[invalid=\"true\"] {{ border: 2px solid {ERROR_COLOUR}; }}"
          f"QGroupBox[invalid=\"true\"] {{ color: {ERROR_COLOUR}; }}")

#: the single-line fields of the form, by their name in the work order document
LINE_FIELDS = ("job_id", "planned_date", "customer_name", "site.street", "site.postal_code",
               "site.city", "site.location", "smgw_id", "gwa_tenant", "metering_point_id")


def proposed_job_id(now: dt.datetime | None = None) -> str:
    """A job number for a job created on site: date and time, e.g. ``20250301-0930``."""
    return (now or dt.datetime.now()).strftime("%Y%m%d-%H%M")


def _flow_title(flow: PlannedFlow) -> Text:
    from app.processes.flows import by_name  # the flow catalogue, only for its titles

    try:
        return by_name(flow.value).title
    except KeyError:
        return Text(flow.value, flow.value)


def _mark(widget: QWidget, invalid: bool) -> None:
    """Highlight (or no longer highlight) ``widget`` as the field at fault."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _error_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {ERROR_COLOUR};")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


@dataclass(frozen=True)
class FieldProblem:
    """A problem shown in the form: which field (document name) and what is wrong."""

    field: str
    message: Text


class MeterRow(QWidget):
    """One expected meter: server ID, role, key reference; its own error line."""

    remove_requested = Signal(object)

    def __init__(self, parent: QWidget, index: int) -> None:
        super().__init__(parent)
        self.setObjectName(f"meter-row-{index}")
        self.server_id = QLineEdit(self)
        self.server_id.setObjectName("meter-server-id")
        self.server_id.setPlaceholderText(field_label(("meters", 0, "server_id"))[2])
        self.role = QComboBox(self)
        self.role.setObjectName("meter-role")
        for role in MeterRole:
            self.role.addItem(role.value, role.value)
        self.key_ref = QLineEdit(self)
        self.key_ref.setObjectName("meter-key-ref")
        self.remove_button = QPushButton(self)
        self.remove_button.setObjectName("meter-remove")
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self))
        self.error = _error_label(self, "meter-error")
        fields = QHBoxLayout()
        fields.setContentsMargins(0, 0, 0, 0)
        fields.addWidget(self.server_id, 3)
        fields.addWidget(self.role, 2)
        fields.addWidget(self.key_ref, 3)
        fields.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(fields)
        layout.addWidget(self.error)

    def widget_for(self, name: str) -> QWidget:
        return {"server_id": self.server_id, "role": self.role}.get(name, self.key_ref)

    def is_blank(self) -> bool:
        return not self.server_id.text().strip() and not self.key_ref.text().strip()

    def values(self) -> tuple[str, str, str | None]:
        return (self.server_id.text(), str(self.role.currentData()),
                self.key_ref.text() if self.key_ref.text().strip() else None)

    def is_untouched(self) -> bool:
        """Nothing typed or chosen in this row (blank, and the first role as when added)."""
        return self.is_blank() and self.role.currentIndex() == 0

    def retranslate(self) -> None:
        labels = {MeterRole.NEW: self.tr("new (installed)"),
                  MeterRole.OLD: self.tr("old (removed)"),
                  MeterRole.EXISTING: self.tr("existing (kept)")}
        for i, role in enumerate(MeterRole):
            self.role.setItemText(i, labels[role])
        self.server_id.setToolTip(self.tr("Server ID of the meter (printed on the meter)"))
        self.key_ref.setPlaceholderText(self.tr("key reference (optional)"))
        self.key_ref.setToolTip(self.tr(
            "Where the meter's key material is kept, e.g. a file name or key ID - never the key "
            "itself"))
        self.remove_button.setText(self.tr("Remove"))


class JobFormDialog(QDialog):
    """Create a work order from typed fields; checked like an imported work order file."""

    submitted = Signal(object)
    """The checked :class:`~app.store.work_order.WorkOrder` (the dialog stays open until
    :meth:`saved` is called)."""

    def __init__(self, parent: QWidget | None = None, *, job_id: str | None = None,
                 smgw_id: str | None = None, gwa_tenant: str | None = None,
                 today: dt.date | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("job-form")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setStyleSheet(_STYLE)
        self.problems: list[FieldProblem] = []
        self.saving = False
        self.meter_rows: list[MeterRow] = []
        #: the filled meter rows as last checked (problems name meters by this order)
        self.checked_rows: list[MeterRow] = []
        self._meter_count = 0
        #: the question "discard the typed work order?" while it is open
        self.discard_box: QMessageBox | None = None
        self._leaving = False
        self._build()
        self.fields["job_id"].setText(job_id or proposed_job_id())
        self.fields["planned_date"].setText((today or dt.date.today()).isoformat())
        self.fields["smgw_id"].setText(smgw_id or "")
        self.fields["gwa_tenant"].setText(gwa_tenant or "")
        self.flow_boxes[PlannedFlow.HANDOVER].setChecked(True)
        self.add_meter_row()
        self._initial = self._typed()
        self.retranslate()
        self.resize(self.sizeHint())

    # --- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        self.intro = QLabel(self)
        self.intro.setObjectName("job-form-intro")
        self.intro.setWordWrap(True)
        content = QWidget(self)
        content.setObjectName("job-form-content")
        self.fields: dict[str, QLineEdit] = {}
        self.captions: dict[str, QLabel] = {}
        self.errors: dict[str, QLabel] = {}
        self.groups: dict[str, QGroupBox] = {}

        def group(name: str, names: tuple[str, ...]) -> QGroupBox:
            box = QGroupBox(content)
            box.setObjectName(f"job-form-{name}")
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
            for key in names:
                edit = QLineEdit(box)
                edit.setObjectName(f"job-field-{key}")
                edit.setPlaceholderText(field_label(tuple(key.split(".")))[2])
                edit.textEdited.connect(lambda _text, key=key: self.clear_problem(key))
                caption = QLabel(box)
                caption.setBuddy(edit)
                error = _error_label(box, f"job-error-{key}")
                cell = QVBoxLayout()
                cell.setSpacing(2)
                cell.addWidget(edit)
                cell.addWidget(error)
                form.addRow(caption, cell)
                self.fields[key], self.captions[key], self.errors[key] = edit, caption, error
            self.groups[name] = box
            return box

        job_box = group("job", ("job_id", "planned_date", "customer_name"))
        site_box = group("site", ("site.street", "site.postal_code", "site.city",
                                  "site.location"))
        gateway_box = group("gateway", ("smgw_id", "gwa_tenant", "metering_point_id"))

        self.meter_box = QGroupBox(content)
        self.meter_box.setObjectName("job-form-meters")
        self.meter_list = QVBoxLayout()
        self.meter_list.setSpacing(4)
        self.add_meter_button = QPushButton(self.meter_box)
        self.add_meter_button.setObjectName("meter-add")
        self.add_meter_button.clicked.connect(lambda: self._add_meter_clicked())
        self.errors["meters"] = _error_label(self.meter_box, "job-error-meters")
        add_row = QHBoxLayout()
        add_row.addWidget(self.add_meter_button)
        add_row.addStretch(1)
        meters = QVBoxLayout(self.meter_box)
        meters.addLayout(self.meter_list)
        meters.addLayout(add_row)
        meters.addWidget(self.errors["meters"])

        self.flow_box = QGroupBox(content)
        self.flow_box.setObjectName("job-form-flows")
        self.flow_boxes: dict[PlannedFlow, QCheckBox] = {}
        grid = QGridLayout()
        for i, flow in enumerate(PlannedFlow):
            box = QCheckBox(self.flow_box)
            box.setObjectName(f"flow-{flow.value}")
            box.toggled.connect(lambda _on: self.clear_problem("flows"))
            grid.addWidget(box, i // 2, i % 2)
            self.flow_boxes[flow] = box
        self.errors["flows"] = _error_label(self.flow_box, "job-error-flows")
        flows = QVBoxLayout(self.flow_box)
        flows.addLayout(grid)
        flows.addWidget(self.errors["flows"])

        self.notes_box = QGroupBox(content)
        self.notes_box.setObjectName("job-form-notes")
        self.notes = QPlainTextEdit(self.notes_box)
        self.notes.setObjectName("job-field-notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(self.notes.fontMetrics().lineSpacing() * 4 + 12)
        self.notes.textChanged.connect(lambda: self.clear_problem("notes"))
        self.errors["notes"] = _error_label(self.notes_box, "job-error-notes")
        notes = QVBoxLayout(self.notes_box)
        notes.addWidget(self.notes)
        notes.addWidget(self.errors["notes"])

        inner = QVBoxLayout(content)
        for box in (job_box, site_box, gateway_box, self.meter_box, self.flow_box,
                    self.notes_box):
            inner.addWidget(box)
        inner.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setObjectName("job-form-scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)

        self.status = _error_label(self, "job-form-status")
        self.buttons = QDialogButtonBox(self)
        self.create_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setObjectName("job-form-create")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(lambda: self.submit())
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("job-form-cancel")
        self.cancel_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """The preferred size, but never taller than the screen (a small laptop on site)."""
        screen = self.screen()
        if screen is None:
            return PREFERRED_SIZE
        room = screen.availableGeometry().height() - 60
        return QSize(PREFERRED_SIZE.width(), max(400, min(PREFERRED_SIZE.height(), room)))

    # --- meters --------------------------------------------------------------------------------

    def add_meter_row(self) -> MeterRow | None:
        """One more (empty) meter row; at most :data:`MAX_METERS`."""
        if len(self.meter_rows) >= MAX_METERS:
            return None
        self._meter_count += 1
        row = MeterRow(self.meter_box, self._meter_count)
        row.remove_requested.connect(self.remove_meter_row)
        row.server_id.textEdited.connect(lambda _t: self._clear_meter(row))
        row.key_ref.textEdited.connect(lambda _t: self._clear_meter(row))
        row.role.currentIndexChanged.connect(lambda _i: self._clear_meter(row))
        row.retranslate()
        self.meter_list.addWidget(row)
        self.meter_rows.append(row)
        self.add_meter_button.setEnabled(len(self.meter_rows) < MAX_METERS)
        return row

    def _add_meter_clicked(self) -> None:
        row = self.add_meter_row()
        if row is not None:
            row.server_id.setFocus()

    def remove_meter_row(self, row: MeterRow) -> None:
        if row not in self.meter_rows:
            return
        self.meter_rows.remove(row)
        self.meter_list.removeWidget(row)
        row.deleteLater()
        self.add_meter_button.setEnabled(True)
        self._clear_meter(None)

    def _clear_meter(self, row: MeterRow | None) -> None:
        """An edited meter row (``None``: the list) no longer shows its problems."""
        self.problems = [p for p in self.problems
                         if not p.field.startswith("meters") or
                         (row is not None and self._meter_row(p.field) is not row)]
        self._render_problems()

    def _meter_row(self, field: str) -> MeterRow | None:
        match = _METER_FIELD.fullmatch(field)
        if match is None:
            return None
        index = int(match.group(1))
        rows = self.checked_rows
        return rows[index] if index < len(rows) and rows[index] in self.meter_rows else None

    def _filled_rows(self) -> list[MeterRow]:
        """The meter rows that go into the work order (blank rows are left out)."""
        return [row for row in self.meter_rows if not row.is_blank()]

    # --- the work order ------------------------------------------------------------------------

    def value(self, key: str) -> str | None:
        """A line field's text, ``None`` when left empty (optional fields)."""
        typed = self.fields[key].text()
        return typed if typed.strip() else None

    def order(self) -> WorkOrder:
        """The typed work order; :class:`~app.store.work_order_check.JobFileError` names every
        field at fault (the same rules as for a work order file)."""
        self.checked_rows = self._filled_rows()
        flows = [f.value for f, box in self.flow_boxes.items() if box.isChecked()]
        try:
            return self._create(flows)
        except JobFileError as exc:
            if flows:
                raise
            # no flow ticked stops the rules before the fields; check them with one flow too,
            # so that every field at fault is marked at once
            problems = list(exc.problems)
            try:
                self._create([PlannedFlow.HANDOVER.value])
            except JobFileError as more:
                problems += more.problems
            raise JobFileError("", problems) from None

    def _create(self, flows: list[str]) -> WorkOrder:
        return WorkOrder.create(
            job_id=self.fields["job_id"].text(),
            street=self.fields["site.street"].text(),
            postal_code=self.fields["site.postal_code"].text(),
            city=self.fields["site.city"].text(),
            location=self.value("site.location"),
            metering_point_id=self.fields["metering_point_id"].text(),
            customer_name=self.value("customer_name"),
            smgw_id=self.fields["smgw_id"].text(),
            gwa_tenant=self.fields["gwa_tenant"].text(),
            meters=[row.values() for row in self.checked_rows],
            flows=flows,
            planned_date=self.value("planned_date"),
            notes=self.notes.toPlainText() if self.notes.toPlainText().strip() else None,
        )

    def submit(self) -> WorkOrder | None:
        """Check the fields; a valid order is emitted with :attr:`submitted`."""
        if self.saving:
            return None
        try:
            order = self.order()
        except JobFileError as exc:
            self.show_problems([FieldProblem(p.field, p.message) for p in exc.problems])
            return None
        self.show_problems([])
        self._set_saving(True)
        self.submitted.emit(order)
        return order

    def saved(self) -> None:
        """The order was stored: the form is done (nothing to ask)."""
        self._set_saving(False)
        self._leave()

    def show_error(self, error: SmgwctError) -> None:
        """A refusal after checking (e.g. the job number is taken); the typed data stays."""
        self._set_saving(False)
        message = error.message if error.hint is None else Text(
            f"{error.message.en} {error.hint.en}", f"{error.message.de} {error.hint.de}")
        self.show_problems([FieldProblem(error.field or "", message)])

    def _set_saving(self, on: bool) -> None:
        self.saving = on
        self.create_button.setEnabled(not on)
        if on:
            self.status.setStyleSheet("")
            self.status.setText(self.tr("Saving the job…"))
            self.status.show()

    # --- problems on their fields --------------------------------------------------------------

    def show_problems(self, problems: list[FieldProblem]) -> None:
        self.problems = list(problems)
        self._render_problems()
        first = self.problem_widgets()
        if first:
            self.scroll.ensureWidgetVisible(first[0])
            first[0].setFocus()

    def clear_problem(self, key: str) -> None:
        before = len(self.problems)
        self.problems = [p for p in self.problems if self._field_key(p.field) != key]
        if len(self.problems) != before:
            self._render_problems()

    @staticmethod
    def _field_key(field: str) -> str:
        """The form field a problem belongs to (``flows[1]`` is the flow list)."""
        if field.startswith("flows"):
            return "flows"
        if field.startswith("meters") and not _METER_FIELD.fullmatch(field):
            return "meters"
        return field

    def problem_widgets(self) -> list[QWidget]:
        """The input widgets marked as at fault, in the order of the problems."""
        out: list[QWidget] = []
        for problem in self.problems:
            widget = self._widget_for(problem.field)
            if widget is not None and widget not in out:
                out.append(widget)
        return out

    def _widget_for(self, field: str) -> QWidget | None:
        key = self._field_key(field)
        if key in self.fields:
            return self.fields[key]
        if key == "notes":
            return self.notes
        if key == "flows":
            return self.flow_box
        if key == "meters":
            return self.meter_box
        match = _METER_FIELD.fullmatch(field)
        row = self._meter_row(field)
        return row.widget_for(match.group(2)) if row is not None and match else None

    def _render_problems(self) -> None:
        lang = language()
        by_label: dict[QLabel, list[str]] = {}
        marked: set[int] = set()
        general: list[str] = []
        for problem in self.problems:
            key = self._field_key(problem.field)
            message = problem.message.get(lang)
            row = self._meter_row(problem.field)
            label = row.error if row is not None else self.errors.get(key)
            if label is None:
                general.append(f"{problem.field}: {message}" if problem.field else message)
            else:
                by_label.setdefault(label, []).append(message)
            widget = self._widget_for(problem.field)
            if widget is not None:
                marked.add(id(widget))
        for label in [*self.errors.values(), *(r.error for r in self.meter_rows)]:
            lines = by_label.get(label, [])
            label.setText("\n".join(lines))
            label.setVisible(bool(lines))
        targets: list[QWidget] = [*self.fields.values(), self.notes, self.flow_box,
                                  self.meter_box]
        for row in self.meter_rows:
            targets += [row.server_id, row.role, row.key_ref]
        for widget in targets:
            _mark(widget, id(widget) in marked)
        if self.saving:
            return
        self.status.setStyleSheet(f"color: {ERROR_COLOUR};")
        if self.problems:
            count = len(self.problems)
            summary = (self.tr("Please correct the marked entry.") if count == 1 else
                       self.tr("Please correct the {count} marked entries.").format(count=count))
            self.status.setText("\n".join([summary, *general]))
            self.status.show()
        else:
            self.status.clear()
            self.status.hide()

    # --- leaving the form ------------------------------------------------------------------------

    def _typed(self) -> tuple[object, ...]:
        """Everything the technician can type or choose (untouched meter rows left out)."""
        return (tuple(edit.text() for edit in self.fields.values()),
                self.notes.toPlainText(),
                tuple(box.isChecked() for box in self.flow_boxes.values()),
                tuple(row.values() for row in self.meter_rows if not row.is_untouched()))

    def is_modified(self) -> bool:
        """Some field differs from how the form was opened (closing would lose typed data)."""
        return self._typed() != self._initial

    def reject(self) -> None:
        """Escape, "Cancel" and the close button: an unchanged form closes at once; typed data
        is only discarded after the technician confirms it (non-modal question)."""
        if not self._leaving and self.is_modified():
            self.ask_discard()
            return
        self._leave()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self._leaving and self.is_modified():
            event.ignore()
            self.ask_discard()
            return
        self._leaving = True
        super().closeEvent(event)

    def ask_discard(self) -> QMessageBox:
        """"Discard the typed work order?" with open(), never exec(): the answer closes the
        form or keeps it as it is."""
        if self.discard_box is not None:
            self.discard_box.raise_()
            self.discard_box.activateWindow()
            return self.discard_box
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("New work order"),
                          self.tr("Discard the typed work order?"),
                          QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                          self)
        box.setObjectName("job-form-discard")
        box.setInformativeText(self.tr("The entries in this form are not saved yet."))
        box.button(QMessageBox.StandardButton.Discard).setText(self.tr("Discard"))
        box.button(QMessageBox.StandardButton.Cancel).setText(self.tr("Keep editing"))
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button, asked=box: self._discard_answered(asked, button))
        box.destroyed.connect(lambda *_, gone=box: self._forget_discard_box(gone))
        self.discard_box = box
        box.open()
        return box

    def _discard_answered(self, box: QMessageBox, button: QAbstractButton) -> None:
        self._forget_discard_box(box)
        if box.standardButton(button) == QMessageBox.StandardButton.Discard:
            self._leave()

    def _forget_discard_box(self, box: QObject) -> None:
        if self.discard_box is box:
            self.discard_box = None

    def _leave(self) -> None:
        """Close the form for good (also the question, if it is still open)."""
        self._leaving = True
        if self.discard_box is not None:
            box, self.discard_box = self.discard_box, None
            box.close()
        super().reject()
        self.close()

    # --- language ------------------------------------------------------------------------------

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("New work order"))
        self.intro.setText(self.tr(
            "Enter the job as written on the order. The entries are checked like an imported "
            "work order file; fields marked * are required."))
        captions: dict[str, str] = {
            "job_id": self.tr("Job number *"), "planned_date": self.tr("Date"),
            "customer_name": self.tr("Customer"), "site.street": self.tr("Street and no. *"),
            "site.postal_code": self.tr("Postal code *"), "site.city": self.tr("City *"),
            "site.location": self.tr("Location in the building"),
            "smgw_id": self.tr("SMGW ID *"), "gwa_tenant": self.tr("GWA tenant *"),
            "metering_point_id": self.tr("Metering point ID *"),
        }
        for key, caption in captions.items():
            self.captions[key].setText(caption)
            self.captions[key].setMinimumWidth(0)
        width = max(label.sizeHint().width() for label in self.captions.values())
        for label in self.captions.values():  # the fields of all groups start in one column
            label.setMinimumWidth(width)
        self.groups["job"].setTitle(self.tr("Job"))
        self.groups["site"].setTitle(self.tr("Site"))
        self.groups["gateway"].setTitle(self.tr("Gateway and metering point"))
        self.meter_box.setTitle(self.tr("Expected meters"))
        self.add_meter_button.setText(self.tr("Add meter"))
        self.flow_box.setTitle(self.tr("Planned flows *"))
        for flow, box in self.flow_boxes.items():
            box.setText(text(_flow_title(flow)))
            box.setToolTip(flow.value)
        self.notes_box.setTitle(self.tr("Notes"))
        self.notes.setPlaceholderText(self.tr("e.g. where the key to the meter room is"))
        for row in self.meter_rows:
            row.retranslate()
        self.create_button.setText(self.tr("Create job"))
        self.cancel_button.setText(self.tr("Cancel"))
        if self.saving:
            self.status.setText(self.tr("Saving the job…"))
        else:
            self._render_problems()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)


__all__ = ["FieldProblem", "JobFormDialog", "MeterRow", "proposed_job_id"]
