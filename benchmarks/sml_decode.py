"""SML decoding speed: our SmlStreamDecoder against smllib on the same real captures.

Run: ``.venv/bin/python benchmarks/sml_decode.py [--seconds 2] [--check]``. Both decoders get
the bytes of every file in tests/fixtures/sml; ours builds typed messages, checks the file and
message CRCs and also decodes the frames whose CRC failed, smllib (SmlStreamReader.get_frame +
SmlFrame.parse_frame) checks the file CRC and builds its objects. Frames per second count the
frames with a valid CRC, which both deliver. ``--check`` exits with 1 when ours is slower.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.protocols.sml import SmlStreamDecoder  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "sml"


def ours(captures: list[bytes]) -> int:
    frames = 0
    for data in captures:
        decoder = SmlStreamDecoder()
        frames += sum(1 for f in decoder.feed(data) if f.crc_ok)
        decoder.flush()
    return frames


def smllib_decode(captures: list[bytes]) -> int:
    from smllib import SmlStreamReader
    from smllib.errors import CrcError

    frames = 0
    for data in captures:
        reader = SmlStreamReader()
        reader.add(data)
        while True:
            try:
                frame = reader.get_frame()
            except CrcError:
                continue
            if frame is None:
                break
            frame.parse_frame()
            frames += 1
    return frames


def measure(func: Callable[[list[bytes]], int], captures: list[bytes], seconds: float) -> float:
    """Frames per second over at least ``seconds`` (best of three rounds)."""
    func(captures)  # warm up
    best = 0.0
    for _ in range(3):
        frames = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds / 3:
            frames += func(captures)
        best = max(best, frames / elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per decoder")
    parser.add_argument("--check", action="store_true", help="exit 1 if ours is slower")
    args = parser.parse_args(argv)

    captures = [p.read_bytes() for p in sorted(FIXTURES.glob("*.bin"))]
    frames_ours, frames_theirs = ours(captures), smllib_decode(captures)
    print(f"captures: {len(captures)} files, {sum(map(len, captures))} bytes")
    print(f"frames with valid CRC: ours {frames_ours}, smllib {frames_theirs}")
    fps_ours = measure(ours, captures, args.seconds)
    fps_theirs = measure(smllib_decode, captures, args.seconds)
    ratio = fps_ours / fps_theirs
    print(f"ours:   {fps_ours:10.0f} frames/s")
    print(f"smllib: {fps_theirs:10.0f} frames/s")
    print(f"ratio ours/smllib: {ratio:.2f}")
    return 1 if args.check and ratio < 1.0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
