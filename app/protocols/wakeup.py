"""Wake-up packet (*Wake-Up-Paket*, spec sub-process 5.1): build and verify, sans I/O.

The GWA cannot open connections to a gateway; it sends this small signed UDP datagram to make
the gateway open its MANAGEMENT channel. The byte layout is the project's own definition
(docs/protocol/05-01-wake-up-packet.md): a fixed big-endian header signed with ECDSA by the GWA's
SIG key (brainpoolP256r1 / SHA-256 for version 1), the signature as raw ``r || s``.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from app.domain import SmgwId
from app.errors import ConfigurationError, InvalidValue, SmgwctError, Text
from app.security.pki import CertifiedKey

__all__ = [
    "FLAG_KEY_ID",
    "MAGIC",
    "VERSION",
    "WakeUpPacket",
    "WakeUpRejected",
    "WakeUpRejection",
    "WakeUpVerifier",
    "build",
    "decode",
    "gwa_key_id",
]

MAGIC = b"SMWU"
VERSION = 1
FLAG_KEY_ID = 0x01
"""Flags bit 0: the 32-byte GWA key id follows the nonce."""

_HEADER = struct.Struct(">4sBB14sQH16s")
HEADER_SIZE = _HEADER.size  # 46
KEY_ID_SIZE = 32
NONCE_SIZE = 16
MAX_VALID_FOR = 0xFFFF
MAX_DATAGRAM = 512
"""Anything longer is refused before it is looked at."""


def gwa_key_id(cert: x509.Certificate) -> bytes:
    """The key id of a GWA SIG certificate: SHA-256 of its DER encoding (32 bytes)."""
    return cert.fingerprint(hashes.SHA256())


def _signature_size(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> int:
    return 2 * ((key.curve.key_size + 7) // 8)


def _hash_for(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    bits = key.curve.key_size
    return hashes.SHA256() if bits <= 256 else hashes.SHA384() if bits <= 384 else hashes.SHA512()


@dataclass(frozen=True)
class WakeUpPacket:
    """A decoded wake-up packet (fields in wire order)."""

    version: int
    smgw_id: SmgwId
    created: dt.datetime
    valid_for: int
    nonce: bytes
    gwa_key_id: bytes | None
    signature: bytes

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers: everything before it."""
        flags = FLAG_KEY_ID if self.gwa_key_id is not None else 0
        header = _HEADER.pack(
            MAGIC,
            self.version,
            flags,
            self.smgw_id.text.encode("ascii"),
            int(self.created.timestamp()),
            self.valid_for,
            self.nonce,
        )
        return header + (self.gwa_key_id or b"")

    def to_bytes(self) -> bytes:
        """The datagram."""
        return self.signed_bytes() + self.signature

    @property
    def expires(self) -> dt.datetime:
        """End of the validity the GWA asked for (the verifier may cap it)."""
        return self.created + dt.timedelta(seconds=self.valid_for)


# --------------------------------------------------------------------------- rejections


class WakeUpRejection(StrEnum):
    """Why a gateway ignored a wake-up packet."""

    MALFORMED = "malformed"
    VERSION = "version"
    ADDRESSEE = "addressee"
    UNKNOWN_KEY = "unknown_key"
    SIGNATURE = "signature"
    TOO_OLD = "too_old"
    FUTURE = "future"
    REPLAY = "replay"


_REASONS: dict[WakeUpRejection, Text] = {
    WakeUpRejection.MALFORMED: Text(
        "The datagram is not a wake-up packet of this protocol.",
        "Das Datagramm ist kein Wake-Up-Paket dieses Protokolls.",
    ),
    WakeUpRejection.VERSION: Text(
        "The wake-up packet has a version this gateway does not support.",
        "Das Wake-Up-Paket hat eine Version, die dieses Gateway nicht unterstützt.",
    ),
    WakeUpRejection.ADDRESSEE: Text(
        "The wake-up packet is addressed to a different gateway.",
        "Das Wake-Up-Paket ist an ein anderes Gateway adressiert.",
    ),
    WakeUpRejection.UNKNOWN_KEY: Text(
        "The wake-up packet names a GWA key this gateway does not know.",
        "Das Wake-Up-Paket nennt einen GWA-Schlüssel, den dieses Gateway nicht kennt.",
    ),
    WakeUpRejection.SIGNATURE: Text(
        "The signature of the wake-up packet is not valid for the GWA's SIG certificate.",
        "Die Signatur des Wake-Up-Pakets passt nicht zum SIG-Zertifikat des GWA.",
    ),
    WakeUpRejection.TOO_OLD: Text(
        "The wake-up packet is too old (its validity has passed).",
        "Das Wake-Up-Paket ist zu alt (seine Gültigkeit ist abgelaufen).",
    ),
    WakeUpRejection.FUTURE: Text(
        "The wake-up packet was created in the future (clocks differ too much).",
        "Das Wake-Up-Paket wurde in der Zukunft erstellt (die Uhren weichen zu stark ab).",
    ),
    WakeUpRejection.REPLAY: Text(
        "The wake-up packet was already received (replay).",
        "Das Wake-Up-Paket wurde bereits empfangen (Wiedereinspielung).",
    ),
}

_HINTS: dict[WakeUpRejection, Text] = {
    WakeUpRejection.ADDRESSEE: Text(
        "Check the SMGW ID in the GWA inventory.", "Prüfen Sie die SMGW-ID im GWA-Bestand."
    ),
    WakeUpRejection.UNKNOWN_KEY: Text(
        "Check that the gateway's communication profile holds the GWA's current SIG certificate.",
        "Prüfen Sie, ob das Kommunikationsprofil des Gateways das aktuelle SIG-Zertifikat des "
        "GWA enthält.",
    ),
    WakeUpRejection.SIGNATURE: Text(
        "Check that the GWA signs with the key of the SIG certificate in the communication "
        "profile.",
        "Prüfen Sie, ob der GWA mit dem Schlüssel des SIG-Zertifikats aus dem "
        "Kommunikationsprofil signiert.",
    ),
    WakeUpRejection.TOO_OLD: Text(
        "Send a new wake-up packet; check the time synchronisation of GWA and gateway.",
        "Senden Sie ein neues Wake-Up-Paket; prüfen Sie die Zeitsynchronisation von GWA und "
        "Gateway.",
    ),
    WakeUpRejection.FUTURE: Text(
        "Check the time synchronisation of GWA and gateway.",
        "Prüfen Sie die Zeitsynchronisation von GWA und Gateway.",
    ),
    WakeUpRejection.REPLAY: Text(
        "Send a new wake-up packet (each one carries a fresh nonce).",
        "Senden Sie ein neues Wake-Up-Paket (jedes trägt eine neue Nonce).",
    ),
}


class WakeUpRejected(SmgwctError):
    """A wake-up packet was refused; ``reason`` says why, ``detail`` gives the specifics."""

    def __init__(self, reason: WakeUpRejection, detail: str = "") -> None:
        message = _REASONS[reason]
        if detail:
            message = Text(f"{message.en} ({detail})", f"{message.de} ({detail})")
        super().__init__(message, field="wake_up_packet", hint=_HINTS.get(reason))
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------- encoding


def _utc_seconds(when: dt.datetime, field: str) -> int:
    if when.tzinfo is None:
        raise InvalidValue(
            Text(f"{field} needs a time zone (UTC).", f"{field} braucht eine Zeitzone (UTC)."),
            field=field,
        )
    seconds = int(when.timestamp())
    if not 0 <= seconds < 2**64:
        raise InvalidValue(
            Text(f"{field} is outside the range of the packet.",
                 f"{field} liegt außerhalb des Wertebereichs des Pakets."),
            field=field,
        )
    return seconds


def build(
    smgw_id: SmgwId | str,
    signer: CertifiedKey,
    *,
    created: dt.datetime | None = None,
    valid_for: int = 300,
    nonce: bytes | None = None,
    with_key_id: bool = True,
) -> bytes:
    """A signed wake-up datagram for ``smgw_id`` (GWA side; ``signer`` is the GWA SIG key)."""
    target = smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(smgw_id)
    if not 1 <= valid_for <= MAX_VALID_FOR:
        raise InvalidValue(
            Text(f"The validity must be 1 to {MAX_VALID_FOR} seconds, not {valid_for}.",
                 f"Die Gültigkeit muss 1 bis {MAX_VALID_FOR} Sekunden betragen, nicht "
                 f"{valid_for}."),
            field="valid_for",
        )
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise InvalidValue(
            Text(f"The nonce must have {NONCE_SIZE} bytes.",
                 f"Die Nonce muss {NONCE_SIZE} Bytes lang sein."),
            field="nonce",
        )
    when = created or dt.datetime.now(dt.UTC)
    seconds = _utc_seconds(when, "created")
    packet = WakeUpPacket(
        version=VERSION,
        smgw_id=target,
        created=dt.datetime.fromtimestamp(seconds, dt.UTC),
        valid_for=valid_for,
        nonce=bytes(nonce),
        gwa_key_id=gwa_key_id(signer.cert) if with_key_id else None,
        signature=b"",
    )
    key = signer.key
    der = key.sign(packet.signed_bytes(), ec.ECDSA(_hash_for(key)))
    r, s = decode_dss_signature(der)
    half = _signature_size(key) // 2
    return packet.signed_bytes() + r.to_bytes(half, "big") + s.to_bytes(half, "big")


def decode(datagram: bytes) -> WakeUpPacket:
    """Parse the structure of a datagram (no signature or time checks); WakeUpRejected if bad."""
    data = bytes(datagram)
    if len(data) > MAX_DATAGRAM:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, f"{len(data)} bytes")
    if len(data) < 5 or data[:4] != MAGIC:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, "no SMWU header")
    if data[4] != VERSION:
        raise WakeUpRejected(WakeUpRejection.VERSION, f"version {data[4]}")
    if len(data) < HEADER_SIZE:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, f"only {len(data)} bytes")
    _, version, flags, raw_id, created, valid_for, nonce = _HEADER.unpack_from(data)
    if flags & ~FLAG_KEY_ID:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, f"unknown flags {flags:#04x}")
    try:
        text = raw_id.decode("ascii")
        smgw_id = SmgwId(text)
    except (UnicodeDecodeError, InvalidValue):
        raise WakeUpRejected(WakeUpRejection.MALFORMED, "SMGW ID field") from None
    if smgw_id.text != text:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, "SMGW ID not in canonical form")
    if valid_for == 0:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, "validity of 0 seconds")
    offset = HEADER_SIZE
    key_id = None
    if flags & FLAG_KEY_ID:
        key_id = data[offset : offset + KEY_ID_SIZE]
        offset += KEY_ID_SIZE
    signature = data[offset:]
    if len(signature) < 2 or len(signature) % 2:
        raise WakeUpRejected(WakeUpRejection.MALFORMED, "truncated signature")
    try:
        created_at = dt.datetime.fromtimestamp(created, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise WakeUpRejected(WakeUpRejection.MALFORMED, "creation time out of range") from None
    return WakeUpPacket(version, smgw_id, created_at, valid_for, nonce, key_id, signature)


# --------------------------------------------------------------------------- verification


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _ReplayCache:
    """Nonces of accepted packets until they expire; bounded.

    When full, the entry expiring first is dropped and its expiry becomes a floor: packets that
    expire no later than the floor are refused, so a dropped nonce can never be replayed. The
    floor also rises when expired entries are purged, which covers a clock set back.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []
        self.floor = float("-inf")

    def __len__(self) -> int:
        return len(self._expiry)

    def purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            expiry, nonce = heapq.heappop(self._heap)
            self._expiry.pop(nonce, None)
            self.floor = max(self.floor, expiry)

    def seen(self, nonce: bytes) -> bool:
        return nonce in self._expiry

    def add(self, nonce: bytes, expiry: float) -> None:
        self._expiry[nonce] = expiry
        heapq.heappush(self._heap, (expiry, nonce))
        while len(self._expiry) > self._size:
            dropped, old = heapq.heappop(self._heap)
            self._expiry.pop(old, None)
            self.floor = max(self.floor, dropped)


class WakeUpVerifier:
    """The gateway's check of incoming wake-up packets (one instance per gateway).

    ``window_seconds`` caps the validity a packet may claim; ``skew_seconds`` tolerates clock
    differences between GWA and gateway in both directions; ``clock`` returns aware UTC time.
    ``gwa_sig_cert`` is the GWA SIG certificate from the communication profile (several during a
    certificate change).
    """

    def __init__(
        self,
        smgw_id: SmgwId | str,
        gwa_sig_cert: x509.Certificate | Sequence[x509.Certificate],
        *,
        window_seconds: int = 300,
        skew_seconds: int = 30,
        clock: Callable[[], dt.datetime] = _utc_now,
        replay_cache_size: int = 1024,
    ) -> None:
        self.smgw_id = smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(smgw_id)
        certs = [gwa_sig_cert] if isinstance(gwa_sig_cert, x509.Certificate) else list(gwa_sig_cert)
        self._keys: collections.OrderedDict[bytes, ec.EllipticCurvePublicKey] = (
            collections.OrderedDict()
        )
        for cert in certs:
            public = cert.public_key()
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise ConfigurationError(
                    Text("The GWA SIG certificate must carry an EC key.",
                         "Das SIG-Zertifikat des GWA muss einen EC-Schlüssel enthalten."),
                    field="gwa_sig_cert",
                )
            self._keys[gwa_key_id(cert)] = public
        if not self._keys:
            raise ConfigurationError(
                Text("No GWA SIG certificate is configured.",
                     "Es ist kein SIG-Zertifikat des GWA eingerichtet."),
                field="gwa_sig_cert",
            )
        if window_seconds < 1 or skew_seconds < 0 or replay_cache_size < 1:
            raise ConfigurationError(
                Text("Window, clock skew and replay cache size must be positive.",
                     "Zeitfenster, Uhrenabweichung und Größe des Wiederholungsspeichers müssen "
                     "positiv sein."),
                field="window_seconds",
            )
        self.window_seconds = window_seconds
        self.skew_seconds = skew_seconds
        self._clock = clock
        self._cache = _ReplayCache(replay_cache_size)

    @property
    def remembered(self) -> int:
        """Number of nonces currently held against replays."""
        return len(self._cache)

    def verify(self, datagram: bytes) -> WakeUpPacket:
        """The packet if it is for this gateway, authentic, fresh and new; else WakeUpRejected."""
        packet = decode(datagram)
        if packet.smgw_id != self.smgw_id:
            raise WakeUpRejected(WakeUpRejection.ADDRESSEE, f"for {packet.smgw_id.text}")
        if packet.gwa_key_id is not None:
            key = self._keys.get(packet.gwa_key_id)
            if key is None:
                raise WakeUpRejected(WakeUpRejection.UNKNOWN_KEY, packet.gwa_key_id.hex()[:16])
            candidates = [key]
        else:
            candidates = list(self._keys.values())
        candidates = [k for k in candidates if _signature_size(k) == len(packet.signature)]
        if not candidates:
            raise WakeUpRejected(
                WakeUpRejection.MALFORMED, f"signature of {len(packet.signature)} bytes"
            )
        now = self._clock().timestamp()
        created = packet.created.timestamp()
        if created > now + self.skew_seconds:
            raise WakeUpRejected(
                WakeUpRejection.FUTURE, f"{created - now:.0f} s ahead of this gateway's clock"
            )
        expiry = created + min(packet.valid_for, self.window_seconds) + self.skew_seconds
        if now > expiry:
            raise WakeUpRejected(WakeUpRejection.TOO_OLD, f"created {now - created:.0f} s ago")
        if not any(self._signature_ok(packet, key) for key in candidates):
            raise WakeUpRejected(WakeUpRejection.SIGNATURE)
        self._cache.purge(now)
        if self._cache.seen(packet.nonce):
            raise WakeUpRejected(WakeUpRejection.REPLAY, f"nonce {packet.nonce.hex()}")
        if expiry <= self._cache.floor:
            raise WakeUpRejected(WakeUpRejection.REPLAY, "older than the replay memory reaches")
        self._cache.add(packet.nonce, expiry)
        return packet

    @staticmethod
    def _signature_ok(packet: WakeUpPacket, key: ec.EllipticCurvePublicKey) -> bool:
        half = len(packet.signature) // 2
        r = int.from_bytes(packet.signature[:half], "big")
        s = int.from_bytes(packet.signature[half:], "big")
        if r == 0 or s == 0:
            return False
        try:
            key.verify(encode_dss_signature(r, s), packet.signed_bytes(), ec.ECDSA(_hash_for(key)))
        except InvalidSignature:
            return False
        return True

