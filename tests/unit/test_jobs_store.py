"""The offline job list: round trip with runs, readings, seals, notes, photos and audit trail."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.errors import InvalidValue, SmgwctError
from app.store.audit import AuditLog
from app.store.jobs import (
    CertificateRecord,
    DeviceRecord,
    JobState,
    Reading,
    Seal,
    WorkOrderStore,
    parse_work_order_json,
    parse_work_order_xml,
)

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "jobs"


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "audit.sqlite3")
    yield log
    log.close()


@pytest.fixture
def store(tmp_path: Path, audit: AuditLog) -> Iterator[WorkOrderStore]:
    s = WorkOrderStore(tmp_path / "work_orders.sqlite3", tmp_path / "jobs", audit)
    yield s
    s.close()


def test_round_trip_with_photos_seals_readings_and_runs(tmp_path, store, audit, demo_pki):
    job = store.import_file(DEMO / "meter-change.xml")
    assert job.source == "xml" and job.source_name == "meter-change.xml"
    assert job.source_sha256 == hashlib.sha256((DEMO / "meter-change.xml").read_bytes()).hexdigest()

    photo_src = tmp_path / "Zähler alt.jpg"
    photo_src.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    store.attach_run(job.job_id, "run-1", "meter_change")
    store.add_reading(job.job_id, Reading.create("1 EMH00 12345678", "1-0:1.8.0", "4821357.0",
                                                 "Wh", role="old"))
    store.add_seal(job.job_id, Seal.create("DE-4711", "removed", location="Klemmdeckel",
                                           server_id="1EMH0012345678"))
    store.add_seal(job.job_id, Seal.create("DE-4712", "fitted", server_id="1DZG0042123440"))
    store.add_note(job.job_id, "Schlüssel vom Hausmeister geholt.")
    photo = store.add_photo(job.job_id, photo_src, "Alter Zähler")
    store.record_device(job.job_id, DeviceRecord("gateway", "ETHE0390000001",
                                                 firmware_version="1.0", firmware_hash="a" * 64))
    store.record_certificate(job.job_id, CertificateRecord.from_certificate(
        demo_pki["han"].cert, "ETHE0390000001", "han"))
    store.close()

    reopened = WorkOrderStore(store.path, store.files, audit)
    try:
        again = reopened.get("dEmO-2025-0002")  # job numbers are case-insensitive
        assert again.order == job.order
        assert [r.run_id for r in again.runs] == ["run-1"]
        assert again.readings[0].server_id == "1EMH0012345678"
        assert again.readings[0].obis == "1-0:1.8.0*255"
        assert again.readings[0].value == "4821357.0"
        assert [(s.number, s.action) for s in again.seals] == [("DE-4711", "removed"),
                                                                ("DE-4712", "fitted")]
        assert again.notes[0].text == "Schlüssel vom Hausmeister geholt."
        stored = again.folder / again.photos[0].file
        assert stored.read_bytes() == photo_src.read_bytes()
        assert again.photos[0].sha256 == hashlib.sha256(photo_src.read_bytes()).hexdigest()
        assert again.photos[0] == photo
        assert again.devices[0].firmware_hash == "a" * 64
        assert again.certificates[0].sha256 == demo_pki["han"].sha256
        assert [j.job_id for j in reopened.list()] == ["DEMO-2025-0002"]
        assert reopened.list()[0].runs == 1
    finally:
        reopened.close()


def test_audit_trail_holds_job_and_run_entries(store, audit):
    job = store.import_file(DEMO / "handover.json")
    store.attach_run(job.job_id, "run-7", "handover")
    audit.append("engine", "step.started", {"run_id": "run-7", "step": "han"})
    audit.append("engine", "step.started", {"run_id": "other", "step": "han"})
    store.add_seal(job.job_id, Seal.create("S-1"))
    trail = store.audit_trail(job.job_id)
    assert [e.action for e in trail] == ["job.imported", "job.run_attached", "step.started",
                                         "job.seal"]
    assert trail[-1].payload["number"] == "S-1"
    assert audit.verify().ok


def test_export_reimports_equal(store):
    job = store.import_file(DEMO / "handover.xml")
    assert parse_work_order_xml(store.export(job.job_id, "xml")) == job.order
    assert parse_work_order_json(store.export(job.job_id, "json")) == job.order
    with pytest.raises(InvalidValue):
        store.export(job.job_id, "csv")


def test_same_job_twice_is_refused(store):
    store.import_file(DEMO / "handover.xml")
    with pytest.raises(SmgwctError) as err:
        store.import_file(DEMO / "handover.json")
    assert err.value.field == "job_id"


def test_withdrawn_entry_leaves_the_job_but_stays_audited(store, audit):
    job = store.import_file(DEMO / "handover.xml")
    wrong = store.add_seal(job.job_id, Seal.create("DE-47111"))
    store.add_seal(job.job_id, Seal.create("DE-4711"))
    store.withdraw(job.job_id, wrong.seq, "Tippfehler")
    assert [s.number for s in store.get(job.job_id).seals] == ["DE-4711"]
    assert any(e.action == "job.withdrawn" for e in store.audit_trail(job.job_id))
    with pytest.raises(InvalidValue):
        store.withdraw(job.job_id, wrong.seq, "again")


def test_state_and_unknown_job(store):
    job = store.import_file(DEMO / "handover.xml")
    store.set_state(job.job_id, JobState.COMPLETED)
    assert store.get(job.job_id).state is JobState.COMPLETED
    assert store.list(state=JobState.OPEN) == []
    with pytest.raises(SmgwctError) as err:
        store.get("NOPE")
    assert err.value.field == "job_id"


@pytest.mark.parametrize(("call", "field"), [
    (lambda: Reading.create("1EMH001234567", "1-0:1.8.0", "1"), "server_id"),
    (lambda: Reading.create("1EMH0012345678", "1.8.0", "1"), "obis"),
    (lambda: Reading.create("1EMH0012345678", "1-0:1.8.0", "zwölf"), "value"),
    (lambda: Reading.create("1EMH0012345678", "1-0:1.8.0", "NaN"), "value"),
    (lambda: Seal.create(""), "seal"),
    (lambda: Seal.create("S1", "broken"), "action"),
])
def test_collected_values_are_checked(call, field):
    with pytest.raises(InvalidValue) as err:
        call()
    assert err.value.field == field


def test_missing_photo_is_reported(store, tmp_path):
    job = store.import_file(DEMO / "handover.xml")
    with pytest.raises(SmgwctError) as err:
        store.add_photo(job.job_id, tmp_path / "nope.jpg")
    assert err.value.field == "photo"


# --- the photo size limit holds for the bytes actually copied ------------------------------------


def _grow_while_copied(monkeypatch, source: Path, extra: int) -> None:
    """The camera (or a sync tool) still writes ``source`` while it is copied: after the first
    chunk is hashed, ``extra`` bytes are appended."""
    real = hashlib.sha256
    grown: list[bool] = []

    class Growing:
        def __init__(self) -> None:
            self._hash = real()

        def update(self, data: bytes) -> None:
            self._hash.update(data)
            if not grown:
                grown.append(True)
                with source.open("ab") as file:
                    file.write(b"\x5a" * extra)

        def hexdigest(self) -> str:
            return self._hash.hexdigest()

    monkeypatch.setattr("app.store.jobs.hashlib", SimpleNamespace(sha256=Growing))


def test_a_photo_growing_past_the_limit_while_copied_is_refused(store, tmp_path, monkeypatch):
    job = store.import_file(DEMO / "handover.xml")
    source = tmp_path / "IMG_0001.jpg"
    source.write_bytes(b"\xff\xd8\xff" + b"\0" * (3 << 19))  # 1.5 MiB: below the limit
    monkeypatch.setattr("app.store.jobs.MAX_PHOTO_BYTES", 2 << 20)
    _grow_while_copied(monkeypatch, source, 2 << 20)
    with pytest.raises(InvalidValue) as err:
        store.add_photo(job.job_id, source)
    assert err.value.field == "photo"
    assert f"at most {2 << 20} are accepted" in err.value.message.en
    assert "IMG_0001.jpg" in err.value.message.de
    folder = store.get(job.job_id).folder / "photos"
    assert not folder.exists() or list(folder.iterdir()) == []  # no .part file left
    assert store.get(job.job_id).photos == ()


def test_the_recorded_size_is_that_of_the_bytes_copied_and_hashed(store, tmp_path, monkeypatch):
    job = store.import_file(DEMO / "handover.xml")
    source = tmp_path / "IMG_0002.jpg"
    source.write_bytes(b"\xff\xd8\xff" + b"\0" * (3 << 19))
    _grow_while_copied(monkeypatch, source, 1 << 18)
    photo = store.add_photo(job.job_id, source)
    stored = (store.get(job.job_id).folder / photo.file).read_bytes()
    assert photo.size == len(stored) == source.stat().st_size
    assert photo.sha256 == hashlib.sha256(stored).hexdigest()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_a_named_pipe_is_not_copied(store, tmp_path):
    job = store.import_file(DEMO / "handover.xml")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def attach() -> None:
        try:
            store.add_photo(job.job_id, fifo)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    worker = threading.Thread(target=attach, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # blocked in open(): release it with a writer
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
        pytest.fail("add_photo blocked on a named pipe")
    assert isinstance(outcome[0], InvalidValue) and outcome[0].field == "photo"
    assert "pipe.jpg" in outcome[0].message.en
    assert not (store.get(job.job_id).folder / "photos").exists()


def test_a_device_seen_again_in_the_same_run_is_recorded_once(store, demo_pki):
    """A step repeated after a crash records again what it had recorded: kept once per run;
    another run's record, or one after the first was withdrawn, is a new entry."""
    job = store.import_file(DEMO / "handover.xml")
    gateway = DeviceRecord("gateway", "ETHE0390000001", firmware_version="3.87.2", run_id="r1")
    cert = CertificateRecord.from_certificate(demo_pki["han"].cert, "ETHE0390000001", "han")
    first = store.record_device(job.job_id, gateway)
    again = store.record_device(job.job_id, gateway)
    assert again.seq == first.seq
    store.record_certificate(job.job_id, cert)
    store.record_certificate(job.job_id, cert)
    assert len(store.get(job.job_id).devices) == 1
    assert len(store.get(job.job_id).certificates) == 1
    store.record_device(job.job_id, DeviceRecord("gateway", "ETHE0390000001",
                                                 firmware_version="3.87.2", run_id="r2"))
    assert len(store.get(job.job_id).devices) == 2
    store.withdraw(job.job_id, first.seq, "recorded for the wrong gateway")
    renewed = store.record_device(job.job_id, gateway)
    assert renewed.seq > first.seq and len(store.get(job.job_id).devices) == 2
