"""SML 1.04 codec (*Smart Message Language*, BSI TR-03109-1 Anlage IV Teil b): sans-I/O
decoder and encoder for the telegrams meters push on their optical INFO interface.

Layers: :mod:`.crc` (CRC-16 variants), :mod:`.tl` (type-length fields), :mod:`.messages`
(Open/GetList/Close/Attention responses, generic bodies), :mod:`.transport` (escaping,
framing, :class:`SmlStreamDecoder`), :mod:`.units` (DLMS unit symbols).
"""

from app.protocols.sml.crc import CrcVariant, crc16_kermit, crc16_x25, match_crc
from app.protocols.sml.errors import SmlDecodeError, SmlError
from app.protocols.sml.messages import (
    MESSAGE_NAMES,
    SmlAttentionResponse,
    SmlBody,
    SmlCloseResponse,
    SmlGenericBody,
    SmlGetListResponse,
    SmlListEntry,
    SmlMessage,
    SmlOpenResponse,
    SmlTime,
    SmlValue,
    decode_messages,
    encode_message,
)
from app.protocols.sml.tl import END, encode_value, read_value
from app.protocols.sml.transport import (
    START,
    SmlCounters,
    SmlFrameResult,
    SmlStreamDecoder,
    build_meter_file,
    decode_frame,
    encode_file,
    encode_sml_file,
    escape_body,
    iter_list_entries,
)
from app.protocols.sml.units import DLMS_UNITS, unit_symbol

__all__ = [
    "DLMS_UNITS",
    "END",
    "MESSAGE_NAMES",
    "START",
    "CrcVariant",
    "SmlAttentionResponse",
    "SmlBody",
    "SmlCloseResponse",
    "SmlCounters",
    "SmlDecodeError",
    "SmlError",
    "SmlFrameResult",
    "SmlGenericBody",
    "SmlGetListResponse",
    "SmlListEntry",
    "SmlMessage",
    "SmlOpenResponse",
    "SmlStreamDecoder",
    "SmlTime",
    "SmlValue",
    "build_meter_file",
    "crc16_kermit",
    "crc16_x25",
    "decode_frame",
    "decode_messages",
    "encode_file",
    "encode_message",
    "encode_sml_file",
    "encode_value",
    "escape_body",
    "iter_list_entries",
    "match_crc",
    "read_value",
    "unit_symbol",
]
