"""Asking the technician on a terminal (the CLI's UserInteraction)."""

from __future__ import annotations

import asyncio
import getpass
import sys

from app.errors import Text
from app.processes.interaction import (
    InteractionRequest,
    Validator,
    ask_until_valid,
    value_request,
)

_YES = {"j", "ja", "y", "yes"}
_NO = {"n", "nein", "no"}


class TerminalInteraction:
    """Questions on stdin/stdout; blocking reads run in a worker thread."""

    def __init__(self, lang: str = "de") -> None:
        self.lang = lang

    def _t(self, text: Text | None) -> str:
        return text.get(self.lang) if text is not None else ""

    async def _input(self, prompt: str, *, secret: bool = False) -> str:
        def read() -> str:
            if secret:
                return getpass.getpass(prompt)
            print(prompt, end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\r\n")

        return await asyncio.to_thread(read)

    async def confirm(self, prompt: Text, detail: Text | None = None) -> bool:
        if detail is not None:
            print(self._t(detail))
        suffix = " [j/n] " if self.lang == "de" else " [y/n] "
        while True:
            answer = (await self._input(self._t(prompt) + suffix)).strip().lower()
            if answer in _YES:
                return True
            if answer in _NO:
                return False

    async def choose(self, prompt: Text, options: list[tuple[str, Text]]) -> str:
        print(self._t(prompt))
        for number, (_key, label) in enumerate(options, 1):
            print(f"  {number}) {self._t(label)}")
        while True:
            answer = (await self._input("> ")).strip()
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1][0]
            if answer in {key for key, _ in options}:
                return answer

    async def enter_value(
        self, prompt: Text, *, validator: Validator | None = None, default: str | None = None,
        secret: bool = False,
    ) -> str:
        async def ask_once(request: InteractionRequest) -> str:
            if request.error is not None:
                print(self._t(request.error), file=sys.stderr)
            shown = self._t(request.prompt)
            if request.default and not request.secret:
                shown += f" [{request.default}]"
            value = await self._input(shown + ": ", secret=request.secret)
            return value or (request.default or "")

        request = value_request(prompt, default=default, secret=secret)
        return await ask_until_valid(ask_once, request, validator)
