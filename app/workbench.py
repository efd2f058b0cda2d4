"""Where a tool instance keeps its runs and audit trail, and how its engine is assembled."""

from __future__ import annotations

from pathlib import Path

from app.context import AppContext
from app.processes.engine import Engine
from app.processes.interaction import UserInteraction
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.settings import data_dir

RUNS_DB = "jobs.sqlite3"
AUDIT_DB = "audit.sqlite3"


def demo_pki_dir(data_dir: Path, smgw_id: str) -> Path:
    """Where the embedded default keeps the demo PKI of gateway ``smgw_id`` (the demo signs
    reports with its technician key, so the CLI and the window look there too)."""
    return data_dir / "demo" / f"pki-{smgw_id}"


def store_folder(context: AppContext | None = None) -> Path:
    """The folder of the run database and the audit log (created if missing)."""
    folder = context.data_dir if context is not None and context.data_dir else data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_engine(
    interaction: UserInteraction, context: AppContext, *, actor: str = "technician"
) -> Engine:
    """An engine over the run database and the audit log of ``context``'s data folder."""
    folder = store_folder(context)
    return Engine(JobStore(folder / RUNS_DB), AuditLog(folder / AUDIT_DB), interaction,
                  services=context, actor=actor)
