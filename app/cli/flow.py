"""``smgwct flow``: run the technician flows headless (support, automation, training checks).

``smgwct flow run NAME [--job FILE] [--demo [--scenario S]] [--answers FILE] [--json]`` prints each
step's result as it happens and exits non-zero when the flow fails. ``--answers`` supplies what the
GUI would ask the technician (confirmations, seal numbers); without it an interactive terminal is
asked, and a non-interactive run fails at the first question instead of hanging.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import language
from app.context import AppContext, HanTarget
from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import RunResult
from app.processes.events import Event, FlowFinished, StepFailed, StepSkipped, StepSucceeded
from app.processes.flows import by_name, registry
from app.processes.interaction import ScriptedInteraction, UserInteraction


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("flow", help="run technician flows headless (Abläufe ohne Oberfläche)")
    actions = parser.add_subparsers(dest="flow_action", metavar="ACTION")
    listing = actions.add_parser("list", help="list the flows")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    for name in ("run", "resume"):
        p = actions.add_parser(name, help=f"{name} a flow")
        if name == "run":
            p.add_argument("name", help="flow name (see `smgwct flow list`)")
            p.add_argument("--job", type=Path, help="work order file (XML or JSON)")
        else:
            p.add_argument("run_id", help="the run to continue")
            p.add_argument("name", help="the flow of that run")
        p.add_argument("--demo", action="store_true", help="run against the embedded default")
        p.add_argument("--scenario", default=None,
                       help="demo scenario (with --demo; default: the flow's usual start state, "
                            "see docs/demo.md)")
        p.add_argument("--answers", type=Path, help="JSON file with the technician's answers")
        p.add_argument("--han-host", help="gateway HAN address (without --demo)")
        p.add_argument("--han-port", type=int, default=443)
        p.add_argument("--json", action="store_true", help="one JSON object per event")
        p.set_defaults(func=_run if name == "run" else _resume)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def _list(args: argparse.Namespace) -> int:
    lang = language()
    flows = registry()
    if args.json:
        print(json.dumps([{"name": f.name, "title": {"de": f.title.de, "en": f.title.en},
                           "steps": [s.name for s in f.steps]} for f in flows], ensure_ascii=False))
    else:
        for flow in flows:
            print(f"{flow.name:20} {flow.title.get(lang)}")
    return 0


def _interaction(args: argparse.Namespace) -> UserInteraction:
    if args.answers is not None:
        return ScriptedInteraction.from_file(args.answers)
    if sys.stdin.isatty() and not args.json:
        from app.cli.terminal import TerminalInteraction

        return TerminalInteraction(language())
    return ScriptedInteraction([])  # non-interactive: the first question fails clearly


def _job_data(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from app.store.jobs import read_work_order

    order = read_work_order(path)
    return {"job": order.to_dict()}


class _Printer:
    def __init__(self, as_json: bool, lang: str) -> None:
        self.as_json = as_json
        self.lang = lang

    def _text(self, text: Text | None) -> str:
        return text.get(self.lang) if isinstance(text, Text) else ""

    def __call__(self, event: Event) -> None:
        if self.as_json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
            return
        t = self._text
        if isinstance(event, StepSucceeded):
            print(f"[OK]    {event.step}: {t(event.summary)}", flush=True)
        elif isinstance(event, StepSkipped):
            print(f"[done]  {event.step}: {t(event.summary)}", flush=True)
        elif isinstance(event, StepFailed):
            hint = f" -> {t(event.hint)}" if event.hint else ""
            print(f"[FAIL]  {event.step}: {t(event.error)}{hint}", flush=True)
        elif isinstance(event, FlowFinished):
            print(f"== {event.flow}: {event.outcome}", flush=True)


async def _execute(args: argparse.Namespace, resume_id: str | None) -> int:
    from app.workbench import open_engine

    try:
        flow = by_name(args.name)
    except KeyError:
        names = ", ".join(f.name for f in registry())
        raise InvalidValue(Text(f"There is no flow '{args.name}'; available: {names}.",
                                f"Es gibt keinen Ablauf '{args.name}'; verfügbar: {names}."),
                           field="name") from None
    data = _job_data(getattr(args, "job", None))
    interaction = _interaction(args)
    demo = None
    if args.demo:
        from app.sim.demo_site import scenario_for_flow
        from app.sim.embedded import EmbeddedDefault

        # simulators in their own thread; a new run starts from the scenario, a resumed one
        # finds the state its earlier steps left
        demo = EmbeddedDefault(scenario=args.scenario or scenario_for_flow(flow.name),
                               threaded=True, fresh=resume_id is None)
        await demo.start()
        context = demo.context
    else:
        context = AppContext()
        if args.han_host:
            context.han = HanTarget(host=args.han_host, port=args.han_port)
    try:
        engine = open_engine(interaction, context)
        engine.subscribe(_Printer(args.json, language()))
        result: RunResult = (await engine.resume(resume_id, flow) if resume_id
                             else await engine.run(flow, data))
    finally:
        from app.processes.flows.gwa_common import close_run_links

        await close_run_links(context)
        if demo is not None:
            await demo.stop()
    if args.json:
        print(json.dumps({"type": "RunResult", "run_id": result.run_id, "flow": result.flow,
                          "outcome": result.outcome, "failed_step": result.failed_step},
                         ensure_ascii=False), flush=True)
    return 0 if result.succeeded else 1


def _run(args: argparse.Namespace) -> int:
    return _guarded(args, None)


def _resume(args: argparse.Namespace) -> int:
    return _guarded(args, args.run_id)


def _guarded(args: argparse.Namespace, resume_id: str | None) -> int:
    try:
        return asyncio.run(_execute(args, resume_id))
    except SmgwctError:
        raise
    except EOFError:
        print("smgwct: " + ("Eingabe beendet." if language() == "de" else "input ended."),
              file=sys.stderr)
        return 1
