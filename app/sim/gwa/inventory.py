"""The reference GWA's inventory (Gerätebestand) in SQLite: gateways, profiles, events, processes.

* **gateways**: SMGW ID, its TLS, SIG and ENC certificates (the TLS fingerprint is what the AUTH
  state checks, docs/protocol/05-08), its wake-up address, operating state and last contact;
* **profiles**: what the GWA last learned is installed on each gateway (from answers to create,
  read and update);
* **events**: every event the gateways reported over INFO-REPORT, de-duplicated by event ID;
* **processes**: each process run with its (redacted) parameters and outcome.

Keys M of meters are *not* stored here: they are secrets and live in memory only.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.domain import SmgwId
from app.errors import InvalidValue, Text
from app.protocols.admin import Event, Profile, from_xml
from app.security.tls import fingerprint
from app.store.db import Database, Migration, dumps, parse_utc, utc_text

MIGRATIONS = (
    Migration(
        1,
        """
        CREATE TABLE gateways (
            smgw_id TEXT PRIMARY KEY,
            tls_der BLOB NOT NULL,
            sig_der BLOB NOT NULL,
            enc_der BLOB NOT NULL,
            tls_sha256 TEXT NOT NULL,
            sig_sha256 TEXT NOT NULL,
            wakeup_host TEXT,
            wakeup_port INTEGER,
            operating_state TEXT,
            registered TEXT NOT NULL,
            last_contact TEXT
        );
        CREATE INDEX gateways_by_tls ON gateways(tls_sha256);
        CREATE TABLE gateway_profiles (
            smgw_id TEXT NOT NULL REFERENCES gateways(smgw_id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            xml BLOB NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (smgw_id, kind, id)
        );
        CREATE TABLE gateway_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            smgw_id TEXT NOT NULL,
            event_id TEXT NOT NULL UNIQUE,
            sequence INTEGER NOT NULL,
            code INTEGER NOT NULL,
            xml BLOB NOT NULL,
            received TEXT NOT NULL
        );
        CREATE INDEX gateway_events_by_gateway ON gateway_events(smgw_id, seq);
        CREATE TABLE process_runs (
            id TEXT PRIMARY KEY,
            smgw_id TEXT NOT NULL,
            process TEXT NOT NULL,
            params TEXT NOT NULL,
            state TEXT NOT NULL,
            result TEXT,
            started TEXT NOT NULL,
            finished TEXT
        );
        """,
    ),
)


def load_certificate(value: x509.Certificate | bytes | str, field: str) -> x509.Certificate:
    """A certificate from an object, DER or PEM; InvalidValue naming ``field`` otherwise."""
    if isinstance(value, x509.Certificate):
        return value
    data = value.encode("ascii") if isinstance(value, str) else bytes(value)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise InvalidValue(
            Text(f"{field} is not a certificate (PEM or DER expected).",
                 f"{field} ist kein Zertifikat (PEM oder DER erwartet)."),
            field=field,
        ) from None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Gateway:
    """One administered gateway."""

    smgw_id: SmgwId
    tls_cert: x509.Certificate
    sig_cert: x509.Certificate
    enc_cert: x509.Certificate
    wakeup_addr: tuple[str, int] | None
    operating_state: str | None
    registered: dt.datetime
    last_contact: dt.datetime | None

    @property
    def tls_sha256(self) -> str:
        return fingerprint(_der(self.tls_cert))

    @property
    def sig_sha256(self) -> str:
        return fingerprint(_der(self.sig_cert))


@dataclass(frozen=True)
class StoredEvent:
    """An event as the GWA stored it: its own running number, the gateway, the event."""

    seq: int
    smgw_id: SmgwId
    event: Event
    received: dt.datetime


class Inventory:
    """The GWA's SQLite file (thread-safe; async callers use ``inventory.db.call``)."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, "gwa-inventory", MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    # -- gateways ---------------------------------------------------------------------------------

    def register(self, smgw_id: SmgwId, tls: x509.Certificate, sig: x509.Certificate,
                 enc: x509.Certificate, wakeup_addr: tuple[str, int] | None) -> Gateway:
        host, port = wakeup_addr if wakeup_addr is not None else (None, None)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO gateways(smgw_id, tls_der, sig_der, enc_der, tls_sha256, sig_sha256,"
                " wakeup_host, wakeup_port, registered) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(smgw_id) DO UPDATE SET tls_der = excluded.tls_der,"
                " sig_der = excluded.sig_der, enc_der = excluded.enc_der,"
                " tls_sha256 = excluded.tls_sha256, sig_sha256 = excluded.sig_sha256,"
                " wakeup_host = excluded.wakeup_host, wakeup_port = excluded.wakeup_port",
                (smgw_id.text, _der(tls), _der(sig), _der(enc), fingerprint(_der(tls)),
                 fingerprint(_der(sig)), host, port, utc_text()),
            )
        gateway = self.gateway(smgw_id)
        assert gateway is not None
        return gateway

    def gateway(self, smgw_id: SmgwId) -> Gateway | None:
        rows = self.db.read("SELECT * FROM gateways WHERE smgw_id = ?", (smgw_id.text,))
        return _gateway(rows[0]) if rows else None

    def gateways(self) -> list[Gateway]:
        return [_gateway(r) for r in self.db.read("SELECT * FROM gateways ORDER BY smgw_id")]

    def by_tls_fingerprint(self, sha256: str) -> list[Gateway]:
        rows = self.db.read("SELECT * FROM gateways WHERE tls_sha256 = ?", (sha256,))
        return [_gateway(r) for r in rows]

    def touch(self, smgw_id: SmgwId, *, operating_state: str | None = None) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE gateways SET last_contact = ? WHERE smgw_id = ?",
                         (utc_text(), smgw_id.text))
            if operating_state is not None:
                conn.execute("UPDATE gateways SET operating_state = ? WHERE smgw_id = ?",
                             (operating_state, smgw_id.text))

    # -- profiles ---------------------------------------------------------------------------------

    def put_profile(self, smgw_id: SmgwId, profile: Profile, xml: bytes) -> None:
        """Remember ``profile`` (``xml``: its document, encoded by the caller on the loop)."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO gateway_profiles(smgw_id, kind, id, revision, xml, updated)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(smgw_id, kind, id) DO UPDATE SET"
                " revision = excluded.revision, xml = excluded.xml, updated = excluded.updated",
                (smgw_id.text, profile.kind.value, profile.id.text, profile.revision, xml,
                 utc_text()),
            )

    def delete_profile(self, smgw_id: SmgwId, kind: str, profile_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM gateway_profiles WHERE smgw_id = ? AND kind = ? AND id = ?",
                         (smgw_id.text, kind, profile_id))

    def profiles(self, smgw_id: SmgwId, kind: str | None = None) -> list[Profile]:
        if kind is None:
            rows = self.db.read("SELECT xml FROM gateway_profiles WHERE smgw_id = ?"
                                " ORDER BY kind, id", (smgw_id.text,))
        else:
            rows = self.db.read("SELECT xml FROM gateway_profiles WHERE smgw_id = ? AND kind = ?"
                                " ORDER BY id", (smgw_id.text, kind))
        return [from_xml(bytes(r[0])) for r in rows]

    # -- events -----------------------------------------------------------------------------------

    def store_events(self, smgw_id: SmgwId, events: Iterable[tuple[Event, bytes]]
                     ) -> list[StoredEvent]:
        """Store events not seen before (by ID); returns the new ones."""
        new: list[StoredEvent] = []
        now = utc_text()
        with self.db.write() as conn:
            for event, xml in events:
                try:
                    cur = conn.execute(
                        "INSERT INTO gateway_events(smgw_id, event_id, sequence, code, xml,"
                        " received) VALUES (?,?,?,?,?,?)",
                        (smgw_id.text, str(event.id), event.sequence, event.code, xml, now),
                    )
                except sqlite3.IntegrityError:
                    continue  # already stored: duplicate delivery
                new.append(StoredEvent(int(cur.lastrowid or 0), smgw_id, event, parse_utc(now)))
        return new

    def events(self, smgw_id: SmgwId | None = None, since_seq: int = 0,
               limit: int = 10_000) -> list[StoredEvent]:
        if smgw_id is None:
            rows = self.db.read("SELECT seq, smgw_id, xml, received FROM gateway_events"
                                " WHERE seq > ? ORDER BY seq LIMIT ?", (since_seq, limit))
        else:
            rows = self.db.read("SELECT seq, smgw_id, xml, received FROM gateway_events"
                                " WHERE smgw_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                (smgw_id.text, since_seq, limit))
        return [StoredEvent(int(r[0]), SmgwId.parse(r[1]), from_xml(bytes(r[2]), expect=Event),
                            parse_utc(r[3])) for r in rows]

    # -- process runs -----------------------------------------------------------------------------

    def start_run(self, run_id: uuid.UUID, smgw_id: str, process: str,
                  params: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO process_runs(id, smgw_id, process, params, state, started)"
                " VALUES (?,?,?,?,?,?)",
                (str(run_id), smgw_id, process, dumps(params), "running", utc_text()),
            )

    def finish_run(self, run_id: uuid.UUID, state: str, result: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE process_runs SET state = ?, result = ?, finished = ?"
                         " WHERE id = ?", (state, dumps(result), utc_text(), str(run_id)))

    def runs(self, smgw_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM process_runs"
        params: tuple[Any, ...] = ()
        if smgw_id is not None:
            sql += " WHERE smgw_id = ?"
            params = (smgw_id,)
        rows = self.db.read(sql + " ORDER BY started", params)
        return [{"id": r["id"], "smgw_id": r["smgw_id"], "process": r["process"],
                 "params": json.loads(r["params"]), "state": r["state"],
                 "result": json.loads(r["result"]) if r["result"] else None,
                 "started": r["started"], "finished": r["finished"]} for r in rows]


def _gateway(row: sqlite3.Row) -> Gateway:
    host, port = row["wakeup_host"], row["wakeup_port"]
    return Gateway(
        smgw_id=SmgwId.parse(row["smgw_id"]),
        tls_cert=x509.load_der_x509_certificate(bytes(row["tls_der"])),
        sig_cert=x509.load_der_x509_certificate(bytes(row["sig_der"])),
        enc_cert=x509.load_der_x509_certificate(bytes(row["enc_der"])),
        wakeup_addr=(host, int(port)) if host is not None and port is not None else None,
        operating_state=row["operating_state"],
        registered=parse_utc(row["registered"]),
        last_contact=parse_utc(row["last_contact"]) if row["last_contact"] else None,
    )
