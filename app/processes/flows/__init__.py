"""The technician flows the tool offers, in the order the UI lists them."""

from __future__ import annotations

from app.processes.engine import Flow


def registry() -> list[Flow]:
    """All flows, first the ones a technician needs most."""
    from app.processes.flows.connection_test import CONNECTION_TEST
    from app.processes.flows.device_discovery import DISCOVERY, job_variants
    from app.processes.flows.handover import HANDOVER
    from app.processes.flows.logs import LOGS
    from app.processes.flows.meter_change import METER_CHANGE
    from app.processes.flows.pairing import PAIRING
    from app.processes.flows.self_test import SELF_TEST
    from app.processes.flows.technical_data import TECHNICAL_DATA

    technical_data, logs = job_variants(TECHNICAL_DATA, LOGS)  # with their job integration
    return [CONNECTION_TEST, HANDOVER, METER_CHANGE, PAIRING, DISCOVERY, technical_data, logs,
            SELF_TEST]


def by_name(name: str) -> Flow:
    for flow in registry():
        if flow.name == name:
            return flow
    raise KeyError(name)
