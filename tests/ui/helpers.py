"""Fake flows and small helpers of the GUI tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.errors import SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome

# --- fake flows -------------------------------------------------------------------------------


async def reach_han(ctx: StepContext) -> StepOutcome:
    ctx.progress(0.5, Text("Handshake…", "Handshake…"))
    ctx.trace("han", "tx", "GET /smgw/info HTTP/1.1")
    await asyncio.sleep(0.01)
    ctx.trace("han", "rx", "HTTP/1.1 200 OK")
    return StepOutcome({"peer": "EDEM0100000001"},
                       Text("Connected to EDEM0100000001", "Verbunden mit EDEM0100000001"))


async def reach_gwa_ok(ctx: StepContext) -> StepOutcome:
    return StepOutcome({}, Text("GWA answered", "GWA hat geantwortet"))


GWA_REFUSED = Text("The GWA refused the client certificate.",
                   "Der GWA hat das Client-Zertifikat abgelehnt.")
GWA_HINT = Text("Check the technician certificate.", "Prüfen Sie das Monteurszertifikat.")


async def reach_gwa_refused(ctx: StepContext) -> StepOutcome:
    raise SmgwctError(GWA_REFUSED, hint=GWA_HINT)


def fake_flow(*, fail: bool = False) -> Flow:
    return Flow(
        "fake_connection_test",
        Text("Connection test", "Verbindungstest"),
        [
            Step("han", Text("Reach the SMGW over HAN", "SMGW über HAN erreichen"), reach_han),
            Step("gwa", Text("Reach the GWA", "GWA erreichen"),
                 reach_gwa_refused if fail else reach_gwa_ok),
        ],
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop (and Qt) run until ``predicate()`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
