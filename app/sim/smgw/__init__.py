"""The virtual smart meter gateway (virtuelles SMGW) of the embedded default.

``Scenario.load("default").build_state(pki)`` makes a gateway; ``start_han_server(state, pki)``
serves its HAN interface. The same :class:`SmgwState` is meant for the WAN side.
"""

from app.sim.smgw.clock import Clock, ManualClock, SystemClock
from app.sim.smgw.scenario import Scenario, ScenarioError, available
from app.sim.smgw.server import HanServerHandle, start_han_server
from app.sim.smgw.state import SmgwState

__all__ = [
    "Clock", "HanServerHandle", "ManualClock", "Scenario", "ScenarioError", "SmgwState",
    "SystemClock", "available", "start_han_server",
]
