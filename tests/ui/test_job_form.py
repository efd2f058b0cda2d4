"""The form "Auftrag anlegen" and photos of a job in the "Aufträge" tab."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QLineEdit, QMessageBox

from app.resources import resource_path
from app.store.jobs import DB_FILE, FILES_DIR, WorkOrderStore, read_work_order
from app.store.photos import MAX_CAPTION, check_photo, image_kind
from app.store.work_order import PlannedFlow
from app.store.work_order_check import JobFileError
from app.workbench import store_folder
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import clipped_widgets, wait_until
from ui.views.job_form import JobFormDialog, proposed_job_id
from ui.views.jobs import JobsPanel
from ui.views.main_window import JOBS_TOOL, MainWindow

DEMO_JOBS = resource_path("demo", "jobs")

TYPED = {
    "job_id": "VO-2025-0042",
    "site.street": "Kellerweg 3",
    "site.postal_code": "54321",
    "site.city": "Beispielstadt",
    "site.location": "Keller, Zählerschrank 2",
    "smgw_id": "EDEM0100000001",
    "gwa_tenant": "demo-gwa",
    "metering_point_id": "DE0001234512345000000000000000001",
    "customer_name": "Max Muster",
    "planned_date": "2025-03-04",
}


def _fill(form: JobFormDialog, values: dict[str, str] | None = None,
          meters: list[tuple[str, str, str]] | None = None) -> None:
    for key, value in (values or TYPED).items():
        form.fields[key].setText(value)
    wanted = meters if meters is not None else [("1EMH0012345678", "new", "demo:M-1")]
    while len(form.meter_rows) < len(wanted):
        form.add_meter_row()
    for row, (server_id, role, key_ref) in zip(form.meter_rows, wanted, strict=False):
        row.server_id.setText(server_id)
        row.role.setCurrentIndex(row.role.findData(role))
        row.key_ref.setText(key_ref)


def _panel(window: MainWindow) -> JobsPanel:
    return window.jobs


def _png(path: Path) -> Path:
    image = QImage(64, 48, QImage.Format.Format_RGB32)
    image.fill(QColor("#4a90d9"))
    assert image.save(str(path), "PNG")
    return path


# --- the form on its own ----------------------------------------------------------------------


def test_form_defaults(qtbot):
    form = JobFormDialog(smgw_id="EDEM0100000001")
    qtbot.addWidget(form)
    form.show()
    assert not form.isModal()
    assert form.fields["job_id"].text() == proposed_job_id()
    assert form.fields["smgw_id"].text() == "EDEM0100000001"
    assert [f for f, box in form.flow_boxes.items() if box.isChecked()] == ["handover"]
    assert len(form.meter_rows) == 1
    # an empty meter row is left out, not refused
    _fill(form, meters=[])
    order = form.order()
    assert order.meters == () and [f.value for f in order.flows] == ["handover"]


def test_form_checks_like_a_file_and_keeps_the_typed_data(qtbot, tmp_path):
    """A bad SMGW ID and a bad server ID are refused with the same words as in a file, on
    their fields; nothing typed is lost, and an edit clears only that field's mark."""
    form = JobFormDialog()
    qtbot.addWidget(form)
    form.show()
    values = dict(TYPED, smgw_id="EDEM01XX")
    _fill(form, values, [("1EMH0012345678", "new", ""), ("1EMH00123", "old", "demo:M-2")])
    form.flow_boxes["meter_change"].setChecked(True)
    emitted: list[Any] = []
    form.submitted.connect(emitted.append)
    form.create_button.click()
    assert emitted == []
    assert form.isVisible()

    # the same document as a file gives the same messages
    doc = {"version": 1, "job_id": values["job_id"],
           "site": {"street": values["site.street"], "postal_code": values["site.postal_code"],
                    "city": values["site.city"], "location": values["site.location"]},
           "metering_point_id": values["metering_point_id"],
           "customer_name": values["customer_name"], "smgw_id": values["smgw_id"],
           "gwa_tenant": values["gwa_tenant"],
           "meters": [{"server_id": "1EMH0012345678", "role": "new"},
                      {"server_id": "1EMH00123", "role": "old", "key_ref": "demo:M-2"}],
           "flows": ["handover", "meter_change"], "planned_date": values["planned_date"]}
    file = tmp_path / "typed.json"
    file.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(JobFileError) as refused:
        read_work_order(file)
    from_file = {p.field: p.message.de for p in refused.value.problems}
    assert set(from_file) == {"smgw_id", "meters[1].server_id"}
    shown = {p.field: p.message.de for p in form.problems}
    assert shown == from_file

    smgw = form.fields["smgw_id"]
    assert smgw.property("invalid") is True
    assert form.errors["smgw_id"].isVisibleTo(form)
    assert form.errors["smgw_id"].text() == from_file["smgw_id"]
    assert "EDEM01XX" in form.errors["smgw_id"].text()
    bad_meter = form.meter_rows[1]
    assert bad_meter.server_id.property("invalid") is True
    assert bad_meter.error.text() == from_file["meters[1].server_id"]
    assert form.meter_rows[0].server_id.property("invalid") is not True
    assert form.fields["job_id"].property("invalid") is not True
    assert form.problem_widgets() == [smgw, bad_meter.server_id]
    assert "2" in form.status.text()
    # nothing typed is lost
    assert {k: form.fields[k].text() for k in values} == values
    assert bad_meter.server_id.text() == "1EMH00123"
    assert form.flow_boxes["meter_change"].isChecked()

    # correcting the SMGW ID clears its mark, the meter stays marked
    qtbot.keyClicks(smgw, "9")
    assert smgw.property("invalid") is not True
    assert not form.errors["smgw_id"].isVisibleTo(form)
    assert bad_meter.server_id.property("invalid") is True
    smgw.setText("EDEM0100000001")
    bad_meter.server_id.setText("1EMH0012345679")
    assert form.submit() is not None
    assert len(emitted) == 1 and emitted[0].smgw_id.text == "EDEM0100000001"
    assert form.saving and not form.create_button.isEnabled()


def test_missing_fields_and_flows_are_named(qtbot, translations):
    translations.apply("en")
    form = JobFormDialog()
    qtbot.addWidget(form)
    form.show()
    form.fields["job_id"].clear()
    form.flow_boxes["handover"].setChecked(False)
    form.create_button.click()
    fields = {p.field for p in form.problems}
    assert {"job_id", "site.street", "site.postal_code", "site.city", "smgw_id", "gwa_tenant",
            "metering_point_id", "flows"} <= fields
    assert form.errors["site.street"].text().startswith("The street and house number is empty")
    assert form.errors["flows"].isVisibleTo(form)
    assert form.flow_box.property("invalid") is True
    form.flow_boxes["handover"].setChecked(True)
    assert form.flow_box.property("invalid") is not True
    # the messages follow the language
    translations.apply("de")
    QApplication.processEvents()
    assert form.errors["site.street"].text().startswith("Straße und Hausnummer ist leer")


def test_meter_rows_and_the_meter_change_rule(qtbot, translations):
    translations.apply("en")
    form = JobFormDialog()
    qtbot.addWidget(form)
    form.show()
    _fill(form, meters=[("1EMH0012345678", "new", ""), ("1EMH0087654321", "new", ""),
                        ("1DZG0042123440", "existing", "")])
    assert len(form.meter_rows) == 3
    form.flow_boxes["meter_change"].setChecked(True)
    form.create_button.click()
    # no meter is marked 'old': the rule of the file is shown at the planned flows
    assert [p.field for p in form.problems] == ["flows[1]"]
    assert "exactly one meter with role 'old'" in form.errors["flows"].text()
    assert form.flow_box.property("invalid") is True
    # the second meter is the old one; the third is not part of this job after all
    form.meter_rows[1].role.setCurrentIndex(form.meter_rows[1].role.findData("old"))
    form.meter_rows[2].remove_button.click()
    assert len(form.meter_rows) == 2
    order = form.submit()
    assert order is not None
    assert [(m.server_id_text, m.role.value) for m in order.meters] == [
        ("1EMH0012345678", "new"), ("1EMH0087654321", "old")]
    assert [f.value for f in order.flows] == ["handover", "meter_change"]


# --- in the jobs panel ------------------------------------------------------------------------


def test_typed_job_is_created_listed_selected_and_stored(make_window, context, run):
    window = make_window(context)
    panel = _panel(window)
    run(panel.refresh())
    assert panel.new_button.isVisibleTo(panel) and panel.new_button.isEnabled()
    panel.new_button.click()
    form = panel.job_form
    assert isinstance(form, JobFormDialog) and form.isVisible() and not form.isModal()
    assert panel.open_new_job_form() is form  # a second click keeps the typed data
    _fill(form)
    form.create_button.click()
    run(wait_until(lambda: panel.current_job is not None))
    assert panel.current_job.job_id == "VO-2025-0042"
    assert panel.current_job.source == "typed"
    rows = [[panel.list.topLevelItem(i).text(c) for c in range(3)]
            for i in range(panel.list.topLevelItemCount())]
    assert rows == [["VO-2025-0042", "Kellerweg 3, 54321 Beispielstadt", "EDEM0100000001"]]
    assert panel.list.currentItem().text(0) == "VO-2025-0042"
    run(wait_until(lambda: panel.job_form is None))
    # a newly opened store (next start of the program) has the job as typed
    run(window.shutdown())
    folder = store_folder(context)
    with WorkOrderStore(folder / DB_FILE, folder / FILES_DIR) as store:
        job = store.get("vo-2025-0042")
    order = job.order
    assert order.site.location == "Keller, Zählerschrank 2"
    assert order.customer_name == "Max Muster"
    assert [(m.server_id_text, m.role.value, m.key_ref) for m in order.meters] == [
        ("1EMH0012345678", "new", "demo:M-1")]
    assert [f.value for f in order.flows] == ["handover"]
    assert job.source == "typed"


def test_duplicate_job_id_is_refused_in_the_form(make_window, context, run, translations):
    translations.apply("en")
    window = make_window(context)
    panel = _panel(window)
    run(panel.import_file(DEMO_JOBS / "handover.json"))
    form = panel.open_new_job_form()
    _fill(form, dict(TYPED, job_id="demo-2025-0001"))
    form.create_button.click()
    run(wait_until(lambda: not form.saving))
    assert form.isVisible()
    assert [p.field for p in form.problems] == ["job_id"]
    assert form.fields["job_id"].property("invalid") is True
    assert "'DEMO-2025-0001' is already in the job list" in form.errors["job_id"].text()
    assert form.create_button.isEnabled()
    assert form.fields["site.street"].text() == "Kellerweg 3"
    assert panel.list.topLevelItemCount() == 1
    assert panel.error_box is None  # shown on the field, not in a message box
    # another number: accepted
    form.fields["job_id"].setText("VO-2025-0043")
    form.create_button.click()
    run(wait_until(lambda: panel.current_job is not None
                   and panel.current_job.job_id == "VO-2025-0043"))
    assert panel.list.topLevelItemCount() == 2


# --- photos -----------------------------------------------------------------------------------


def test_image_kinds():
    assert image_kind(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "jpeg"
    assert image_kind(b"\x89PNG\r\n\x1a\n\x00\x00") == "png"
    assert image_kind(b"\x00\x00\x00\x18ftypheic\x00\x00") == "heif"
    assert image_kind(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "webp"
    assert image_kind(b"%PDF-1.7") is None
    assert image_kind(b"") is None


def test_attach_photo_through_the_dialogs(make_window, context, run, tmp_path, translations):
    translations.apply("en")
    window = make_window(context)
    panel = _panel(window)
    assert not panel.photo_button.isEnabled()
    assert panel.open_photo_dialog() is None
    run(panel.import_file(DEMO_JOBS / "handover.json"))
    assert panel.photo_button.isEnabled()
    photo = _png(tmp_path / "zaehlerschrank.png")
    dialog = panel.open_photo_dialog()
    assert isinstance(dialog, QFileDialog)
    # open(): window-modal at most, the event loop keeps running
    assert dialog.windowModality() != Qt.WindowModality.ApplicationModal
    assert "*.png" in dialog.nameFilters()[0] and "*.jpg" in dialog.nameFilters()[0]
    dialog.fileSelected.emit(str(photo))
    caption = panel.photo_picker.caption_dialog
    assert isinstance(caption, QInputDialog) and caption.objectName() == "job-photo-caption"
    assert "zaehlerschrank.png" in caption.labelText()
    caption.textValueSelected.emit("Zählerschrank nach Einbau")
    run(wait_until(lambda: len(panel.current_job.photos) == 1))
    caption.close()
    dialog.close()
    stored = panel.current_job.photos[0]
    assert stored.caption == "Zählerschrank nach Einbau"
    copy = panel.current_job.folder / stored.file
    assert copy.is_file() and copy.read_bytes() == photo.read_bytes()
    assert panel.current_job.folder in copy.parents
    photos = [panel.detail.topLevelItem(i) for i in range(panel.detail.topLevelItemCount())]
    section = next(item for item in photos if item.text(0).startswith("Photos"))
    assert section.child(0).text(1) == "Zählerschrank nach Einbau (zaehlerschrank.png)"


def test_non_image_file_is_refused(make_window, context, run, tmp_path, translations,
                                   monkeypatch):
    translations.apply("en")
    window = make_window(context)
    panel = _panel(window)
    job = run(panel.import_file(DEMO_JOBS / "handover.json"))
    fake = tmp_path / "protokoll.jpg"
    fake.write_text("not a picture\n", encoding="utf-8")
    assert run(panel.add_photo(fake, "Schrank")) is False
    run(wait_until(lambda: panel.error_box is not None))
    assert "protokoll.jpg is not a photo" in panel.error_box.text()
    assert panel.current_job.photos == ()
    assert not (job.folder / "photos").exists()  # nothing was copied
    assert fake.read_text(encoding="utf-8") == "not a picture\n"
    # a file that is gone is reported, not a traceback
    with pytest.raises(Exception) as gone:
        check_photo(tmp_path / "missing.png")
    assert "cannot be read" in str(gone.value)
    assert run(panel.add_photo(tmp_path / "missing.png")) is False
    # a photo over the store's size limit is refused with the limit
    monkeypatch.setattr("app.store.jobs.MAX_PHOTO_BYTES", 100)
    big = _png(tmp_path / "big.png")
    assert big.stat().st_size > 100
    assert run(panel.add_photo(big)) is False
    assert "at most 100 are accepted" in panel.error_box.text()
    monkeypatch.undo()
    # a caption far too long is refused before anything is copied
    assert run(panel.add_photo(_png(tmp_path / "ok.png"), "x" * 300)) is False
    assert "at most 200 characters" in panel.error_box.text()
    assert panel.current_job.photos == ()


# --- screenshots ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_form_screenshots_without_clipped_text(qtbot, translations, run, lang):
    translations.apply(lang)
    form = JobFormDialog(job_id="20250304-0930", smgw_id="EDEM0100000001")
    qtbot.addWidget(form)
    form.show()
    run(asyncio.sleep(0.05))
    QApplication.processEvents()
    SCREENSHOTS.mkdir(exist_ok=True)
    assert form.grab().save(str(SCREENSHOTS / f"job-form-{lang}.png"))
    assert clipped_widgets(form) == []
    _fill(form, dict(TYPED, smgw_id="EDEM01XX"), [("1EMH00123", "new", "")])
    form.create_button.click()
    QApplication.processEvents()
    run(asyncio.sleep(0.05))
    assert form.problems
    assert form.grab().save(str(SCREENSHOTS / f"job-form-error-{lang}.png"))
    assert clipped_widgets(form) == []
    assert form.create_button.text() == {"en": "Create job"}.get(lang, form.create_button.text())


@pytest.mark.parametrize("lang", ["de", "en"])
def test_jobs_with_photo_screenshot(make_window, context, translations, run, tmp_path, lang):
    translations.apply(lang)
    window = make_window(context)
    panel = _panel(window)
    run(panel.import_file(DEMO_JOBS / "handover.json"))
    assert run(panel.add_photo(_png(tmp_path / "IMG_0042.png"),
                               "Zählerschrank nach Einbau" if lang == "de"
                               else "Meter cabinet after fitting"))
    window.workspace.show_tool(JOBS_TOOL)
    window.show()
    run(asyncio.sleep(0.1))
    QApplication.processEvents()
    SCREENSHOTS.mkdir(exist_ok=True)
    assert window.grab().save(str(SCREENSHOTS / f"jobs-photo-{lang}.png"))
    assert clipped_widgets(window) == []
    if lang == "en":
        assert panel.new_button.text() == "New…"
        assert panel.photo_button.text() == "Attach photo…"


def test_cancel_escape_and_close_ask_before_discarding_typed_data(make_window, context, run,
                                                                   translations):
    translations.apply("en")
    window = make_window(context)
    panel = _panel(window)
    form = panel.open_new_job_form()
    form.fields["site.street"].setText("Kellerweg 3")
    assert form.is_modified()
    ways = [lambda: QTest.keyClick(form, Qt.Key.Key_Escape),
            lambda: form.cancel_button.click(),
            lambda: form.close()]  # what the window's close button does
    for way in ways:
        way()
        QApplication.processEvents()
        box = form.discard_box
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert box.text() == "Discard the typed work order?"
        assert box.windowModality() != Qt.WindowModality.ApplicationModal  # open(), not exec()
        assert form.isVisible() and panel.job_form is form
        box.button(QMessageBox.StandardButton.Cancel).click()  # "Keep editing"
        run(wait_until(lambda: form.discard_box is None))
        assert form.isVisible() and panel.job_form is form
        assert form.fields["site.street"].text() == "Kellerweg 3"
    # Escape on the question keeps the form too
    form.reject()
    QTest.keyClick(form.discard_box, Qt.Key.Key_Escape)
    run(wait_until(lambda: form.discard_box is None))
    assert form.isVisible() and form.fields["site.street"].text() == "Kellerweg 3"
    # confirmed: the form is gone, a new one starts empty
    form.reject()
    form.discard_box.button(QMessageBox.StandardButton.Discard).click()
    run(wait_until(lambda: panel.job_form is None))
    again = panel.open_new_job_form()
    assert again.isVisible() and again.fields["site.street"].text() == ""


def test_an_unchanged_form_closes_at_once(make_window, context, run):
    window = make_window(context)
    panel = _panel(window)
    form = panel.open_new_job_form()
    assert not form.is_modified()
    QTest.keyClick(form, Qt.Key.Key_Escape)
    assert form.discard_box is None
    run(wait_until(lambda: panel.job_form is None))
    form = panel.open_new_job_form()
    form.fields["site.city"].setText("Beispielstadt")
    form.fields["site.city"].setText("")  # typed and taken back: nothing to lose
    row = form.add_meter_row()  # an empty meter row holds nothing typed either
    assert row is not None and not form.is_modified()
    form.cancel_button.click()
    assert form.discard_box is None
    run(wait_until(lambda: panel.job_form is None))
    form = panel.open_new_job_form()
    form.close()
    run(wait_until(lambda: panel.job_form is None))


@pytest.mark.parametrize("change", ["notes", "flow", "meter", "role"])
def test_every_kind_of_field_counts_as_typed(qtbot, change):
    form = JobFormDialog()  # deleted on close: not registered with qtbot
    form.show()
    assert not form.is_modified()
    if change == "notes":
        form.notes.setPlainText("Schlüssel beim Hausmeister")
    elif change == "flow":
        form.flow_boxes[PlannedFlow.METER_CHANGE].setChecked(True)
    elif change == "meter":
        form.meter_rows[0].server_id.setText("1EMH0012345678")
    else:
        form.meter_rows[0].role.setCurrentIndex(1)
    assert form.is_modified()
    form.reject()
    assert form.isVisible() and form.discard_box is not None
    with qtbot.waitSignal(form.destroyed, timeout=2000):
        form.discard_box.button(QMessageBox.StandardButton.Discard).click()


def test_photo_goes_to_the_job_it_was_picked_for(make_window, context, run, tmp_path):
    window = make_window(context)
    panel = _panel(window)
    first = run(panel.import_file(DEMO_JOBS / "handover.json"))
    dialog = panel.open_photo_dialog()
    dialog.fileSelected.emit(str(_png(tmp_path / "a.png")))
    second = run(panel.import_file(DEMO_JOBS / "meter-change.json"))  # now the current job
    assert panel.current_job.job_id == second.job_id != first.job_id
    panel.photo_picker.caption_dialog.textValueSelected.emit("")
    folder = store_folder(context)

    def photos_of_first() -> int:
        with WorkOrderStore(folder / DB_FILE, folder / FILES_DIR) as store:
            return len(store.get(first.job_id).photos)

    run(wait_until(lambda: photos_of_first() == 1))
    assert panel.current_job.photos == ()
    panel.photo_picker.close()


def test_caption_input_is_limited_and_a_refused_caption_keeps_the_pick(
        make_window, context, run, tmp_path, translations):
    translations.apply("en")
    window = make_window(context)
    panel = _panel(window)
    run(panel.import_file(DEMO_JOBS / "handover.json"))
    photo = _png(tmp_path / "schrank.png")
    dialog = panel.open_photo_dialog()
    dialog.fileSelected.emit(str(photo))
    caption = panel.photo_picker.caption_dialog
    edit = caption.findChild(QLineEdit)
    assert edit is not None and edit.maxLength() == MAX_CAPTION == 200
    QTest.keyClicks(edit, "x" * 250)
    assert len(caption.textValue()) == MAX_CAPTION
    # a control character (pasted from elsewhere) is refused: the same file is asked again,
    # with the text typed so far and the reason
    caption.textValueSelected.emit("Zählerschrank\x07 nach Einbau")
    again = panel.photo_picker.caption_dialog
    assert again is not None and again is not caption and again.isVisible()
    assert again.textValue() == "Zählerschrank\x07 nach Einbau"
    assert "schrank.png" in again.labelText()
    assert "control characters" in again.labelText()
    assert again.findChild(QLineEdit).maxLength() == MAX_CAPTION
    run(asyncio.sleep(0.1))
    assert panel.current_job.photos == () and panel.error_box is None  # nothing lost, no box
    again.textValueSelected.emit("Zählerschrank nach Einbau")
    run(wait_until(lambda: len(panel.current_job.photos) == 1))
    assert panel.current_job.photos[0].caption == "Zählerschrank nach Einbau"
    assert panel.current_job.photos[0].original_name == "schrank.png"
    panel.photo_picker.close()
    dialog.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_a_named_pipe_as_photo_does_not_stop_the_job_list(make_window, context, run, tmp_path,
                                                          translations):
    translations.apply("en")
    window = make_window(context)
    panel = _panel(window)
    run(panel.import_file(DEMO_JOBS / "handover.json"))
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)

    async def attach() -> bool:
        try:
            return await asyncio.wait_for(panel.add_photo(fifo), 5)
        except TimeoutError:  # the worker thread waits for a writer: release it, then fail
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            raise

    assert run(attach()) is False
    assert "pipe.jpg is not a regular file" in panel.error_box.text()
    assert run(asyncio.wait_for(panel.add_note("Zähler getauscht"), 5)) is True


def test_closing_the_window_keeps_a_typed_work_order(make_window, context, run, translations):
    """Closing the main window (or quitting) with a typed, unsaved work order asks first."""
    translations.apply("en")
    window = make_window(context)
    window.show()
    form = _panel(window).open_new_job_form()
    form.fields["site.street"].setText("Kellerweg 3")
    window.close()
    QApplication.processEvents()
    assert window.isVisible() and form.isVisible()
    assert form.discard_box is not None and form.discard_box.isVisible()
    assert "not saved yet" in window.statusBar().currentMessage()
    form.discard_box.button(QMessageBox.StandardButton.Discard).click()
    run(wait_until(lambda: _panel(window).job_form is None))
    window.close()
    QApplication.processEvents()
    assert not window.isVisible()
