"""``smgwct selftest``: check that this installation has everything it needs."""

from __future__ import annotations

import argparse
import json

from app.cli import language
from app.selfcheck import Check, Verdict, run_core_checks

_MARK = {Verdict.OK: "OK  ", Verdict.WARN: "WARN", Verdict.FAIL: "FAIL"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "selftest", help="check this installation (Selbsttest der Installation)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-qt", action="store_true", help="skip the Qt checks")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks: list[Check] = run_core_checks()
    if not args.no_qt:
        from ui.selftest import run_qt_checks  # the composition root may reach into ui/

        checks += run_qt_checks()
    lang = language()
    if args.json:
        print(json.dumps([
            {"name": c.name, "verdict": c.verdict.value, "detail": c.detail,
             "fix": c.fix.get(lang) if c.fix else None} for c in checks
        ], indent=2, ensure_ascii=False))
    else:
        for c in checks:
            line = f"{_MARK[c.verdict]} {c.name:22} {c.detail}"
            if c.fix and c.verdict is not Verdict.OK:
                line += f"\n     -> {c.fix.get(lang)}"
            print(line)
        failed = [c.name for c in checks if c.verdict is Verdict.FAIL]
        if failed:
            print(("Fehlend/defekt: " if lang == "de" else "Missing/broken: ") + ", ".join(failed))
        else:
            print("Alle Prüfungen bestanden." if lang == "de" else "All checks passed.")
    return 1 if any(c.verdict is Verdict.FAIL for c in checks) else 0
