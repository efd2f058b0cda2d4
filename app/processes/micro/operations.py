"""Names of administration operations for logs, traces and progress (docs/protocol/04-02-03).

An operation is sent as an element but stands for an HTTP method on a resource; that resource
path (``PUT /profiles/meter/01005e318002.1emh0012345678.sm``) is how both ends name it.
"""

from __future__ import annotations

from app.protocols.admin import (
    CallMethod,
    CreateProfile,
    DeleteProfile,
    Operation,
    ReadProfile,
    UpdateProfile,
)
from app.protocols.admin.methods import METHOD_ELEMENTS


def operation_path(op: Operation) -> str:
    """The resource path the operation stands for, e.g. ``POST /methods/pairing``."""
    if isinstance(op, CreateProfile):
        return f"POST /profiles/{op.profile.kind.value}"
    if isinstance(op, UpdateProfile):
        return f"PUT /profiles/{op.profile.kind.value}/{op.profile.id.text}"
    if isinstance(op, ReadProfile):
        return f"GET /profiles/{op.ref.kind.value}/{op.ref.id.text}"
    if isinstance(op, DeleteProfile):
        return f"DELETE /profiles/{op.ref.kind.value}/{op.ref.id.text}"
    if isinstance(op, CallMethod):
        return f"POST /methods/{METHOD_ELEMENTS.get(type(op.call), 'unknown')}"
    return "POST /unknown"


def method_timeout(op: Operation) -> int | None:
    """The ``timeout`` a method call carries (pairing, Crypto-Reset), else None."""
    if isinstance(op, CallMethod):
        value = getattr(op.call, "timeout_seconds", None)
        return int(value) if value is not None else None
    return None
