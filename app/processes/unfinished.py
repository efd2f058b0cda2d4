"""Unfinished runs (nicht abgeschlossene Abläufe): what a technician can pick up again.

A run that is still ``running`` in the job database while no process holds its run lock was
stopped by a crash, a power cut or a killed process (unterbrochen); failed and cancelled runs
can be resumed too, once the cause is fixed. The engine's
:meth:`~app.processes.engine.Engine.resume` continues any of them at the step where it stopped,
without repeating what the GWA did already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.store.db import JobStore, RunState, StepRecord, StepState
from app.store.run_lock import LOCK_FOLDER, driven_elsewhere

#: Failed and cancelled runs older than this are no longer offered (interrupted ones always are).
KEEP_OFFERING = dt.timedelta(days=7)


@dataclass(frozen=True)
class UnfinishedRun:
    """A stored run that has not succeeded, and where it stopped."""

    run_id: str
    flow: str
    state: RunState
    updated: dt.datetime
    job_id: str | None
    last_step: str | None
    """The step that was running, failed or was cancelled last (its name in the flow)."""
    done_steps: int
    """How many step visits had succeeded (they are not repeated on resume)."""

    @property
    def interrupted(self) -> bool:
        """The program stopped while the run was going (no failure, no cancel recorded)."""
        return self.state is RunState.RUNNING


def job_of(data: Mapping[str, Any]) -> str | None:
    """The job number a run was started for (``data["job"]["job_id"]``), if any."""
    job = data.get("job")
    if isinstance(job, Mapping):
        value = job.get("job_id")
        return str(value) if value else None
    return None


def _last_step(visits: list[StepRecord]) -> str | None:
    for visit in reversed(visits):
        if visit.state is not StepState.SUCCEEDED:
            return visit.step
    return visits[-1].next_step if visits else None


def unfinished_runs(
    store: JobStore,
    flows: Collection[str],
    *,
    active: Collection[str] = (),
    now: dt.datetime | None = None,
    limit: int = 20,
) -> list[UnfinishedRun]:
    """The runs of ``flows`` that can be resumed, newest first.

    ``active`` are the ids of runs an engine drives right now (never offered); a run another
    process drives (its run lock is held, :mod:`app.store.run_lock`) is not offered either.
    Runs of flows this program does not offer (another version's, a test's) are left out.
    """
    now = now or dt.datetime.now(dt.UTC)
    locks = Path(store.path).parent / LOCK_FOLDER
    found: list[UnfinishedRun] = []
    for state in (RunState.RUNNING, RunState.FAILED, RunState.CANCELLED):
        for record in store.list_runs(state=state, limit=limit):
            if record.id in active or record.flow not in flows:
                continue
            if state is not RunState.RUNNING and now - record.updated > KEEP_OFFERING:
                continue
            if state is RunState.RUNNING and driven_elsewhere(locks, record.id):
                continue
            visits = store.steps(record.id)
            found.append(UnfinishedRun(
                run_id=record.id, flow=record.flow, state=record.state, updated=record.updated,
                job_id=job_of(record.data), last_step=_last_step(visits),
                done_steps=sum(v.state is StepState.SUCCEEDED for v in visits),
            ))
    found.sort(key=lambda run: run.updated, reverse=True)
    return found[:limit]


__all__ = ["KEEP_OFFERING", "UnfinishedRun", "job_of", "unfinished_runs"]
