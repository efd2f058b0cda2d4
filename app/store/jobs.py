"""The offline job list (Auftragsliste): jobs, what is collected on site, and their store.

:class:`WorkOrderStore` keeps the jobs in SQLite next to the flow runs (``app.store.db``): each job
holds its :class:`~app.store.work_order.WorkOrder` and collects its flow runs (ids of the engine's
:class:`~app.store.db.JobStore`), readings, notes, seal numbers (Plombennummern), photos (copied
into the job's folder with their SHA-256), the devices and certificates seen, and writes every
change to the audit log tagged with the job id.

The work order model (:mod:`app.store.work_order`), its rules (:mod:`app.store.work_order_check`)
and its files (:mod:`app.store.work_order_io`) are re-exported here for existing callers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509

from app.domain import Obis, ServerId
from app.errors import InvalidValue, SmgwctError, Text
from app.security.pki import describe_certificate
from app.store.audit import AuditEntry, AuditLog
from app.store.db import Database, Migration, dumps, parse_utc, utc_text
from app.store.photos import check_caption, check_photo, open_photo
from app.store.settings import data_dir
from app.store.work_order import (
    FORMAT_VERSION,
    NAMESPACE,
    ExpectedMeter,
    MeterRole,
    PlannedFlow,
    Site,
    WorkOrder,
)
from app.store.work_order_check import (
    CONTROL,
    TYPED_HINT,
    JobFileError,
    Located,
    Problem,
    check_enum,
    order_from_document,
    xs_token,
)
from app.store.work_order_io import (
    MAX_FILE_BYTES,
    SCHEMA,
    export_work_order,
    parse_work_order,
    parse_work_order_json,
    parse_work_order_xml,
    read_work_order,
    read_work_order_file,
)

MAX_PHOTO_BYTES = 64 * 1024 * 1024
DB_FILE = "work_orders.sqlite3"
FILES_DIR = "jobs"


class JobState(StrEnum):
    """Where a job stands in the job list."""

    OPEN = "open"
    COMPLETED = "completed"


# -- what a job collects on site ----------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    """A flow run (id in the engine's JobStore) that belongs to the job."""

    run_id: str
    flow: str
    attached: dt.datetime


@dataclass(frozen=True)
class Reading:
    """A register value (Zählerstand) of a meter, e.g. the final reading of the old meter."""

    server_id: str
    obis: str
    value: str
    unit: str | None = None
    source: str = "optical"
    role: str | None = None
    run_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0

    @classmethod
    def create(cls, server_id: str, obis: str, value: str | int | Decimal, unit: str | None = None,
               *, source: str = "optical", role: str | None = None,
               run_id: str | None = None) -> Reading:
        """A checked reading: server ID, OBIS code and a finite decimal value."""
        sid = ServerId.parse(server_id, field="server_id")
        code = Obis.parse(obis, field="obis")
        try:
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise InvalidValue(Text(f"Reading {value!r} is not a number, e.g. '12345.678'.",
                                    f"Zählerstand {value!r} ist keine Zahl, z. B. '12345,678'."),
                               field="value") from None
        if source not in ("optical", "han", "gwa", "manual"):
            raise InvalidValue(Text(f"Unknown reading source {source!r}.",
                                    f"Unbekannte Quelle {source!r}."), field="source")
        if role is not None:
            role = check_enum(("meters", "role"), role, MeterRole).value
        return cls(sid.text or sid.hex, code.notation, str(number), unit, source, role, run_id)


@dataclass(frozen=True)
class Seal:
    """A seal (Plombe) fitted, removed or checked."""

    number: str
    action: str = "fitted"
    location: str | None = None
    server_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0

    @classmethod
    def create(cls, number: str, action: str = "fitted", *, location: str | None = None,
               server_id: str | None = None) -> Seal:
        text = xs_token(number or "")
        if not text or len(text) > 40 or CONTROL.search(text):
            raise InvalidValue(Text("A seal number is 1 to 40 characters, e.g. 'DE-123456'.",
                                    "Eine Plombennummer hat 1 bis 40 Zeichen, z. B. "
                                    "'DE-123456'."), field="seal")
        if action not in ("fitted", "removed", "checked"):
            raise InvalidValue(Text(f"Seal action {action!r}: use fitted, removed or checked.",
                                    f"Plombenvorgang {action!r}: fitted, removed oder checked."),
                               field="action")
        sid = None
        if server_id:
            parsed = ServerId.parse(server_id, field="server_id")
            sid = parsed.text or parsed.hex
        return cls(text, action, xs_token(location) if location else None, sid)


@dataclass(frozen=True)
class Note:
    text: str
    author: str | None = None
    time: dt.datetime | None = None
    seq: int = 0


@dataclass(frozen=True)
class Photo:
    """A photo copied into the job's folder; ``file`` is relative to that folder."""

    file: str
    sha256: str
    size: int
    original_name: str
    caption: str | None = None
    time: dt.datetime | None = None
    seq: int = 0


@dataclass(frozen=True)
class DeviceRecord:
    """What was seen of a device: gateway or meter identity, firmware, key fingerprint."""

    kind: str  # "gateway" or "meter"
    identifier: str
    role: str | None = None
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    firmware_hash: str | None = None
    public_key_sha256: str | None = None
    source: str = "han"
    run_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate seen during the job (HAN, TLS, SIG ...), by its SHA-256 fingerprint."""

    owner: str
    purpose: str
    sha256: str
    subject: str | None = None
    issuer: str | None = None
    not_after: str | None = None
    state: str | None = None
    run_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0

    @classmethod
    def from_certificate(cls, cert: x509.Certificate | bytes, owner: str, purpose: str,
                         *, state: str | None = None, run_id: str | None = None
                         ) -> CertificateRecord:
        info = describe_certificate(cert)
        return cls(owner, purpose, info.sha256, info.subject, info.issuer,
                   info.not_after.isoformat(), state, run_id)


_ENTRY_TYPES: dict[str, type] = {
    "reading": Reading, "seal": Seal, "note": Note, "photo": Photo,
    "device": DeviceRecord, "certificate": CertificateRecord,
}


@dataclass(frozen=True)
class Job:
    """A stored job: the work order and everything collected for it."""

    order: WorkOrder
    state: JobState
    created: dt.datetime
    updated: dt.datetime
    folder: Path
    source: str
    source_name: str | None = None
    source_sha256: str | None = None
    runs: tuple[JobRun, ...] = ()
    readings: tuple[Reading, ...] = ()
    seals: tuple[Seal, ...] = ()
    notes: tuple[Note, ...] = ()
    photos: tuple[Photo, ...] = ()
    devices: tuple[DeviceRecord, ...] = ()
    certificates: tuple[CertificateRecord, ...] = ()

    @property
    def job_id(self) -> str:
        return self.order.job_id


@dataclass(frozen=True)
class JobSummary:
    """One line of the job list."""

    job_id: str
    smgw_id: str
    site: str
    state: JobState
    runs: int
    updated: dt.datetime


# -- the store ---------------------------------------------------------------------------------

WORK_ORDER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE work_orders (
            job_id TEXT PRIMARY KEY COLLATE NOCASE,
            folder TEXT NOT NULL,
            work_order TEXT NOT NULL,
            source TEXT NOT NULL,
            source_name TEXT,
            source_sha256 TEXT,
            state TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE TABLE job_runs (
            job_id TEXT NOT NULL REFERENCES work_orders(job_id) ON DELETE CASCADE,
            run_id TEXT NOT NULL,
            flow TEXT NOT NULL,
            attached TEXT NOT NULL,
            PRIMARY KEY (job_id, run_id)
        );
        CREATE TABLE job_entries (
            job_id TEXT NOT NULL REFERENCES work_orders(job_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            time TEXT NOT NULL,
            withdrawn TEXT,
            PRIMARY KEY (job_id, seq)
        );
        """,
    ),
)


def _no_such_job(job_id: str) -> SmgwctError:
    return SmgwctError(
        Text(f"There is no job {job_id!r} in the job list.",
             f"In der Auftragsliste gibt es keinen Auftrag {job_id!r}."),
        field="job_id",
        hint=Text("Import the work order first or pick a job from the list.",
                  "Importieren Sie zuerst den Auftrag oder wählen Sie einen aus der Liste."),
    )


class WorkOrderStore:
    """The offline job list (SQLite, WAL) plus a folder per job for photos.

    Every change is also written to ``audit`` (if given) with ``job_id`` in the payload, so
    :meth:`audit_trail` can list the job's entries next to those of its flow runs.
    """

    def __init__(self, path: str | Path, files: str | Path | None = None,
                 audit: AuditLog | None = None, *, actor: str = "technician") -> None:
        self.db = Database(path, "work_orders", WORK_ORDER_MIGRATIONS)
        self.path = self.db.path
        self.files = Path(files) if files is not None else self.path.parent / FILES_DIR
        self.audit = audit
        self.actor = actor

    @classmethod
    def open_default(cls, audit: AuditLog | None = None) -> WorkOrderStore:
        """The store in the data folder (``SMGWCT_DATA_DIR`` or the platform default)."""
        base = data_dir(create=True)
        return cls(base / DB_FILE, base / FILES_DIR, audit)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> WorkOrderStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------

    def add(self, order: WorkOrder, *, source: str = "typed", source_name: str | None = None,
            source_sha256: str | None = None) -> Job:
        """Store a new job; a job with the same number (case-insensitive) is refused."""
        folder = f"job-{order.job_id}"
        now = utc_text()
        with self.db.write() as conn:
            exists = conn.execute("SELECT job_id FROM work_orders WHERE job_id = ?",
                                  (order.job_id,)).fetchone()
            if exists:
                raise SmgwctError(
                    Text(f"The job {exists[0]!r} is already in the job list.",
                         f"Der Auftrag {exists[0]!r} steht bereits in der Auftragsliste."),
                    field="job_id",
                    hint=Text("Open the existing job, or give the new one another number.",
                              "Öffnen Sie den vorhandenen Auftrag oder vergeben Sie eine andere "
                              "Nummer."),
                )
            conn.execute(
                "INSERT INTO work_orders(job_id, folder, work_order, source, source_name,"
                " source_sha256, state, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (order.job_id, folder, dumps(order.to_dict()), source, source_name,
                 source_sha256, JobState.OPEN.value, now, now),
            )
        self._audit(order.job_id, "job.imported" if source != "typed" else "job.created", {
            "source": source, "source_name": source_name, "source_sha256": source_sha256,
            "work_order": order.to_dict(),
        })
        return self.get(order.job_id)

    def import_file(self, path: str | Path) -> Job:
        """Read, check and store a work order file (its SHA-256 is kept with the job)."""
        path = Path(path)
        order, data, fmt = read_work_order_file(path)
        return self.add(order, source=fmt, source_name=path.name,
                        source_sha256=hashlib.sha256(data).hexdigest())

    def _row(self, job_id: str) -> Any:
        rows = self.db.read("SELECT * FROM work_orders WHERE job_id = ?", (job_id,))
        if not rows:
            raise _no_such_job(job_id)
        return rows[0]

    def get(self, job_id: str) -> Job:
        """The job with everything collected (withdrawn entries left out)."""
        row = self._row(job_id)
        real_id = row["job_id"]
        order = order_from_document(json.loads(row["work_order"]),
                                    Located(f"stored job {real_id}", "json", {}))
        runs = tuple(
            JobRun(r["run_id"], r["flow"], parse_utc(r["attached"]))
            for r in self.db.read("SELECT * FROM job_runs WHERE job_id = ? ORDER BY attached",
                                  (real_id,))
        )
        entries: dict[str, list[Any]] = {k: [] for k in _ENTRY_TYPES}
        for r in self.db.read("SELECT * FROM job_entries WHERE job_id = ? AND withdrawn IS NULL"
                              " ORDER BY seq", (real_id,)):
            kind = r["kind"]
            if kind not in _ENTRY_TYPES:
                continue
            data = json.loads(r["data"])
            entries[kind].append(_ENTRY_TYPES[kind](**data, time=parse_utc(r["time"]),
                                                    seq=int(r["seq"])))
        return Job(
            order=order, state=JobState(row["state"]), created=parse_utc(row["created"]),
            updated=parse_utc(row["updated"]), folder=self.files / row["folder"],
            source=row["source"], source_name=row["source_name"],
            source_sha256=row["source_sha256"], runs=runs,
            readings=tuple(entries["reading"]), seals=tuple(entries["seal"]),
            notes=tuple(entries["note"]), photos=tuple(entries["photo"]),
            devices=tuple(entries["device"]), certificates=tuple(entries["certificate"]),
        )

    def list(self, *, state: JobState | None = None) -> list[JobSummary]:
        """The job list, most recently changed first."""
        sql = ("SELECT w.*, (SELECT COUNT(*) FROM job_runs r WHERE r.job_id = w.job_id) AS runs"
               " FROM work_orders w")
        params: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            params = (JobState(state).value,)
        out = []
        for row in self.db.read(sql + " ORDER BY updated DESC", params):
            doc = json.loads(row["work_order"])
            site = doc.get("site", {})
            out.append(JobSummary(
                row["job_id"], doc.get("smgw_id", ""),
                f"{site.get('street', '')}, {site.get('postal_code', '')} {site.get('city', '')}",
                JobState(row["state"]), int(row["runs"]), parse_utc(row["updated"])))
        return out

    def set_state(self, job_id: str, state: JobState) -> None:
        real = self._row(job_id)["job_id"]
        with self.db.write() as conn:
            conn.execute("UPDATE work_orders SET state = ?, updated = ? WHERE job_id = ?",
                         (JobState(state).value, utc_text(), real))
        self._audit(real, "job.state", {"state": JobState(state).value})

    # -- what is collected ------------------------------------------------------------------

    def attach_run(self, job_id: str, run_id: str, flow: str) -> JobRun:
        """Record that the engine run ``run_id`` (flow ``flow``) belongs to this job."""
        real = self._row(job_id)["job_id"]
        now = utc_text()
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO job_runs(job_id, run_id, flow, attached)"
                         " VALUES (?, ?, ?, ?)", (real, run_id, flow, now))
            self._touch(conn, real)
        self._audit(real, "job.run_attached", {"run_id": run_id, "flow": flow})
        return JobRun(run_id, flow, parse_utc(now))

    def add_reading(self, job_id: str, reading: Reading) -> Reading:
        return self._add_entry(job_id, "reading", reading)

    def add_seal(self, job_id: str, seal: Seal) -> Seal:
        return self._add_entry(job_id, "seal", seal)

    def add_note(self, job_id: str, text: str, author: str | None = None) -> Note:
        clean = (text or "").strip()
        if not clean or len(clean) > 4000:
            raise InvalidValue(Text("A note has 1 to 4000 characters.",
                                    "Eine Notiz hat 1 bis 4000 Zeichen."), field="note")
        return self._add_entry(job_id, "note", Note(clean, author or self.actor))

    def record_device(self, job_id: str, device: DeviceRecord) -> DeviceRecord:
        """Record what a run saw of a device; the same record of the same run is kept once
        (a step repeated after a crash records again what it had recorded before)."""
        return self._add_entry(job_id, "device", device, once=True)

    def record_certificate(self, job_id: str, cert: CertificateRecord) -> CertificateRecord:
        """Record a certificate a run saw; kept once per run, like :meth:`record_device`."""
        return self._add_entry(job_id, "certificate", cert, once=True)

    def add_photo(self, job_id: str, source: str | Path, caption: str | None = None) -> Photo:
        """Copy ``source`` into the job's folder and record its SHA-256 and size.

        Only a regular file is read (see :func:`app.store.photos.open_photo`); the limit
        :data:`MAX_PHOTO_BYTES` holds for the bytes actually copied, and the recorded size is
        that of the bytes hashed, even if the file still grows while it is copied.
        """
        row = self._row(job_id)
        source = Path(source)
        caption = check_caption(caption)
        check_photo(source)

        def too_big(size_en: str, size_de: str) -> InvalidValue:
            return InvalidValue(
                Text(f"The photo {source.name} has {size_en} bytes; at most {MAX_PHOTO_BYTES} "
                     f"are accepted.",
                     f"Das Foto {source.name} hat {size_de} Bytes; höchstens {MAX_PHOTO_BYTES} "
                     f"sind zulässig."),
                field="photo",
                hint=Text("Attach a smaller picture (e.g. a lower camera resolution).",
                          "Hängen Sie ein kleineres Bild an (z. B. geringere Kameraauflösung)."))

        folder = self.files / row["folder"] / "photos"
        tmp: Path | None = None
        copied = False
        try:
            with open_photo(source) as src:
                announced = os.fstat(src.fileno()).st_size
                if announced > MAX_PHOTO_BYTES:  # refused before anything is copied
                    raise too_big(str(announced), str(announced))
                folder.mkdir(parents=True, exist_ok=True)
                stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.name).strip("._-")[-100:] or "photo"
                number = len(list(folder.iterdir())) + 1
                while (target := folder / f"{number:03d}-{stem}").exists():
                    number += 1
                digest = hashlib.sha256()
                size = 0
                tmp = target.with_name(target.name + ".part")
                with tmp.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        size += len(chunk)
                        if size > MAX_PHOTO_BYTES:  # it grew while being copied
                            raise too_big(f"more than {MAX_PHOTO_BYTES}",
                                          f"mehr als {MAX_PHOTO_BYTES}")
                        digest.update(chunk)
                        dst.write(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
            os.replace(tmp, target)
            copied = True
        except OSError as exc:
            raise SmgwctError(
                Text(f"The photo {source} cannot be copied into the job: {exc.strerror or exc}",
                     f"Das Foto {source} kann nicht in den Auftrag kopiert werden: "
                     f"{exc.strerror or exc}"), field="photo") from exc
        finally:
            if tmp is not None and not copied:  # no half-copied file is left behind
                with contextlib.suppress(OSError):
                    tmp.unlink()
        photo = Photo(target.relative_to(self.files / row["folder"]).as_posix(),
                      digest.hexdigest(), size, source.name, caption)
        return self._add_entry(job_id, "photo", photo)

    def withdraw(self, job_id: str, seq: int, reason: str) -> None:
        """Take back a wrong entry (e.g. a mistyped seal number); it stays stored and audited."""
        real = self._row(job_id)["job_id"]
        if not reason.strip():
            raise InvalidValue(Text("Say why the entry is withdrawn.",
                                    "Bitte angeben, warum der Eintrag zurückgezogen wird."),
                               field="reason")
        with self.db.write() as conn:
            cur = conn.execute("UPDATE job_entries SET withdrawn = ? WHERE job_id = ? AND seq = ?"
                               " AND withdrawn IS NULL", (utc_text(), real, seq))
            if cur.rowcount != 1:
                raise InvalidValue(Text(f"Job {real} has no open entry {seq}.",
                                        f"Auftrag {real} hat keinen offenen Eintrag {seq}."),
                                   field="seq")
            self._touch(conn, real)
        self._audit(real, "job.withdrawn", {"seq": seq, "reason": reason.strip()})

    def _add_entry(self, job_id: str, kind: str, entry: Any, *, once: bool = False) -> Any:
        """Append ``entry``; with ``once`` an identical open entry (same kind and content) is
        returned instead of adding a second one."""
        real = self._row(job_id)["job_id"]
        data = {k: v for k, v in entry.__dict__.items() if k not in ("time", "seq")}
        encoded = dumps(data)
        now = utc_text()
        with self.db.write() as conn:
            if once:
                same = conn.execute(
                    "SELECT seq, time FROM job_entries WHERE job_id = ? AND kind = ? AND data = ?"
                    " AND withdrawn IS NULL ORDER BY seq LIMIT 1", (real, kind, encoded)).fetchone()
                if same is not None:
                    return replace(entry, time=parse_utc(same["time"]), seq=int(same["seq"]))
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM job_entries WHERE job_id = ?",
                               (real,)).fetchone()
            seq = int(row[0]) + 1
            conn.execute("INSERT INTO job_entries(job_id, seq, kind, data, time)"
                         " VALUES (?, ?, ?, ?, ?)", (real, seq, kind, encoded, now))
            self._touch(conn, real)
        self._audit(real, f"job.{kind}", {"seq": seq, **data})
        return replace(entry, time=parse_utc(now), seq=seq)

    @staticmethod
    def _touch(conn: Any, job_id: str) -> None:
        conn.execute("UPDATE work_orders SET updated = ? WHERE job_id = ?", (utc_text(), job_id))

    # -- audit --------------------------------------------------------------------------------

    def _audit(self, job_id: str, action: str, payload: Mapping[str, Any]) -> None:
        if self.audit is None:
            return
        self.audit.append(self.actor, action, {"job_id": job_id, **payload})

    def audit_trail(self, job_id: str, audit: AuditLog | None = None) -> list[AuditEntry]:
        """Entries of the audit log for this job and for the flow runs attached to it."""
        log = audit or self.audit
        if log is None:
            return []
        job = self.get(job_id)
        runs = {r.run_id for r in job.runs}
        return [e for e in log.entries()
                if e.payload.get("job_id") == job.job_id or e.payload.get("run_id") in runs]

    # -- export -------------------------------------------------------------------------------

    def export(self, job_id: str, fmt: str = "xml") -> bytes:
        """The job's work order as XML or JSON (as it would be imported)."""
        return export_work_order(self.get(job_id).order, fmt)


__all__ = [
    "DB_FILE",
    "FILES_DIR",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "MAX_PHOTO_BYTES",
    "NAMESPACE",
    "SCHEMA",
    "TYPED_HINT",
    "WORK_ORDER_MIGRATIONS",
    "CertificateRecord",
    "DeviceRecord",
    "ExpectedMeter",
    "Job",
    "JobFileError",
    "JobRun",
    "JobState",
    "JobSummary",
    "MeterRole",
    "Note",
    "Photo",
    "PlannedFlow",
    "Problem",
    "Reading",
    "Seal",
    "Site",
    "WorkOrder",
    "WorkOrderStore",
    "parse_work_order",
    "parse_work_order_json",
    "parse_work_order_xml",
    "read_work_order",
]
