"""Helper process for ``test_flow_kill_resume``: runs one job flow against a running demo world.

Usage: ``python flow_child.py CONFIG.json``. The config (written by the test) holds the HAN and
GWA addresses of the world the test process serves, the demo PKI files, the data folder, the
flow's name, the run id, the job data and the technician's prepared answers. The test kills this
process with SIGKILL while a GWA process of the flow is running, then resumes the run itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from pathlib import Path
from typing import Any

from app.context import AppContext, GwaTarget, HanTarget
from app.processes.flows import by_name
from app.processes.flows.gwa_common import LINK_OPTIONS_EXTRA
from app.processes.interaction import ScriptedInteraction
from app.security.tls import CertificateChain
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


async def run(config: dict[str, Any]) -> str:
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
