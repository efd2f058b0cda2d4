"""Helper process for the kill-and-resume tests (``kill_support``): runs one job flow against a
running demo world.

Usage: ``python flow_child.py CONFIG.json``. The config (written by the test) holds the HAN and
GWA addresses of the world the test process serves, the demo PKI files, the data folder, the
flow's name, the run id, the job data and the technician's prepared answers. The test kills this
process with SIGKILL while a GWA process of the flow is running or the virtual SMGW holds back a
HAN answer, then resumes the run itself.

With ``pause_before_device`` (``{"kind": ..., "source": ..., "marker": FILE}``) the child stops
before it records the first device of that kind and source in the job: it creates ``FILE`` and
waits there (in the store's worker thread) until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

from app.context import AppContext, GwaTarget, HanTarget
from app.processes.flows import by_name
from app.processes.flows.gwa_common import LINK_OPTIONS_EXTRA
from app.processes.interaction import ScriptedInteraction
from app.security.tls import CertificateChain
from app.store.jobs import DeviceRecord, WorkOrderStore
from app.workbench import open_engine


def build_context(config: dict[str, Any]) -> AppContext:
    gwa = config["gwa"]
    context = AppContext(data_dir=Path(config["data_dir"]))
    context.han = HanTarget(**config["han"])
    context.gwa = GwaTarget(
        base_url=gwa["base_url"], trust_pem=Path(gwa["trust"]).read_bytes(),
        client=CertificateChain(Path(gwa["certfile"]), Path(gwa["keyfile"])),
        tls_group=gwa["tls_group"])
    options = dict(config["link_options"])
    options["backoff"] = tuple(options.get("backoff", (0.1,)))
    context.extras[LINK_OPTIONS_EXTRA] = options
    # demo mode: HAN passwords and key M of the virtual devices come from the scenario
    context.demo = types.SimpleNamespace(scenario_name=config["scenario"])
    return context


def pause_before_device(kind: str, source: str, marker: Path) -> None:
    """Stop (for good) before the job store records a device of ``kind`` from ``source``."""
    original = WorkOrderStore.record_device

    def record_device(self: WorkOrderStore, job_id: str, device: DeviceRecord) -> DeviceRecord:
        if (device.kind, device.source) == (kind, source):
            marker.write_text(device.identifier, "utf-8")
            time.sleep(600)  # the test kills this process meanwhile
        return original(self, job_id, device)

    WorkOrderStore.record_device = record_device  # type: ignore[method-assign]


async def run(config: dict[str, Any]) -> str:
    pause = config.get("pause_before_device")
    if pause:
        pause_before_device(pause["kind"], pause["source"], Path(pause["marker"]))
    context = build_context(config)
    engine = open_engine(ScriptedInteraction(config["answers"]), context)
    result = await engine.run(by_name(config["flow"]), config["data"], run_id=config["run_id"])
    return result.outcome


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text("utf-8"))
    outcome = asyncio.run(run(config))
    print(outcome, flush=True)
    return 0 if outcome == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
