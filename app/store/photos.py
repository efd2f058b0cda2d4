"""Photos of a job (Fotodokumentation): which files count as photos, and their captions.

Only pictures a camera or phone writes are accepted, recognised by their content, not by the
file name; :meth:`app.store.jobs.WorkOrderStore.add_photo` applies these checks, so the window
and ``smgwct job photo`` refuse the same files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from app.errors import InvalidValue, SmgwctError, Text
from app.store.work_order_check import CONTROL, xs_token

PHOTO_PATTERNS = "*.jpg *.jpeg *.png *.heic *.heif *.webp"
MAX_CAPTION = 200
#: POSIX only; on Windows the regular-file check alone keeps pipes and devices out
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = _NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def image_kind(head: bytes) -> str | None:
    """``"jpeg"``, ``"png"``, ``"heif"`` or ``"webp"`` from a file's first bytes, else ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _unreadable(path: Path, exc: OSError) -> SmgwctError:
    return SmgwctError(
        Text(f"The file {path} cannot be read: {exc.strerror or exc}",
             f"Die Datei {path} kann nicht gelesen werden: {exc.strerror or exc}"),
        field="photo",
        hint=Text("Pick the photo again (is the memory card still inserted?).",
                  "Wählen Sie das Foto erneut (steckt die Speicherkarte noch?)."),
    )


def _not_a_file(path: Path) -> InvalidValue:
    name = path.name or str(path)
    return InvalidValue(
        Text(f"{name} is not a regular file (but e.g. a folder, a named pipe or a device), so "
             f"it cannot be a photo.",
             f"{name} ist keine gewöhnliche Datei (sondern z. B. ein Ordner, eine Pipe oder ein "
             f"Gerät) und kann daher kein Foto sein."),
        field="photo",
        hint=Text("Pick the picture file itself, as the camera or phone saved it.",
                  "Wählen Sie die Bilddatei selbst, wie Kamera oder Handy sie gespeichert "
                  "haben."),
    )


def open_photo(path: Path) -> BinaryIO:
    """``path`` opened for reading in binary mode, only if it is a regular file.

    A named pipe would block the reader until some writer appears, a device may never end: both
    are refused before being read. The file is opened without blocking where the system has
    ``O_NONBLOCK`` (POSIX), so that a file swapped for a pipe after the check cannot block either.
    """
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise _not_a_file(path)
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat() and open()
            raise _not_a_file(path)
        if _NONBLOCK:
            os.set_blocking(fd, True)  # a regular file: plain reads from here on
        return os.fdopen(fd, "rb")
    except OSError as exc:
        os.close(fd)
        raise _unreadable(path, exc) from exc
    except BaseException:
        os.close(fd)
        raise


def check_photo(path: Path) -> str:
    """The image kind of ``path``; a file that is no photo (or no regular file) is refused with
    the reason."""
    try:
        with open_photo(path) as file:
            head = file.read(16)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    kind = image_kind(head)
    if kind is None:
        raise InvalidValue(
            Text(f"The file {path.name} is not a photo (JPEG, PNG, HEIC or WebP).",
                 f"Die Datei {path.name} ist kein Foto (JPEG, PNG, HEIC oder WebP)."),
            field="photo",
            hint=Text("Pick the picture file itself, as the camera or phone saved it.",
                      "Wählen Sie die Bilddatei selbst, wie Kamera oder Handy sie gespeichert "
                      "haben."),
        )
    return kind


def check_caption(caption: str | None) -> str | None:
    """The caption as stored (``None`` when empty); at most :data:`MAX_CAPTION` characters."""
    clean = xs_token(caption or "")
    if not clean:
        return None
    if len(clean) > MAX_CAPTION or CONTROL.search(clean):
        raise InvalidValue(
            Text(f"A photo caption has at most {MAX_CAPTION} characters, without control "
                 f"characters.",
                 f"Eine Bildunterschrift hat höchstens {MAX_CAPTION} Zeichen, ohne "
                 f"Steuerzeichen."),
            field="caption",
            hint=Text("Shorten the caption, remove control characters (e.g. pasted from another "
                      "program) and attach the photo again.",
                      "Kürzen Sie die Bildunterschrift, entfernen Sie Steuerzeichen (z. B. aus "
                      "einem anderen Programm eingefügt) und hängen Sie das Foto erneut an."),
        )
    return clean


__all__ = ["MAX_CAPTION", "PHOTO_PATTERNS", "check_caption", "check_photo", "image_kind",
           "open_photo"]
