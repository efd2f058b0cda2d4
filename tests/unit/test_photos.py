"""Which files count as photos (app.store.photos): by content, never by name; never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidValue
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
