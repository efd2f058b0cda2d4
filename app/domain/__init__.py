"""Value objects of the smart metering domain (identifiers, OBIS codes, logical names)."""

from app.domain.logical_name import LogicalName
from app.domain.obis import Obis
from app.domain.server_id import ServerId, ServerIdKind
from app.domain.smgw_id import SmgwId

__all__ = ["LogicalName", "Obis", "ServerId", "ServerIdKind", "SmgwId"]
