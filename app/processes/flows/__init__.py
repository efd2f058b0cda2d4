"""The technician flows the tool offers, in the order the UI lists them."""

from __future__ import annotations

from app.processes.engine import Flow


def registry() -> list[Flow]:
    """All flows, first the ones a technician needs most."""
    from app.processes.flows.connection_test import CONNECTION_TEST
    from app.processes.flows.logs import LOGS
    from app.processes.flows.self_test import SELF_TEST
    from app.processes.flows.technical_data import TECHNICAL_DATA

    return [CONNECTION_TEST, TECHNICAL_DATA, LOGS, SELF_TEST]


def by_name(name: str) -> Flow:
    for flow in registry():
        if flow.name == name:
            return flow
    raise KeyError(name)
