"""Helper process for ``test_engine_kill_resume``: runs a four-step flow that blocks in step 3.

Usage: ``python engine_child.py JOBS_DB AUDIT_DB MARKER RUN_ID [--non-idempotent]``.
Every step appends its name to MARKER when it starts, so the test can count how often each step
really ran across the killed process and the resumed one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from app.errors import Text
from app.processes.engine import Engine, Flow, Step, StepContext
from app.processes.interaction import ScriptedInteraction
from app.store.audit import AuditLog
from app.store.db import JobStore

FLOW_NAME = "kill-resume"


def build_flow(marker: Path, *, block_in_three: bool, three_idempotent: bool = True) -> Flow:
    def mark(name: str) -> None:
        with marker.open("a", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    async def one(ctx: StepContext) -> dict[str, Any]:
        mark("one")
        return {"serial": "1EMH0012345678"}

    async def two(ctx: StepContext) -> dict[str, Any]:
        mark("two")
        return {"paired_with": ctx.results["one"].data["serial"]}

    async def three(ctx: StepContext) -> dict[str, Any]:
        mark("three")
        if block_in_three:
            await asyncio.Event().wait()  # until the test kills the process
        return {"seen": sorted(ctx.results), "job": ctx.data["job"]}

    async def four(ctx: StepContext) -> dict[str, Any]:
        mark("four")
        return {"done": True}

    return Flow(
        FLOW_NAME,
        Text("Kill and resume", "Abbruch und Fortsetzung"),
        [
            Step("one", Text("Read meter", "Zähler lesen"), one),
            Step("two", Text("Pair", "Koppeln"), two),
            Step("three", Text("Send profile", "Profil senden"), three,
                 idempotent=three_idempotent),
            Step("four", Text("Report", "Bericht"), four),
        ],
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs")
    parser.add_argument("audit")
    parser.add_argument("marker")
    parser.add_argument("run_id")
    parser.add_argument("--non-idempotent", action="store_true")
    args = parser.parse_args(argv)
    flow = build_flow(Path(args.marker), block_in_three=True,
                      three_idempotent=not args.non_idempotent)
    store, audit = JobStore(args.jobs), AuditLog(args.audit)
    engine = Engine(store, audit, ScriptedInteraction([]))
    asyncio.run(engine.run(flow, {"job": "K-1"}, run_id=args.run_id))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
