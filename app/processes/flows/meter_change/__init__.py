"""Flow "Zähler wechseln" (meter change, spec 6.3): old meter out, new meter in, evidence kept.

Steps, each with what it checks (the work order must name one ``old`` and at least one ``new``
meter):

1. ``job``: the work order is valid for a meter change; the run is attached to its job.
2. ``trust`` / 3. ``identity``: HAN reachable and pinned; the gateway is the work order's.
4. ``gwa``: the GWA accepts the technician certificate and offers the processes needed.
5. ``old_reading``: final reading (Endstand) of the old meter through the read head: its server
   ID must be the work order's old meter; 1.8.0 (and 2.8.0 where the meter has it) are stored in
   the job.
6. ``old_seal``: the seal number (Plombennummer) removed from the old meter and a note, checked
   and stored in the job (``seal`` / ``note`` in the job data answer in advance).
7. ``old_config``: the gateway lists the old meter (its meter profile at the GWA) and which
   evaluation profiles (Auswerteprofile) read it (HAN, or ``evaluation_profiles`` in the job
   data); all of them are read through the GWA and kept in the step data, *before* anything is
   deleted, so that they can be created again for the new meter after a crash too.
8. ``remove_old``: the GWA terminates those evaluation profiles and deletes the old meter profile.
9. ``swap``: the technician removes the old meter, installs the new one and puts the read head
   on it, and confirms ("Neuen Zähler eingebaut und Lesekopf aufgesetzt?").
10. ``new_reading``: the new meter read optically; its server ID must be a ``new`` meter of the
    work order (a different meter stops the flow with both IDs); initial reading stored.
11. ``create_profile``: the GWA creates the new meter's profile (capture list etc. taken over from
    the old one, key material reference from the work order).
12. ``detect``: the gateway detects the new meter on the LMN (its event at the GWA; the HAN list
    where the dialect shows meters without evaluation profiles).
13. ``pairing``: the GWA pairs the new meter with its key M (FE 09 explained).
14. ``evaluation``: the GWA creates the evaluation profiles again, now reading the new meter, with
    first readout (Erstauslesung); the first readout's values are stored in the job.
15. ``han_values``: the new meter's first values are seen over HAN (consumer account) and the
    gateway lists the new meter, not the old one.
16. ``summary``: both readings, the seal, the moved profiles, with the evidence of every line.

Every step that changes the gateway acts through the GWA with idempotency keys stored before the
request (:mod:`~app.processes.flows.gwa_common`): resumed after a crash it finds the GWA's job
again instead of running it twice. Readings stored by a step that runs again replace (withdraw,
audited) the ones of its earlier visit.

Demo mode: the demo world (``AppContext.demo``) may offer ``swap_meter(old, new)`` (a coroutine
function or a plain one): the physical swap of the training site - the old virtual meter leaves
the LMN, the spare one is wired in and the site's read head now faces it. Without it (a real
site) the technician's confirmation is all there is. When no read head is set up, the flow asks
for its port.

Job data (all optional besides ``job``/``job_id``): ``user`` (HAN service account),
``users.consumer`` (HAN consumer account), ``seal``, ``note``, ``evaluation_profiles`` (IDs),
``hdlc_address`` (new meter), ``detect_seconds`` (default 30), ``values_wait_seconds`` (default
60), ``pairing_timeout`` (default 120) and the GWA waiting options of ``gwa_common``.

Modules, in the order of the steps: :mod:`.common` (work order roles, prompts, options),
:mod:`.readings` (read head and readings in the job), :mod:`.final_reading` (steps 1-6),
:mod:`.removal` (7-8), :mod:`.installation` (9-11), :mod:`.detection` (12-13),
:mod:`.first_readout` (14-15), :mod:`.summary` (16) and :mod:`.flow` (the step list).
"""

from __future__ import annotations

from app.processes.flows.meter_change.common import (
    ENERGY,
    NEEDED,
    NOTE_PROMPT,
    PORT_PROMPT,
    SEAL_PROMPT,
    SWAP_PROMPT,
    new_meters,
    old_meter,
)
from app.processes.flows.meter_change.first_readout import moved_profile
from app.processes.flows.meter_change.flow import METER_CHANGE
from app.processes.flows.meter_change.installation import new_meter_profile
from app.processes.flows.meter_change.readings import ensure_read_head, store_readings
from app.processes.flows.meter_change.summary import summary_lines

__all__ = [
    "ENERGY",
    "METER_CHANGE",
    "NEEDED",
    "NOTE_PROMPT",
    "PORT_PROMPT",
    "SEAL_PROMPT",
    "SWAP_PROMPT",
    "ensure_read_head",
    "moved_profile",
    "new_meter_profile",
    "new_meters",
    "old_meter",
    "store_readings",
    "summary_lines",
]
