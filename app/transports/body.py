"""Reading an HTTP answer's body completely, but never more than a cap.

``aiohttp``'s ``resp.content.read(n)`` returns whatever has arrived so far (up to ``n`` bytes), not
the whole body; every transport reads bodies through :func:`read_body` instead.
"""

from __future__ import annotations

import aiohttp

CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The body is larger than the cap (callers turn this into their own protocol error)."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"body larger than {cap} bytes")
        self.cap = cap


async def read_body(resp: aiohttp.ClientResponse, cap: int, *, truncate: bool = False) -> bytes:
    """The whole body of ``resp``; :class:`BodyTooLarge` past ``cap`` bytes.

    With ``truncate`` the first ``cap`` bytes are returned instead (for evidence gathering, where
    a page's beginning is enough).
    """
    if not truncate and resp.content_length is not None and resp.content_length > cap:
        raise BodyTooLarge(cap)
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        if total + len(chunk) > cap:
            if truncate:
                chunks.append(chunk[: cap - total])
                break
            raise BodyTooLarge(cap)
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
