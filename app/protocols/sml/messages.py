"""SML messages (*SML-Nachrichten*, SML 1.04 ch. 5-7; TR-03109-1 Anlage IV b).

A message is a list of six: transactionId, groupNo, abortOnError, messageBody (a choice: tag
plus body), crc16 and endOfSmlMsg. The crc16 covers the message from its first TL byte up to
the byte before crc16 (see :mod:`app.protocols.sml.crc`). Meter telegrams carry
``OpenResponse``, ``GetListResponse`` and ``CloseResponse``; ``AttentionResponse`` reports an
error. Any other body (profile lists and packs, requests, vendor tags) is kept generically as
:class:`SmlGenericBody` so that nothing received is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from app.protocols.sml.crc import CrcVariant, crc16_x25, match_crc
from app.protocols.sml.errors import SmlDecodeError, SmlError
from app.protocols.sml.tl import (
    END,
    OPTIONAL,
    encode_octets,
    encode_signed,
    encode_unsigned,
    encode_value,
    list_header,
    read_value,
)

__all__ = [
    "MESSAGE_NAMES",
    "SmlAttentionResponse",
    "SmlBody",
    "SmlCloseResponse",
    "SmlGenericBody",
    "SmlGetListResponse",
    "SmlListEntry",
    "SmlMessage",
    "SmlOpenResponse",
    "SmlTime",
    "SmlValue",
    "decode_messages",
    "encode_message",
]

SmlValue = int | bytes | bool | list[Any] | None
"""A decoded SML value (``SML_Value`` and generic fields)."""

TAG_OPEN_RESPONSE: Final = 0x0101
TAG_CLOSE_RESPONSE: Final = 0x0201
TAG_GET_LIST_RESPONSE: Final = 0x0701
TAG_ATTENTION_RESPONSE: Final = 0xFF01

MESSAGE_NAMES: Final[dict[int, str]] = {
    0x0100: "OpenRequest",
    0x0101: "OpenResponse",
    0x0200: "CloseRequest",
    0x0201: "CloseResponse",
    0x0300: "GetProfilePackRequest",
    0x0301: "GetProfilePackResponse",
    0x0400: "GetProfileListRequest",
    0x0401: "GetProfileListResponse",
    0x0500: "GetProcParameterRequest",
    0x0501: "GetProcParameterResponse",
    0x0600: "SetProcParameterRequest",
    0x0601: "SetProcParameterResponse",
    0x0700: "GetListRequest",
    0x0701: "GetListResponse",
    0x0800: "GetCosemRequest",
    0x0801: "GetCosemResponse",
    0x0900: "SetCosemRequest",
    0x0901: "SetCosemResponse",
    0x0A00: "ActionCosemRequest",
    0x0A01: "ActionCosemResponse",
    0xFF01: "AttentionResponse",
}


class _Shape(Exception):
    """A known body does not have the layout the specification gives it (internal)."""


def _bytes(v: Any, name: str) -> bytes:
    if type(v) is bytes:
        return v
    raise _Shape(f"{name} is not an octet string")


def _opt_bytes(v: Any, name: str) -> bytes | None:
    if v is None or type(v) is bytes:
        return v
    raise _Shape(f"{name} is not an octet string")


def _opt_int(v: Any, name: str) -> int | None:
    if v is None or type(v) is int:
        return v
    raise _Shape(f"{name} is not an integer")


def _list(v: Any, sizes: tuple[int, ...], name: str) -> list[Any]:
    if type(v) is list and len(v) in sizes:
        return v
    expected = " or ".join(str(s) for s in sizes)
    raise _Shape(f"{name} is not a list of {expected}")


@dataclass(frozen=True, slots=True)
class SmlTime:
    """``SML_Time``: a choice of secIndex (1), timestamp (2, Unix seconds) or localTimestamp
    (3, with offsets in minutes). ``kind == "raw"`` is a bare integer some meters (e.g. Holley
    DTZ541) send without the choice wrapper."""

    kind: str
    value: int
    local_offset: int | None = None
    season_offset: int | None = None

    @classmethod
    def from_value(cls, v: Any) -> SmlTime | None:
        if v is None:
            return None
        if type(v) is int:
            return cls("raw", v)
        if type(v) is list and len(v) == 2 and type(v[0]) is int:
            tag, inner = v
            if tag == 1 and type(inner) is int:
                return cls("sec_index", inner)
            if tag == 2 and type(inner) is int:
                return cls("timestamp", inner)
            if tag == 3 and type(inner) is list and len(inner) == 3:
                ts, local, season = inner
                if type(ts) is int and type(local) is int and type(season) is int:
                    return cls("local_timestamp", ts, local, season)
        raise _Shape("time is not an SML_Time choice")

    def encode(self) -> bytes:
        if self.kind == "raw":
            return encode_unsigned(self.value, 4)
        tag = {"sec_index": 1, "timestamp": 2, "local_timestamp": 3}.get(self.kind)
        if tag is None:
            raise ValueError(f"unknown SML_Time kind {self.kind!r}")
        inner = encode_unsigned(self.value, 4)
        if tag == 3:
            inner = (
                list_header(3)
                + inner
                + encode_signed(self.local_offset or 0, 2)
                + encode_signed(self.season_offset or 0, 2)
            )
        return list_header(2) + encode_unsigned(tag, 1) + inner


def _opt_time(v: Any) -> SmlTime | None:
    return SmlTime.from_value(v)


def _encode_time(t: SmlTime | None) -> bytes:
    return OPTIONAL if t is None else t.encode()


def _opt_octets(v: bytes | None) -> bytes:
    return OPTIONAL if v is None else encode_octets(v)


@dataclass(frozen=True, slots=True)
class SmlListEntry:
    """``SML_ListEntry``: objName (OBIS, 6 bytes), status, valTime, unit (DLMS code), scaler
    (power of ten), value and valueSignature."""

    obj_name: bytes
    value: SmlValue
    unit: int | None = None
    scaler: int | None = None
    status: int | None = None
    val_time: SmlTime | None = None
    value_signature: bytes | None = None

    @classmethod
    def from_value(cls, v: Any) -> SmlListEntry:
        obj, status, val_time, unit, scaler, value, sig = _list(v, (7,), "list entry")
        value_ok = value is None or type(value) in (int, bytes, bool, list)
        if not value_ok:
            raise _Shape("list entry value has no SML_Value type")
        return cls(
            obj_name=_bytes(obj, "objName"),
            value=value,
            unit=_opt_int(unit, "unit"),
            scaler=_opt_int(scaler, "scaler"),
            status=_opt_int(status, "status"),
            val_time=_opt_time(val_time),
            value_signature=_opt_bytes(sig, "valueSignature"),
        )

    def encode(self) -> bytes:
        status = OPTIONAL if self.status is None else encode_unsigned(self.status)
        unit = OPTIONAL if self.unit is None else encode_unsigned(self.unit, 1)
        scaler = OPTIONAL if self.scaler is None else encode_signed(self.scaler, 1)
        return b"".join(
            (
                list_header(7),
                encode_octets(self.obj_name),
                status,
                _encode_time(self.val_time),
                unit,
                scaler,
                encode_value(self.value),
                _opt_octets(self.value_signature),
            )
        )


@dataclass(frozen=True, slots=True)
class SmlOpenResponse:
    """``SML_PublicOpen.Res`` (tag 0x0101)."""

    server_id: bytes
    req_file_id: bytes
    codepage: bytes | None = None
    client_id: bytes | None = None
    ref_time: SmlTime | None = None
    sml_version: int | None = None

    tag = TAG_OPEN_RESPONSE
    name = "OpenResponse"

    @classmethod
    def from_value(cls, v: Any) -> SmlOpenResponse:
        codepage, client, req_file, server, ref_time, version = _list(v, (6,), "OpenResponse")
        return cls(
            server_id=_bytes(server, "serverId"),
            req_file_id=_bytes(req_file, "reqFileId"),
            codepage=_opt_bytes(codepage, "codepage"),
            client_id=_opt_bytes(client, "clientId"),
            ref_time=_opt_time(ref_time),
            sml_version=_opt_int(version, "smlVersion"),
        )

    def encode(self) -> bytes:
        version = OPTIONAL if self.sml_version is None else encode_unsigned(self.sml_version, 1)
        return b"".join(
            (
                list_header(6),
                _opt_octets(self.codepage),
                _opt_octets(self.client_id),
                encode_octets(self.req_file_id),
                encode_octets(self.server_id),
                _encode_time(self.ref_time),
                version,
            )
        )


@dataclass(frozen=True, slots=True)
class SmlGetListResponse:
    """``SML_GetList.Res`` (tag 0x0701): the meter's current values."""

    server_id: bytes
    entries: tuple[SmlListEntry, ...]
    list_name: bytes | None = None
    client_id: bytes | None = None
    act_sensor_time: SmlTime | None = None
    list_signature: bytes | None = None
    act_gateway_time: SmlTime | None = None

    tag = TAG_GET_LIST_RESPONSE
    name = "GetListResponse"

    @classmethod
    def from_value(cls, v: Any) -> SmlGetListResponse:
        client, server, list_name, sensor_time, val_list, sig, gw_time = _list(
            v, (7,), "GetListResponse"
        )
        if val_list is None:
            val_list = []
        if type(val_list) is not list:
            raise _Shape("valList is not a list")
        return cls(
            server_id=_bytes(server, "serverId"),
            entries=tuple(SmlListEntry.from_value(e) for e in val_list),
            list_name=_opt_bytes(list_name, "listName"),
            client_id=_opt_bytes(client, "clientId"),
            act_sensor_time=_opt_time(sensor_time),
            list_signature=_opt_bytes(sig, "listSignature"),
            act_gateway_time=_opt_time(gw_time),
        )

    def encode(self) -> bytes:
        return b"".join(
            (
                list_header(7),
                _opt_octets(self.client_id),
                encode_octets(self.server_id),
                _opt_octets(self.list_name),
                _encode_time(self.act_sensor_time),
                list_header(len(self.entries)),
                *(e.encode() for e in self.entries),
                _opt_octets(self.list_signature),
                _encode_time(self.act_gateway_time),
            )
        )


@dataclass(frozen=True, slots=True)
class SmlCloseResponse:
    """``SML_PublicClose.Res`` (tag 0x0201)."""

    global_signature: bytes | None = None

    tag = TAG_CLOSE_RESPONSE
    name = "CloseResponse"

    @classmethod
    def from_value(cls, v: Any) -> SmlCloseResponse:
        (sig,) = _list(v, (1,), "CloseResponse")
        return cls(_opt_bytes(sig, "globalSignature"))

    def encode(self) -> bytes:
        return list_header(1) + _opt_octets(self.global_signature)


@dataclass(frozen=True, slots=True)
class SmlAttentionResponse:
    """``SML_Attention.Res`` (tag 0xFF01): an error or hint number (OBIS-like, 6 bytes)."""

    server_id: bytes
    attention_no: bytes
    attention_msg: bytes | None = None
    attention_details: Any = None

    tag = TAG_ATTENTION_RESPONSE
    name = "AttentionResponse"

    @classmethod
    def from_value(cls, v: Any) -> SmlAttentionResponse:
        server, number, msg, details = _list(v, (4,), "AttentionResponse")
        return cls(
            server_id=_bytes(server, "serverId"),
            attention_no=_bytes(number, "attentionNo"),
            attention_msg=_opt_bytes(msg, "attentionMsg"),
            attention_details=details,
        )

    def encode(self) -> bytes:
        return b"".join(
            (
                list_header(4),
                encode_octets(self.server_id),
                encode_octets(self.attention_no),
                _opt_octets(self.attention_msg),
                encode_value(self.attention_details),
            )
        )


@dataclass(frozen=True, slots=True)
class SmlGenericBody:
    """Any other body, decoded generically (lists, ints, bytes, bools, None)."""

    tag: int
    content: Any

    @property
    def name(self) -> str:
        return MESSAGE_NAMES.get(self.tag, f"0x{self.tag:04X}")

    def encode(self) -> bytes:
        return encode_value(self.content)


SmlBody = (
    SmlOpenResponse | SmlGetListResponse | SmlCloseResponse | SmlAttentionResponse | SmlGenericBody
)

_BODY_TYPES: Final[dict[int, Any]] = {
    TAG_OPEN_RESPONSE: SmlOpenResponse,
    TAG_GET_LIST_RESPONSE: SmlGetListResponse,
    TAG_CLOSE_RESPONSE: SmlCloseResponse,
    TAG_ATTENTION_RESPONSE: SmlAttentionResponse,
}


@dataclass(frozen=True, slots=True)
class SmlMessage:
    """One SML message. ``crc_variant`` is None when the message CRC did not verify."""

    transaction_id: bytes
    body: SmlBody
    group_no: int = 0
    abort_on_error: int = 0
    crc16: int = 0
    crc_variant: CrcVariant | None = CrcVariant.X25
    offset: int = field(default=0, compare=False)

    @property
    def crc_ok(self) -> bool:
        return self.crc_variant is not None


def _decode_body(tag: int, content: Any) -> tuple[SmlBody, str | None]:
    body_type = _BODY_TYPES.get(tag)
    if body_type is None:
        return SmlGenericBody(tag, content), None
    try:
        return body_type.from_value(content), None
    except _Shape as exc:
        return SmlGenericBody(tag, content), f"{MESSAGE_NAMES[tag]}: {exc}; kept generically"


def _decode_message(
    buf: bytes, pos: int, end: int, base: int
) -> tuple[SmlMessage, int, list[SmlError]]:
    start = pos
    tl = buf[pos]
    if tl not in (0x75, 0x76):
        raise SmlDecodeError(pos, "parse", f"expected an SML message (list of 6), found {tl:02x}")
    p = pos + 1
    tid, p = read_value(buf, p, end, 1)
    group, p = read_value(buf, p, end, 1)
    abort, p = read_value(buf, p, end, 1)
    body_pos = p
    choice, p = read_value(buf, p, end, 1)
    crc_pos = p
    crc, p = read_value(buf, p, end, 1)
    if tl == 0x76:
        marker, p = read_value(buf, p, end, 1)
        if marker is not END:
            raise SmlDecodeError(crc_pos, "parse", "message does not end with endOfSmlMsg (00)")
    if type(tid) is not bytes:
        raise SmlDecodeError(start, "parse", "transactionId is not an octet string")
    if type(crc) is not int:
        raise SmlDecodeError(crc_pos, "parse", "crc16 is not an unsigned integer")
    if type(choice) is not list or len(choice) != 2 or type(choice[0]) is not int:
        raise SmlDecodeError(body_pos, "parse", "messageBody is not a (tag, body) choice")
    issues: list[SmlError] = []
    body, problem = _decode_body(choice[0], choice[1])
    if problem:
        issues.append(SmlError(base + body_pos, "structure", problem))
    variant = match_crc(buf[start:crc_pos], crc)
    if variant is None:
        issues.append(
            SmlError(
                base + crc_pos,
                "message_crc",
                f"{body.name}: crc16 is {crc:04x}, CRC-16/X.25 (low byte first) gives "
                f"{crc16_x25(buf[start:crc_pos]).to_bytes(2, 'little').hex()}; message dropped",
            )
        )
    message = SmlMessage(
        transaction_id=tid,
        body=body,
        group_no=group if type(group) is int else 0,
        abort_on_error=abort if type(abort) is int else 0,
        crc16=crc,
        crc_variant=variant,
        offset=base + start,
    )
    return message, p, issues


def decode_messages(body: bytes, base: int = 0) -> tuple[list[SmlMessage], list[SmlError]]:
    """All messages of an unescaped SML file body (padding removed).

    Never raises for bad input: stops at the first malformed message and reports it. Offsets
    (of messages and errors) are positions in ``body`` plus ``base``.
    """
    messages: list[SmlMessage] = []
    issues: list[SmlError] = []
    pos = 0
    end = len(body)
    while pos < end:
        if body[pos] == 0x00:  # stray fill byte between messages
            pos += 1
            continue
        try:
            message, pos, found = _decode_message(body, pos, end, base)
        except SmlDecodeError as exc:
            issues.append(exc.as_record(base))
            break
        except RecursionError:  # pragma: no cover - MAX_DEPTH keeps recursion shallow
            issues.append(SmlError(base + pos, "parse", "nesting too deep"))
            break
        messages.append(message)
        issues.extend(found)
    return messages, issues


def encode_message(
    body: SmlBody,
    transaction_id: bytes,
    group_no: int = 0,
    abort_on_error: int = 0,
) -> bytes:
    """One complete SML message with its crc16 (CRC-16/X.25, low byte first)."""
    tag = body.tag
    head = b"".join(
        (
            list_header(6),
            encode_octets(transaction_id),
            encode_unsigned(group_no, 1),
            encode_unsigned(abort_on_error, 1),
            list_header(2),
            encode_unsigned(tag, 4),
            body.encode(),
        )
    )
    crc = crc16_x25(head)
    return head + b"\x63" + crc.to_bytes(2, "little") + b"\x00"


def encode_messages(messages: Sequence[tuple[SmlBody, bytes]]) -> bytes:
    """Several messages back to back: ``(body, transaction_id)`` pairs."""
    return b"".join(encode_message(body, tid) for body, tid in messages)
