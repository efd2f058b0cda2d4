"""ADMIN-SERVICE downloads of the virtual SMGW (spec ch. 5.4/5.5): resumable ``Range`` requests.

The part received so far is kept next to the target as ``<file>.part`` with ``<file>.part.json``
(entity tag and size), so a broken or paused download goes on from its last stored byte. Pieces
are bounded ranges (``bytes=a-b``); ``If-Range`` makes the GWA send the whole content again if it
changed. Only after the last byte is the CMS signature checked and the content written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from app.errors import SmgwctError, Text
from app.processes.micro.channels import content_path
from app.processes.micro.content import ContentKeys
from app.processes.micro.http_range import parse_content_range
from app.protocols import cms
from app.sim.smgw.wan_http import ChannelError, WanConnection


class DownloadError(SmgwctError):
    """An ADMIN-SERVICE download failed; the part already received is kept for resuming."""


@dataclass(frozen=True)
class DownloadResult:
    """State of an ADMIN-SERVICE download."""

    content_id: str
    complete: bool
    received: int
    """Bytes received in this call."""
    resumed_from: int
    size: int | None
    path: Path | None = None
    sha256: str | None = None
    """SHA-256 of the verified content (complete downloads)."""


def _mismatch() -> DownloadError:
    return DownloadError(Text("The GWA sent a range other than asked for.",
                              "Der GWA hat einen anderen Bereich gesendet als angefragt."),
                         field="content")


async def fetch_content(
    conn: WanConnection,
    content_id: str,
    dest: Path,
    *,
    keys: ContentKeys,
    signer_sha256: str,
    answer_timeout: float,
    max_bytes: int | None = None,
    piece: int = 256 * 1024,
) -> DownloadResult:
    """Fetch ``content_id`` over the open channel ``conn`` into ``dest`` (see module docstring)."""
    part = dest.with_name(dest.name + ".part")
    meta_path = dest.with_name(dest.name + ".part.json")
    meta = json.loads(meta_path.read_text("utf-8")) if meta_path.exists() else {}
    have = part.stat().st_size if part.exists() and meta.get("etag") else 0
    resumed_from = have
    received = 0
    size: int | None = meta.get("size")
    with part.open("ab" if have else "wb") as fh:
        while size is None or have < size:
            if max_bytes is not None and received >= max_bytes:
                break
            want = piece if max_bytes is None else min(piece, max_bytes - received)
            headers = {"Range": f"bytes={have}-{have + want - 1}"}
            if have and meta.get("etag"):
                headers["If-Range"] = meta["etag"]
            try:
                answer = await conn.request("GET", content_path(content_id), headers=headers,
                                            timeout=answer_timeout)
            except ChannelError as err:
                raise DownloadError(err.message, field="admin_service") from None
            if answer.status == 200:  # the whole content (first piece, or it changed)
                fh.seek(0)
                fh.truncate()
                fh.write(answer.body)
                have = received = size = len(answer.body)
                resumed_from = 0
            elif answer.status == 206:
                rng = parse_content_range(answer.header("content-range"))
                if rng is None or rng.first != have or rng.length != len(answer.body):
                    raise _mismatch()
                fh.write(answer.body)
                have += len(answer.body)
                received += len(answer.body)
                size = rng.size
            else:
                raise DownloadError(
                    Text(f"The GWA answered HTTP {answer.status} for content {content_id}.",
                         f"Der GWA antwortete HTTP {answer.status} für Inhalt {content_id}."),
                    field="content_id")
            fh.flush()
            meta = {"etag": answer.header("etag") or meta.get("etag"), "size": size}
            meta_path.write_text(json.dumps(meta), "utf-8")
            if conn.closed:
                break
    if size is None or have < size:
        return DownloadResult(content_id, False, received, resumed_from, size)
    try:
        verified = await asyncio.to_thread(
            cms.verify, part.read_bytes(), trust=keys.trust, intermediates=keys.chain,
            expected_signer_sha256=signer_sha256)
    except cms.CmsError as err:
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        raise DownloadError(err.message, field="content", hint=err.hint) from None
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(verified.content)
    os.replace(tmp, dest)
    part.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)
    return DownloadResult(content_id, True, received, resumed_from, size, dest,
                          hashlib.sha256(verified.content).hexdigest())
