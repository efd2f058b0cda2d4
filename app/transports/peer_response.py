"""An aiohttp response that remembers the TLS connection it arrived on (for pin checks).

Small answers release their connection before the caller sees the response, so
``resp.connection`` is often ``None`` by then; this class records the ``ssl_object`` as soon as
the response starts. Pass it as ``response_class`` to ``aiohttp.ClientSession``.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp


class PeerAwareResponse(aiohttp.ClientResponse):
    """A client response carrying ``peer_ssl_object`` (``None`` on a plain TCP connection)."""

    peer_ssl_object: ssl.SSLObject | None = None

    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        transport = connection.transport
        if transport is not None:
            self.peer_ssl_object = transport.get_extra_info("ssl_object")
        return await super().start(connection)


def peer_ssl_object(resp: aiohttp.ClientResponse) -> ssl.SSLObject | None:
    """The TLS object of the connection ``resp`` came on, if the session used this class."""
    return getattr(resp, "peer_ssl_object", None)
