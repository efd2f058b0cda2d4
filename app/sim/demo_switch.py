"""Switching the demo scenario of a running tool (Demo-Szenario wechseln).

The window of ``smgwct demo`` holds one :class:`~app.context.AppContext`, and every view and the
engine keep that object. :func:`switch_scenario` therefore stops the running embedded default,
starts a new one on another scenario (same data folder, host, port policy and thread mode) and
points the *same* context at it: HAN, GWA and optical targets, ``context.demo`` and the extras
the embedded default sets. The link states go back to "unknown", so that the connection panel
shows the new targets unchecked.

A scenario that cannot be loaded is refused before anything is stopped. When the new scenario
does not start (a busy port, say), the previous one is started again; if that fails too, the
context is left without targets and the links say why. Either way a
:class:`ScenarioSwitchError` tells the technician what happened, in German and English.

Also here: the list of shipped scenarios with their titles (:func:`scenario_infos`), which
scenario a flow would rather start from (:func:`suggested_scenario`, from
:data:`~app.sim.demo_site.FLOW_SCENARIOS`) and the demo work orders (:func:`demo_job_files`).
Nothing here imports Qt.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.context import AppContext, Link, LinkState
from app.errors import SmgwctError, Text
from app.resources import resource_path
from app.sim.demo_site import DEFAULT_SCENARIO, FLOW_SCENARIOS

if TYPE_CHECKING:
    from app.sim.embedded import EmbeddedDefault
    from app.store.audit import AuditLog

log = logging.getLogger(__name__)

Progress = Callable[[Text], None]

#: Scenarios that show the usual start state of a flow; a technician who runs one of these and
#: starts a flow made for another is offered the switch (fault scenarios are left alone).
USUAL_SCENARIOS: tuple[str, ...] = tuple(dict.fromkeys([DEFAULT_SCENARIO,
                                                        *FLOW_SCENARIOS.values()]))
#: ``AppContext.extras`` keys the embedded default fills (see ``EmbeddedDefault._fill_context``)
_DEMO_EXTRAS = ("demo_meters", "gwa_offline_defaults")

NOT_RUNNING = Text(
    "The demo environment is not running.",
    "Die Demo-Umgebung läuft nicht.",
)
START_AGAIN = Text(
    "Choose a scenario under Demo > Switch scenario… to start it again.",
    "Wählen Sie unter Demo > Szenario wechseln… ein Szenario, um sie wieder zu starten.",
)


class ScenarioSwitchError(SmgwctError):
    """The switch did not happen; ``running`` names the scenario that runs now (``None``: the
    demo environment is stopped)."""

    def __init__(self, message: Text, *, hint: Text | None = None, running: str | None = None,
                 field: str = "scenario") -> None:
        super().__init__(message, field=field, hint=hint)
        self.running = running


@dataclass(frozen=True)
class ScenarioInfo:
    """A demo scenario as the technician picks it: name, title and description (de/en)."""

    name: str
    title: Text
    description: Text

    @property
    def label(self) -> str:
        return scenario_label(self.name)


# -- what runs ------------------------------------------------------------------------------------


def running_embedded(context: AppContext | None) -> EmbeddedDefault | None:
    """The embedded default ``context`` works with, if any (never imports it otherwise)."""
    demo = getattr(context, "demo", None)
    if demo is None:
        return None
    from app.sim.embedded import EmbeddedDefault

    return demo if isinstance(demo, EmbeddedDefault) else None


def current_scenario(context: AppContext | None) -> str | None:
    """The name (or file path) of the scenario the context's embedded default runs."""
    embedded = running_embedded(context)
    return embedded.scenario_name if embedded is not None else None


def scenario_label(scenario: str) -> str:
    """A scenario as shown in the window: its name, or a scenario file's stem."""
    path = Path(scenario)
    return path.stem if path.suffix == ".json" or len(path.parts) > 1 else scenario


def suggested_scenario(context: AppContext | None, flow: str) -> str | None:
    """The scenario to offer before ``flow`` starts, or ``None`` to just run it.

    Offered when the flow has a usual start scenario (``FLOW_SCENARIOS``) other than the running
    one and the running one is itself a usual one (``default``, ``delivery``,
    ``meter-change``): a fault scenario or a scenario file was chosen on purpose.
    """
    wanted = FLOW_SCENARIOS.get(flow)
    running = current_scenario(context)
    if wanted is None or running is None or running == wanted:
        return None
    return wanted if running in USUAL_SCENARIOS else None


# -- the scenarios --------------------------------------------------------------------------------


def scenario_info(scenario: str) -> ScenarioInfo:
    """Title and description of a shipped scenario or a scenario file (only these fields are
    read; a file that cannot be read gets its name as title)."""
    path = Path(scenario)
    if path.suffix != ".json" and len(path.parts) == 1:
        path = resource_path("demo", f"{path.name}.json")
    name = scenario_label(scenario)
    try:
        data = json.loads(path.read_text("utf-8"))
        title, description = data.get("title") or {}, data.get("description") or {}
        return ScenarioInfo(scenario, Text(str(title.get("en") or name),
                                           str(title.get("de") or title.get("en") or name)),
                            Text(str(description.get("en") or ""),
                                 str(description.get("de") or description.get("en") or "")))
    except (OSError, ValueError, AttributeError):
        return ScenarioInfo(scenario, Text(name, name), Text("", ""))


def scenario_infos(current: str | None = None) -> list[ScenarioInfo]:
    """The shipped scenarios, the usual ones first (``default``, ``delivery``,
    ``meter-change``), then the others by name; ``current`` is added when it is a file."""
    from app.sim.smgw.scenario import available

    names = available()
    ordered = [n for n in USUAL_SCENARIOS if n in names]
    ordered += [n for n in names if n not in ordered]
    if current is not None and current not in ordered:
        ordered.insert(0, current)
    return [scenario_info(name) for name in ordered]


def check_scenario(scenario: str) -> None:
    """Load and validate ``scenario`` and its site file (raises their errors)."""
    from app.sim.demo_site import load_site
    from app.sim.smgw.scenario import Scenario

    Scenario.load(scenario)
    load_site(scenario)


# -- the switch -----------------------------------------------------------------------------------


async def switch_scenario(
    context: AppContext,
    scenario: str,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    template: EmbeddedDefault | None = None,
) -> EmbeddedDefault:
    """Stop the context's embedded default, start one on ``scenario`` and point ``context``
    (the same object) at it; returns the new embedded default.

    ``fresh`` starts from the scenario's initial state (forgets what earlier sessions changed).
    ``template`` gives data folder, host, ports and thread mode when the context has no running
    embedded default (after a failed switch). Raises :class:`ScenarioSwitchError`.
    """
    say = progress or (lambda _text: None)
    old = running_embedded(context)
    model = old or template
    if model is None:
        raise ScenarioSwitchError(
            Text("The scenario can only be switched in demo mode.",
                 "Das Szenario lässt sich nur im Demo-Modus wechseln."),
            hint=Text("Start the tool with 'smgwct demo'.",
                      "Starten Sie das Werkzeug mit 'smgwct demo'."))
    name = str(scenario)
    try:
        await asyncio.to_thread(check_scenario, name)
    except SmgwctError as exc:
        raise _refused(exc, old) from exc

    label = scenario_label(name)
    if old is not None:
        say(Text(f"Stopping the scenario '{scenario_label(old.scenario_name)}'…",
                 f"Szenario '{scenario_label(old.scenario_name)}' wird beendet…"))
        await _stop(context, old)
    _detach(context)
    say(Text(f"Starting the scenario '{label}'…", f"Szenario '{label}' wird gestartet…"))
    new = _like(model, name, fresh=fresh, context=context)
    try:
        await new.start(progress)
    except Exception as exc:  # noqa: BLE001 - every start failure becomes a message
        log.warning("demo scenario %s did not start", name, exc_info=True)
        failure = start_failure(exc, label)
        restored = await _restart(context, old, progress) if old is not None else None
        _reset_links(context, None if restored is not None else NOT_RUNNING)
        raise _not_started(failure, restored) from exc
    _reset_links(context)
    return new


def _like(model: EmbeddedDefault, scenario: str, *, fresh: bool,
          context: AppContext) -> EmbeddedDefault:
    """A new embedded default like ``model`` (data folder, host, ports, meters, threads)."""
    from app.sim.embedded import EmbeddedDefault

    return EmbeddedDefault(scenario=scenario, data_dir=model.data_dir, host=model.host,
                           han_port=model.han_port, gwa_port=model.gwa_port,
                           meters=model.start_meters, threaded=model.threaded, fresh=fresh,
                           context=context)


async def _stop(context: AppContext, embedded: EmbeddedDefault) -> None:
    """Close the GWA links the runs share (they lead to the old GWA), then the simulators."""
    from app.processes.flows.gwa_common import close_run_links

    try:
        await close_run_links(context)
    except Exception:  # noqa: BLE001 - a link that does not close must not block the switch
        log.warning("the shared GWA links did not close", exc_info=True)
    await embedded.stop()


def _detach(context: AppContext) -> None:
    """Forget the stopped simulators' targets (the new embedded default fills them again)."""
    context.demo = None
    context.han = context.gwa = context.optical = None
    for key in _DEMO_EXTRAS:
        context.extras.pop(key, None)


async def _restart(context: AppContext, old: EmbeddedDefault,
                   progress: Progress | None) -> EmbeddedDefault | None:
    """Start the previous scenario again where it stopped; ``None`` if that fails too."""
    again = _like(old, old.scenario_name, fresh=False, context=context)
    label = scenario_label(old.scenario_name)
    if progress is not None:
        progress(Text(f"Starting the scenario '{label}' again…",
                      f"Szenario '{label}' wird wieder gestartet…"))
    try:
        await again.start(progress)
    except Exception:  # noqa: BLE001 - reported as "not running"
        log.warning("demo scenario %s did not start again", old.scenario_name, exc_info=True)
        _detach(context)
        return None
    return again


def _reset_links(context: AppContext, error: Text | None = None) -> None:
    """Every link back to "unknown" (targets changed); ``error`` says why nothing runs."""
    for link in Link:
        context.update_link(link, state=LinkState.UNKNOWN, peer=None, fingerprint=None,
                            last_error=error)


def _refused(exc: SmgwctError, old: EmbeddedDefault | None) -> ScenarioSwitchError:
    running = old.scenario_name if old is not None else None
    still = (Text(f"The scenario '{scenario_label(running)}' keeps running.",
                  f"Das Szenario '{scenario_label(running)}' läuft weiter.")
             if running is not None else NOT_RUNNING)
    return ScenarioSwitchError(
        Text(f"{exc.message.en} {still.en}", f"{exc.message.de} {still.de}"), hint=exc.hint,
        running=running, field=exc.field or "scenario")


def _not_started(failure: SmgwctError, restored: EmbeddedDefault | None) -> ScenarioSwitchError:
    if restored is not None:
        label = scenario_label(restored.scenario_name)
        now = Text(f"The previous scenario '{label}' runs again.",
                   f"Das vorige Szenario '{label}' läuft wieder.")
        return ScenarioSwitchError(
            Text(f"{failure.message.en} {now.en}", f"{failure.message.de} {now.de}"),
            hint=failure.hint, running=restored.scenario_name)
    hint = failure.hint
    joined = START_AGAIN if hint is None else Text(f"{hint.en} {START_AGAIN.en}",
                                                   f"{hint.de} {START_AGAIN.de}")
    return ScenarioSwitchError(
        Text(f"{failure.message.en} {NOT_RUNNING.en}", f"{failure.message.de} {NOT_RUNNING.de}"),
        hint=joined, running=None)


def start_failure(exc: BaseException, scenario: str) -> SmgwctError:
    """Why the scenario did not start, for the technician (no traceback)."""
    if isinstance(exc, SmgwctError):
        return exc
    in_use = (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))
    if isinstance(exc, OSError) and exc.errno in in_use:
        return SmgwctError(
            Text(f"The scenario '{scenario}' did not start: a network port it needs is already "
                 f"in use ({exc.strerror}).",
                 f"Das Szenario '{scenario}' ist nicht gestartet: ein Netzwerk-Port, den es "
                 f"braucht, ist bereits belegt ({exc.strerror})."),
            hint=Text("Close the other program (or a second smgwct) that uses it, then switch "
                      "again.",
                      "Beenden Sie das andere Programm (oder ein zweites smgwct), das ihn nutzt, "
                      "und wechseln Sie erneut."))
    return SmgwctError(
        Text(f"The scenario '{scenario}' did not start: {type(exc).__name__}: {exc}",
             f"Das Szenario '{scenario}' ist nicht gestartet: {type(exc).__name__}: {exc}"),
        hint=Text("The details are in the log file.",
                  "Die Einzelheiten stehen in der Protokolldatei."))


# -- demo work orders -----------------------------------------------------------------------------


def demo_job_files() -> list[Path]:
    """The demo work orders (``resources/demo/jobs/*.json``: handover, meter change)."""
    folder = resource_path("demo", "jobs")
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def demo_job_id(path: Path) -> str | None:
    """The job number in a demo work order file (``None`` if it cannot be read)."""
    try:
        data: Any = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    job_id = data.get("job_id") if isinstance(data, dict) else None
    return job_id if isinstance(job_id, str) and job_id else None


def add_demo_jobs(folder: Path, audit: AuditLog | None = None) -> list[str]:
    """Add the demo work orders that the job list in ``folder`` does not hold yet; returns the
    job numbers added. Blocking (SQLite): call it in a worker thread.

    A job that appears meanwhile (the technician imported the same file) is left alone; a
    demo file that cannot be imported raises its error (it names the file and the field).
    """
    from app.store.jobs import DB_FILE, FILES_DIR, WorkOrderStore

    added: list[str] = []
    with WorkOrderStore(folder / DB_FILE, folder / FILES_DIR, audit) as store:
        known = {summary.job_id.lower() for summary in store.list()}
        for path in demo_job_files():
            job_id = demo_job_id(path)
            if job_id is None or job_id.lower() in known:
                continue
            try:
                added.append(store.import_file(path).job_id)
            except SmgwctError as exc:
                if exc.field != "job_id":  # not "already in the job list"
                    raise
    return added


__all__ = [
    "add_demo_jobs",
    "USUAL_SCENARIOS",
    "ScenarioInfo",
    "ScenarioSwitchError",
    "check_scenario",
    "current_scenario",
    "demo_job_files",
    "demo_job_id",
    "running_embedded",
    "scenario_info",
    "scenario_infos",
    "scenario_label",
    "start_failure",
    "suggested_scenario",
    "switch_scenario",
]
