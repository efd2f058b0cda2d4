"""Local access to gateways at their HAN interface: one adapter per vendor dialect.

``adapter_class(vendor)`` gives the adapter for ``theben`` (CONEXA ``IF_GW_CON``); the PPC and
EMH dialects register here when they exist. See ``docs/han.md``.
"""

from __future__ import annotations

from app.errors import InvalidValue, Text
from app.transports.han.base import HanAdapter


def adapter_class(vendor: str) -> type[HanAdapter]:
    """The adapter class for ``vendor`` (case-insensitive); InvalidValue if there is none."""
    from app.transports.han.emh import EmhAdapter
    from app.transports.han.ppc import PpcAdapter
    from app.transports.han.theben import ThebenAdapter

    adapters: dict[str, type[HanAdapter]] = {
        "theben": ThebenAdapter, "ppc": PpcAdapter, "emh": EmhAdapter,
    }
    key = vendor.strip().lower()
    if key not in adapters:
        raise InvalidValue(
            Text(f"No HAN adapter for the vendor '{vendor}'; known: {', '.join(sorted(adapters))}.",
                 f"Kein HAN-Adapter für den Hersteller '{vendor}'; bekannt: "
                 f"{', '.join(sorted(adapters))}."),
            field="vendor",
        )
    return adapters[key]


__all__ = ["HanAdapter", "adapter_class"]
