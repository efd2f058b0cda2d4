"""Serial ports for the optical read head (*optischer Lesekopf*): listing and an async channel.

:func:`list_ports` describes the ports the operating system knows, with the USB details a
technician needs to pick the read head. :class:`SerialChannel` wraps one pyserial port (a device
name such as ``/dev/ttyUSB0`` / ``COM3`` or a pyserial URL such as ``socket://host:port`` or
``loop://``) for asyncio without ``loop.add_reader`` (which the Windows Proactor loop lacks): a
reader thread does the blocking reads and hands the bytes to the event loop through
``call_soon_threadsafe``; writes, setting changes and opening run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import serial
import serial.tools.list_ports

from app.errors import SmgwctError, Text
from app.protocols.iec62056_21 import SerialSettings

__all__ = [
    "SML_SETTINGS",
    "USB_UART_CHIPS",
    "PortInfo",
    "SerialChannel",
    "SerialLinkError",
    "describe_settings",
    "list_ports",
]

SML_SETTINGS: Final = SerialSettings(9600, 8, "N", 1)
"""SML push on the INFO interface of German basic meters: 9600 Bd 8N1."""

#: USB-to-serial bridges found in common optical read heads (vendor ID, product ID) -> chip.
USB_UART_CHIPS: Final[Mapping[tuple[int, int], str]] = {
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6015): "FTDI FT230X",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x067B, 0x2303): "Prolific PL2303",
}

_HEAD_WORDS: Final = re.compile(
    r"\b(ir|infra-?red|optical|optisch\w*|lesekopf|read[- ]?head|hichi|volkszaehler|"
    r"volkszähler|weidmann|d0|iec ?62056)\b",
    re.IGNORECASE,
)
_POLL: Final = 0.03  # seconds one blocking read may take; bounds the reaction to close()
_CHUNK: Final = 4096
_SEVEN_BIT: Final = bytes(i & 0x7F for i in range(256))


class SerialLinkError(SmgwctError):
    """The serial port or URL cannot be opened or failed while in use.

    ``kind``: ``open`` (cannot open), ``io`` (failed while in use), ``closed`` (the peer of a
    ``socket://`` URL hung up).
    """

    def __init__(
        self, message: Text, *, kind: str, port: str, hint: Text | None = None
    ) -> None:
        super().__init__(message, field="port", hint=hint)
        self.kind = kind
        self.port = port


def describe_settings(settings: SerialSettings) -> str:
    """``9600 Bd 8N1``."""
    return f"{settings.baud} Bd {settings.bytesize}{settings.parity}{settings.stopbits}"


# --- port listing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortInfo:
    """A serial port as the operating system reports it.

    ``likely_read_head`` is set for ports whose description names an optical/IR head or whose
    USB bridge chip is one that read heads commonly use; it only orders the list.
    """

    device: str
    description: str
    hwid: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    chip: str | None = None
    likely_read_head: bool = False

    @property
    def usb_id(self) -> str | None:
        """``0403:6001`` for USB devices."""
        if self.vid is None or self.pid is None:
            return None
        return f"{self.vid:04x}:{self.pid:04x}"

    def label(self) -> str:
        """One line for a port picker: device, description, USB ID."""
        parts = [self.device]
        if self.description and self.description not in ("n/a", self.device):
            parts.append(f"– {self.description}")
        if self.usb_id:
            parts.append(f"[{self.usb_id}]")
        return " ".join(parts)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "description": self.description,
            "hwid": self.hwid,
            "vid": self.vid,
            "pid": self.pid,
            "serial_number": self.serial_number,
            "manufacturer": self.manufacturer,
            "product": self.product,
            "chip": self.chip,
            "likely_read_head": self.likely_read_head,
        }


def port_info_from(raw: Any) -> PortInfo:
    """A :class:`PortInfo` from a ``serial.tools.list_ports`` entry (or anything alike)."""
    vid = getattr(raw, "vid", None)
    pid = getattr(raw, "pid", None)
    description = str(getattr(raw, "description", "") or "")
    manufacturer = getattr(raw, "manufacturer", None)
    product = getattr(raw, "product", None)
    chip = USB_UART_CHIPS.get((vid, pid)) if vid is not None and pid is not None else None
    words = " ".join(str(w) for w in (description, manufacturer, product) if w)
    likely = chip is not None or bool(_HEAD_WORDS.search(words))
    return PortInfo(
        device=str(raw.device),
        description=description,
        hwid=str(getattr(raw, "hwid", "") or ""),
        vid=vid,
        pid=pid,
        serial_number=getattr(raw, "serial_number", None),
        manufacturer=manufacturer,
        product=product,
        chip=chip,
        likely_read_head=likely,
    )


def list_ports() -> list[PortInfo]:
    """All serial ports, likely read heads first, then by device name."""
    ports = [port_info_from(p) for p in serial.tools.list_ports.comports()]
    ports.sort(key=lambda p: (not p.likely_read_head, p.device))
    return ports


# --- async channel ----------------------------------------------------------------------------


def _open_blocking(url: str, settings: SerialSettings) -> serial.SerialBase:
    port = serial.serial_for_url(url, do_not_open=True)
    port.baudrate = settings.baud
    port.bytesize = settings.bytesize
    port.parity = settings.parity
    port.stopbits = settings.stopbits
    port.timeout = _POLL
    port.write_timeout = 10.0
    port.open()
    return port


def _open_error(url: str, exc: BaseException) -> SerialLinkError:
    reason = str(exc).strip() or type(exc).__name__
    return SerialLinkError(
        Text(
            f"Cannot open the read head port {url!r}: {reason}",
            f"Der Anschluss des Lesekopfs {url!r} lässt sich nicht öffnen: {reason}",
        ),
        kind="open",
        port=url,
        hint=Text(
            "Check that the read head is plugged in and no other program uses the port; "
            "'smgwct meter list-ports' lists the ports (URLs like socket://host:port work too).",
            "Prüfen, ob der Lesekopf eingesteckt ist und kein anderes Programm den Anschluss "
            "belegt; 'smgwct meter list-ports' zeigt die Anschlüsse (auch URLs wie "
            "socket://host:port sind möglich).",
        ),
    )


def _io_error(url: str, exc: BaseException) -> SerialLinkError:
    reason = str(exc).strip() or type(exc).__name__
    closed = "disconnected" in reason
    if closed:
        message = Text(
            f"The connection to {url!r} was closed by the other side.",
            f"Die Verbindung zu {url!r} wurde von der Gegenseite beendet.",
        )
    else:
        message = Text(
            f"The read head port {url!r} failed: {reason}",
            f"Der Anschluss des Lesekopfs {url!r} ist ausgefallen: {reason}",
        )
    return SerialLinkError(
        message,
        kind="closed" if closed else "io",
        port=url,
        hint=Text(
            "Check the USB cable of the read head, then read again.",
            "USB-Kabel des Lesekopfs prüfen, dann erneut lesen.",
        ),
    )


class SerialChannel:
    """One open port, usable from asyncio.

    Bytes arrive through :meth:`read`. With 7 data bits (IEC 62056-21, 7E1) the top bit of
    every received byte is cleared, whether the port did it or not: ``socket://`` and ``loop://``
    carry 8-bit bytes and ignore baud rate and parity, so the codec layer must see 7-bit data
    either way. Always :meth:`close` (or use ``async with``); cancelling a task that waits in
    :meth:`open` closes the port once the worker thread has opened it.
    """

    def __init__(self, port: serial.SerialBase, url: str, settings: SerialSettings) -> None:
        self._port = port
        self.url = url
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._failure: SerialLinkError | None = None
        self.bytes_received = 0
        self._thread = threading.Thread(
            target=self._reader, name=f"serial-reader {url}", daemon=True
        )
        self._thread.start()

    @classmethod
    async def open(cls, url: str, settings: SerialSettings) -> SerialChannel:
        """Open ``url`` with ``settings``; :class:`SerialLinkError` when that fails."""
        task = asyncio.ensure_future(asyncio.to_thread(_open_blocking, url, settings))
        try:
            port = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_close_opened)
            raise
        except (serial.SerialException, ValueError, OSError) as exc:
            raise _open_error(url, exc) from None
        return cls(port, url, settings)

    # state ------------------------------------------------------------------------------------

    @property
    def settings(self) -> SerialSettings:
        return self._settings

    @property
    def is_open(self) -> bool:
        """False once closed (by :meth:`close` or because the port failed)."""
        return not self._stopped.is_set()

    # I/O ----------------------------------------------------------------------------------------

    async def read(self, timeout: float) -> bytes:
        """The bytes received so far, waiting up to ``timeout`` seconds for the first; ``b""``
        when none arrived. Raises :class:`SerialLinkError` when the port failed."""
        if self._failure is not None:
            raise self._failure
        try:
            first = await asyncio.wait_for(self._queue.get(), max(timeout, 0.0))
        except TimeoutError:
            return b""
        data = bytearray()
        item: object = first
        while True:
            if isinstance(item, SerialLinkError):
                self._failure = item  # the reader thread has ended; nothing follows
                break
            data += item  # type: ignore[operator]
            if self._queue.empty():
                break
            item = self._queue.get_nowait()
        if not data and self._failure is not None:
            raise self._failure
        return self._mask(bytes(data))

    def discard_input(self) -> int:
        """Drop everything received but not yet read; returns the number of bytes dropped."""
        dropped = 0
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, bytes):
                dropped += len(item)
            elif isinstance(item, SerialLinkError):
                self._failure = item
        return dropped

    async def write(self, data: bytes) -> None:
        """Send ``data`` and wait until the port has taken it."""
        await self._blocking(self._write_blocking, bytes(data))

    async def configure(self, settings: SerialSettings) -> None:
        """Change baud rate and framing after everything sent so far has left the port."""
        if settings == self._settings:
            return
        await self._blocking(self._configure_blocking, settings)
        self._settings = settings

    async def close(self) -> None:
        """Stop the reader thread and close the port (idempotent, safe to call when failed)."""
        self._stop.set()
        if self._thread.is_alive():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.to_thread(self._thread.join, 2.0))
        if self._thread.is_alive():  # pragma: no cover - a driver stuck in read()
            with contextlib.suppress(Exception):
                self._port.close()

    async def __aenter__(self) -> SerialChannel:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # internals ------------------------------------------------------------------------------

    def _mask(self, data: bytes) -> bytes:
        self.bytes_received += len(data)
        if self._settings.bytesize == 7:
            return data.translate(_SEVEN_BIT)
        return data

    async def _blocking(self, func: Any, arg: Any) -> None:
        if self._failure is not None:
            raise self._failure
        if not self.is_open:
            raise _io_error(self.url, serial.SerialException("port is closed"))
        try:
            await asyncio.to_thread(func, arg)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _io_error(self.url, exc) from None

    def _write_blocking(self, data: bytes) -> None:
        with self._lock:
            self._port.write(data)
            self._port.flush()

    def _configure_blocking(self, settings: SerialSettings) -> None:
        with self._lock:
            self._port.flush()
            self._port.apply_settings(
                {
                    "baudrate": settings.baud,
                    "bytesize": settings.bytesize,
                    "parity": settings.parity,
                    "stopbits": settings.stopbits,
                }
            )

    def _post(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody listens any more
            self._stop.set()

    def _reader(self) -> None:
        port = self._port
        try:
            while not self._stop.is_set():
                try:
                    chunk = port.read(_CHUNK)
                except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                    # TypeError/AttributeError: the descriptor vanished under a failing driver
                    if not self._stop.is_set():
                        self._post(_io_error(self.url, exc))
                    return
                if chunk:
                    self._post(bytes(chunk))
        finally:
            with self._lock, contextlib.suppress(Exception):
                port.close()
            self._stopped.set()


def _close_opened(task: asyncio.Future[serial.SerialBase]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    with contextlib.suppress(Exception):
        task.result().close()
