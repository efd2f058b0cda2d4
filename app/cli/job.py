"""``smgwct job``: work orders and the offline job list (Arbeitsaufträge, Auftragsliste)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli import language
from app.errors import InvalidValue, Text
from app.store.audit import AuditLog
from app.store.jobs import (
    JobFileError,
    Seal,
    WorkOrder,
    WorkOrderStore,
    read_work_order,
)
from app.store.settings import data_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("job", help="work orders and the job list (Aufträge)")
    commands = parser.add_subparsers(dest="job_command", metavar="ACTION")

    check = commands.add_parser("check", help="check a work order file without importing it")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_run(_check, store=False))

    imp = commands.add_parser("import", help="check and add a work order file (XML or JSON)")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_run(_import))

    listing = commands.add_parser("list", help="the job list")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_run(_list))

    show = commands.add_parser("show", help="one job with everything collected")
    show.add_argument("job")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_run(_show))

    export = commands.add_parser("export", help="the job's work order as XML or JSON")
    export.add_argument("job")
    export.add_argument("--format", choices=("xml", "json"), default="xml")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(func=_run(_export))

    create = commands.add_parser("create", help="create a job on site from typed fields")
    create.add_argument("--job-id", required=True)
    create.add_argument("--street", required=True)
    create.add_argument("--postal-code", required=True)
    create.add_argument("--city", required=True)
    create.add_argument("--location")
    create.add_argument("--metering-point", required=True)
    create.add_argument("--customer")
    create.add_argument("--smgw-id", required=True)
    create.add_argument("--tenant", required=True, help="GWA tenant (GWA-Mandant)")
    create.add_argument("--meter", action="append", default=[], metavar="SERVERID:ROLE[:KEYREF]")
    create.add_argument("--flow", action="append", default=[], required=True)
    create.add_argument("--date", help="planned date YYYY-MM-DD")
    create.add_argument("--notes")
    create.set_defaults(func=_run(_create))

    note = commands.add_parser("note", help="add a note to a job")
    note.add_argument("job")
    note.add_argument("text")
    note.set_defaults(func=_run(_note))

    seal = commands.add_parser("seal", help="record a seal number (Plombennummer)")
    seal.add_argument("job")
    seal.add_argument("number")
    seal.add_argument("--action", choices=("fitted", "removed", "checked"), default="fitted")
    seal.add_argument("--location")
    seal.add_argument("--meter", help="server ID of the meter the seal belongs to")
    seal.set_defaults(func=_run(_seal))

    photo = commands.add_parser("photo", help="attach a photo (copied, SHA-256 recorded)")
    photo.add_argument("job")
    photo.add_argument("file", type=Path)
    photo.add_argument("--caption")
    photo.set_defaults(func=_run(_photo))
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


Action = Callable[[argparse.Namespace, Any], int]


def _run(action: Action, *, store: bool = True) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if not store:
            return action(args, None)
        base = data_dir(create=True)
        audit = AuditLog(base / "audit.sqlite3")
        jobs = WorkOrderStore.open_default(audit)
        try:
            return action(args, jobs)
        finally:
            jobs.close()
            audit.close()

    return run


def _print_problems(err: JobFileError) -> None:
    lang = language()
    print(f"{err.source}:", file=sys.stderr)
    for problem in err.problems:
        print(f"  {problem.describe(lang)}", file=sys.stderr)


def _check(args: argparse.Namespace, _store: None) -> int:
    try:
        order = read_work_order(args.file)
    except JobFileError as err:
        _print_problems(err)
        return 1
    ok = Text(f"{args.file.name}: work order {order.job_id} is valid.",
              f"{args.file.name}: Auftrag {order.job_id} ist gültig.")
    print(ok.get(language()))
    return 0


def _import(args: argparse.Namespace, store: WorkOrderStore) -> int:
    try:
        job = store.import_file(args.file)
    except JobFileError as err:
        _print_problems(err)
        return 1
    print(job.job_id)
    return 0


def _list(args: argparse.Namespace, store: WorkOrderStore) -> int:
    jobs = store.list()
    if args.json:
        print(json.dumps([{"job_id": j.job_id, "smgw_id": j.smgw_id, "site": j.site,
                           "state": str(j.state), "runs": j.runs,
                           "updated": j.updated.isoformat()} for j in jobs],
                         ensure_ascii=False, indent=2))
        return 0
    for j in jobs:
        print(f"{j.job_id}\t{j.state}\t{j.smgw_id}\t{j.runs}\t{j.site}")
    return 0


def _show(args: argparse.Namespace, store: WorkOrderStore) -> int:
    job = store.get(args.job)
    doc = {
        "work_order": job.order.to_dict(), "state": str(job.state),
        "created": job.created.isoformat(), "updated": job.updated.isoformat(),
        "source": {"format": job.source, "file": job.source_name, "sha256": job.source_sha256},
        "runs": [{"run_id": r.run_id, "flow": r.flow} for r in job.runs],
        "readings": [_entry(r) for r in job.readings],
        "seals": [_entry(s) for s in job.seals],
        "notes": [_entry(n) for n in job.notes],
        "photos": [_entry(p) for p in job.photos],
        "devices": [_entry(d) for d in job.devices],
        "certificates": [_entry(c) for c in job.certificates],
        "folder": str(job.folder),
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        order = job.order
        print(f"{order.job_id} ({job.state}) SMGW {order.smgw_id.text}  {order.site.one_line}")
        for m in order.meters:
            print(f"  meter {m.server_id_text} {m.role.value} {m.key_ref or ''}".rstrip())
        print(f"  flows: {', '.join(f.value for f in order.flows)}")
        for key in ("runs", "readings", "seals", "notes", "photos"):
            print(f"  {key}: {len(doc[key])}")
    return 0


def _entry(item: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in item.__dict__.items()}


def _export(args: argparse.Namespace, store: WorkOrderStore) -> int:
    data = store.export(args.job, args.format)
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def _create(args: argparse.Namespace, store: WorkOrderStore) -> int:
    meters = []
    for spec in args.meter:
        parts = spec.split(":", 2)
        if len(parts) < 2:
            raise InvalidValue(Text(f"--meter {spec!r}: write SERVERID:ROLE[:KEYREF], e.g. "
                                    f"1EMH0012345678:new.",
                                    f"--meter {spec!r}: bitte SERVERID:ROLLE[:SCHLÜSSELVERWEIS] "
                                    f"angeben, z. B. 1EMH0012345678:new."), field="meter")
        meters.append((parts[0], parts[1], parts[2] if len(parts) > 2 else None))
    order = WorkOrder.create(
        job_id=args.job_id, street=args.street, postal_code=args.postal_code, city=args.city,
        location=args.location, metering_point_id=args.metering_point,
        customer_name=args.customer, smgw_id=args.smgw_id, gwa_tenant=args.tenant,
        meters=meters, flows=args.flow, planned_date=args.date, notes=args.notes)
    print(store.add(order).job_id)
    return 0


def _note(args: argparse.Namespace, store: WorkOrderStore) -> int:
    print(store.add_note(args.job, args.text).seq)
    return 0


def _seal(args: argparse.Namespace, store: WorkOrderStore) -> int:
    seal = Seal.create(args.number, args.action, location=args.location, server_id=args.meter)
    print(store.add_seal(args.job, seal).seq)
    return 0


def _photo(args: argparse.Namespace, store: WorkOrderStore) -> int:
    photo = store.add_photo(args.job, args.file, args.caption)
    print(f"{photo.file}\t{photo.sha256}")
    return 0
