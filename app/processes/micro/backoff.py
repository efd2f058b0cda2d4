"""Reconnect back-off with jitter (docs/protocol/05-02-channels.md, "Common timers").

30 s after the first failure, doubling up to 1 h, each delay spread by ±20 % so that thousands of
gateways do not reconnect in step after a GWA outage. A valid wake-up packet resets it.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays for successive failures; :meth:`reset` after a success."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        jitter: float = 0.2,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or maximum < initial or not 0 <= jitter < 1:
            raise ValueError("back-off needs 0 < initial <= maximum and 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        """Count a failure and return how long to wait before the next attempt."""
        base = min(self.maximum, self.initial * 2 ** min(self.failures, 62))
        self.failures += 1
        spread = 1.0 + self.jitter * (2.0 * self._rand() - 1.0)
        return base * spread

    def reset(self) -> None:
        self.failures = 0
