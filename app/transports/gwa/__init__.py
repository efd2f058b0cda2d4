"""The GWA link: the tool's client of the Gateway Administrator's technician API (§3.2)."""

from app.transports.gwa.client import GwaLink
from app.transports.gwa.errors import GwaLinkError
from app.transports.gwa.processes import PROCESS_NAMES, build_operation, process_name
from app.transports.gwa.results import (
    FlushReport,
    GatewayEvent,
    GwaStatus,
    JobResult,
    ProcessInfo,
    Queued,
)

__all__ = [
    "PROCESS_NAMES", "FlushReport", "GatewayEvent", "GwaLink", "GwaLinkError", "GwaStatus",
    "JobResult", "ProcessInfo", "Queued", "build_operation", "process_name",
]
