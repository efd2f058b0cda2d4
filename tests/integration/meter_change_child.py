"""Helper process for ``test_meter_change_kill_resume``: runs the meter change against the
simulators of the test process until the test kills it.

Usage: ``python meter_change_child.py CONFIG_JSON RUN_ID``. CONFIG_JSON holds the flow world's
``child_config()`` plus ``optical`` (the site's read head URL), ``data`` (job data), ``answers``
(by question) and ``control`` (a folder). The physical swap happens in the test process: the
child's demo site writes ``control/swap-request`` and waits for ``control/swap-done``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.context import AppContext, GwaTarget, HanTarget, OpticalTarget
from app.processes.engine import Engine
from app.processes.flows.gwa_common import LINK_OPTIONS_EXTRA
from app.processes.flows.meter_change import METER_CHANGE
from app.processes.interaction import ScriptedInteraction
from app.security.tls import CertificateChain
from app.store.audit import AuditLog
from app.store.db import JobStore


class RemoteSite:
    """The demo site as seen from this process: the swap is done by the test process."""

    def __init__(self, scenario: str, control: Path) -> None:
        self.scenario_name = scenario
        self.control = control

    async def swap_meter(self, old: str, new: str) -> None:
        (self.control / "swap-request").write_text(f"{old} {new}", "utf-8")
        for _ in range(1000):
            if (self.control / "swap-done").exists():
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("the test process did not swap the meters")


def context_from(config: dict[str, Any]) -> AppContext:
    gwa = config["gwa"]
    context = AppContext(data_dir=Path(config["data_dir"]))
    context.han = HanTarget(**config["han"])
    context.gwa = GwaTarget(base_url=gwa["base_url"], trust_pem=Path(gwa["trust"]).read_bytes(),
                            client=CertificateChain(Path(gwa["certfile"]), Path(gwa["keyfile"])),
                            tls_group=gwa["tls_group"])
    options = dict(config["link_options"])
    options["backoff"] = tuple(options["backoff"])
    context.extras[LINK_OPTIONS_EXTRA] = options
    context.optical = OpticalTarget(config["optical"])
    context.demo = RemoteSite(config["scenario"], Path(config["control"]))
    return context


async def run(config: dict[str, Any], run_id: str) -> None:
    context = context_from(config)
    folder = Path(config["data_dir"])
    engine = Engine(JobStore(folder / "jobs.sqlite3"), AuditLog(folder / "audit.sqlite3"),
                    ScriptedInteraction(config["answers"]), context)
    await engine.run(METER_CHANGE, config["data"], run_id=run_id)


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text("utf-8"))
    asyncio.run(run(config, argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
