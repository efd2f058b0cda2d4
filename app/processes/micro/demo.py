"""Demo key material of the embedded default (training data, not a secret of anyone).

A real meter ships with its initial key M, which the MSB hands to the GWA (DOMAIN.md §7.4). In
the embedded default every virtual meter's M is derived from its server ID, so that the reference
GWA and the virtual SMGW agree without a key file. Never use this outside the simulators.
"""

from __future__ import annotations

import hashlib

from app.domain import ServerId

_LABEL = b"smgwct demo initial key M|"


def demo_meter_key(server_id: ServerId) -> bytes:
    """The 16-byte initial key M of a virtual meter."""
    return hashlib.sha256(_LABEL + server_id.raw).digest()[:16]
