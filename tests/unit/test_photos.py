"""Which files count as photos (app.store.photos): by content, never by name; never a crash."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidValue
from app.store import photos
from app.store.photos import check_caption, check_photo, image_kind


@given(st.binary(max_size=64))
def test_any_bytes_give_a_kind_or_none(head: bytes) -> None:
    assert image_kind(head) in (None, "jpeg", "png", "heif", "webp")


@given(st.binary(max_size=32))
def test_the_jpeg_marker_decides_whatever_follows(tail: bytes) -> None:
    assert image_kind(b"\xff\xd8\xff" + tail) == "jpeg"


@pytest.mark.parametrize(("head", "kind"), [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "png"),
    (b"\0\0\0\x18ftypheic" + b"\0" * 4, "heif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "webp"),
    (b"%PDF-1.7\n", None),
])
def test_known_signatures(head: bytes, kind: str | None) -> None:
    assert image_kind(head) == kind


def test_a_text_file_named_jpg_is_refused_with_the_file_named(tmp_path) -> None:
    fake = tmp_path / "cabinet.jpg"
    fake.write_text("not a picture", "utf-8")
    with pytest.raises(InvalidValue) as err:
        check_photo(fake)
    assert err.value.field == "photo" and "cabinet.jpg" in err.value.message.de


@given(st.text(max_size=300))
def test_captions_are_kept_short_and_clean_or_refused(caption: str) -> None:
    try:
        clean = check_caption(caption)
    except InvalidValue as exc:
        assert exc.field == "caption"
    else:
        assert clean is None or (0 < len(clean) <= 200 and clean == clean.strip())


# --- files that are no regular file (Fotodokumentation: only picture files) ----------------------


def _check_with_deadline(path: Path, seconds: float = 5.0) -> BaseException | str:
    """``check_photo(path)``: its result or error; fails (instead of hanging) when it blocks."""
    outcome: list[BaseException | str] = []

    def target() -> None:
        try:
            outcome.append(check_photo(path))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():  # a blocked open() of a FIFO waits for a writer: give it one
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(seconds)
        pytest.fail(f"check_photo blocked on {path}")
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_a_named_pipe_is_refused_at_once_with_its_name(tmp_path) -> None:
    fifo = tmp_path / "kamera.jpg"
    os.mkfifo(fifo)
    started = time.monotonic()
    err = _check_with_deadline(fifo)
    assert time.monotonic() - started < 2
    assert isinstance(err, InvalidValue) and err.field == "photo"
    assert "kamera.jpg" in err.message.en and "kamera.jpg" in err.message.de
    assert "not a regular file" in err.message.en
    assert "keine gewöhnliche Datei" in err.message.de


def test_a_folder_is_refused_as_no_regular_file(tmp_path) -> None:
    folder = tmp_path / "DCIM.jpg"
    folder.mkdir()
    err = _check_with_deadline(folder)
    assert isinstance(err, InvalidValue) and err.field == "photo"
    assert "DCIM.jpg" in err.message.en and "not a regular file" in err.message.en


def test_open_photo_reads_a_regular_file_normally(tmp_path) -> None:
    data = b"\xff\xd8\xff" + bytes(range(256)) * 5000
    photo = tmp_path / "ok.jpg"
    photo.write_bytes(data)
    with photos.open_photo(photo) as file:
        assert file.read() == data
    assert check_photo(photo) == "jpeg"
