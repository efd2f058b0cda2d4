"""The ``smgw-state`` code: 8 hex digits, a 32-bit field of state flags (Betriebszustand).

CONEXA reports its operating state in ``smgw-info`` as 8 hex digits (``a0000000`` in normal
operation); the meaning of the bits is not public. This project defines the bit field below and
both the virtual SMGW and the HAN client use it, so that ``a0000000`` is normal operation and every
other set bit is something the technician has to look at. See ``docs/han.md``.

========  ===========================  ====================================================
bit       flag                         meaning
========  ===========================  ====================================================
31        RUNNING                      boot finished, application running
30        SECURE_STATE                 at least one secure state is active (summary bit)
29        TIME_VALID                   legal time synchronised from the GWA
28        UPDATE_ACTIVE                firmware update in progress
27        SECURE_BOOT                  Secure State Boot (image, log storage, version)
26        SECURE_APPLICATION           Secure State Application (storage full, clock drift)
25        SECURE_CONNECTIVITY          Secure State Connectivity (HAN/WAN not separated)
24        SECURE_MEASUREMENT           Secure State Measurement (time invalid)
23        DELIVERY_CERTIFICATES        WAN uses Gütesiegel certificates (not personalised)
22        GWA_UNREACHABLE              no TLS channel to the GWA could be set up
21        HAN_DISABLED                 HAN and CLS access switched off
20        NO_METER                     no LMN meter with HDLC address / pairing
19        LOG_STORAGE_FULL             log storage nearly full
18        MEASUREMENT_STORAGE_FULL     measurement storage nearly full
17..0     –                            reserved, 0
========  ===========================  ====================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.errors import InvalidValue, Text


class StateFlag(enum.IntFlag):
    """Bits of the ``smgw-state`` code."""

    NONE = 0
    MEASUREMENT_STORAGE_FULL = 1 << 18
    LOG_STORAGE_FULL = 1 << 19
    NO_METER = 1 << 20
    HAN_DISABLED = 1 << 21
    GWA_UNREACHABLE = 1 << 22
    DELIVERY_CERTIFICATES = 1 << 23
    SECURE_MEASUREMENT = 1 << 24
    SECURE_CONNECTIVITY = 1 << 25
    SECURE_APPLICATION = 1 << 26
    SECURE_BOOT = 1 << 27
    UPDATE_ACTIVE = 1 << 28
    TIME_VALID = 1 << 29
    SECURE_STATE = 1 << 30
    RUNNING = 1 << 31


#: The state of a gateway in normal operation.
NORMAL = StateFlag.RUNNING | StateFlag.TIME_VALID

#: Secure-state bits by the short names used in the state model.
SECURE_STATE_FLAGS: dict[str, StateFlag] = {
    "boot": StateFlag.SECURE_BOOT,
    "application": StateFlag.SECURE_APPLICATION,
    "connectivity": StateFlag.SECURE_CONNECTIVITY,
    "measurement": StateFlag.SECURE_MEASUREMENT,
}

_KNOWN = 0
for _flag in StateFlag:
    _KNOWN |= int(_flag)

FLAG_TEXT: dict[StateFlag, Text] = {
    StateFlag.RUNNING: Text("running", "in Betrieb"),
    StateFlag.SECURE_STATE: Text("secure state active", "sicherer Zustand aktiv"),
    StateFlag.TIME_VALID: Text("time synchronised", "Zeit synchronisiert"),
    StateFlag.UPDATE_ACTIVE: Text("firmware update in progress", "Firmware-Update läuft"),
    StateFlag.SECURE_BOOT: Text("Secure State Boot", "Secure State Boot"),
    StateFlag.SECURE_APPLICATION: Text("Secure State Application", "Secure State Application"),
    StateFlag.SECURE_CONNECTIVITY: Text(
        "Secure State Connectivity (HAN and WAN not separated)",
        "Secure State Connectivity (HAN und WAN nicht getrennt)",
    ),
    StateFlag.SECURE_MEASUREMENT: Text(
        "Secure State Measurement (time invalid)", "Secure State Measurement (Zeit ungültig)"
    ),
    StateFlag.DELIVERY_CERTIFICATES: Text(
        "delivery state: Gütesiegel certificates", "Auslieferzustand: Gütesiegelzertifikate"
    ),
    StateFlag.GWA_UNREACHABLE: Text("no connection to the GWA", "keine Verbindung zum GWA"),
    StateFlag.HAN_DISABLED: Text("HAN access switched off", "HAN-Zugang abgeschaltet"),
    StateFlag.NO_METER: Text("no meter connected", "kein Zähler angebunden"),
    StateFlag.LOG_STORAGE_FULL: Text("log storage nearly full", "Logspeicher fast voll"),
    StateFlag.MEASUREMENT_STORAGE_FULL: Text(
        "measurement storage nearly full", "Messwertspeicher fast voll"
    ),
}


def encode_state(flags: StateFlag) -> str:
    """The 8 lower-case hex digits of ``flags``; sets the secure-state summary bit itself."""
    value = int(flags)
    if value & sum(int(f) for f in SECURE_STATE_FLAGS.values()):
        value |= int(StateFlag.SECURE_STATE)
    return f"{value:08x}"


@dataclass(frozen=True)
class GatewayState:
    """A decoded ``smgw-state`` code."""

    raw: str
    flags: StateFlag
    unknown_bits: int = 0

    @property
    def secure_states(self) -> tuple[str, ...]:
        return tuple(name for name, flag in SECURE_STATE_FLAGS.items() if flag in self.flags)

    @property
    def normal(self) -> bool:
        """Running with valid time and nothing else to look at."""
        return self.flags == NORMAL and not self.unknown_bits

    def words(self) -> list[Text]:
        """The set flags in reading order (most significant first), plus unknown bits."""
        out = [FLAG_TEXT[f] for f in sorted(FLAG_TEXT, key=int, reverse=True) if f in self.flags]
        if not self.flags & StateFlag.RUNNING:
            out.insert(0, Text("not running (booting)", "nicht in Betrieb (Start)"))
        if self.unknown_bits:
            bits = f"{self.unknown_bits:08x}"
            out.append(Text(f"unknown bits {bits}", f"unbekannte Bits {bits}"))
        return out

    def describe(self) -> Text:
        words = self.words()
        return Text(", ".join(w.en for w in words), ", ".join(w.de for w in words))


def decode_state(text: str, *, field: str = "smgw-state") -> GatewayState:
    """Read 8 hex digits (any case, optional ``0x``); raise InvalidValue otherwise."""
    cleaned = text.strip().lower().removeprefix("0x")
    if len(cleaned) != 8 or any(ch not in "0123456789abcdef" for ch in cleaned):
        raise InvalidValue(
            Text(
                f"The gateway state must be 8 hex digits (e.g. a0000000), got '{text[:40]}'.",
                f"Der Gateway-Zustand muss aus 8 Hex-Ziffern bestehen (z. B. a0000000), "
                f"erhalten: '{text[:40]}'.",
            ),
            field=field,
        )
    value = int(cleaned, 16)
    return GatewayState(cleaned, StateFlag(value & _KNOWN), value & ~_KNOWN)
