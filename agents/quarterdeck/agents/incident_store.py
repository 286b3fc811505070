"""The loop's open incidents, kept in SQLite so a restarted process picks them up where the last
one left them: the same incident ids and trace ids (one trace per episode of trouble, across the
restart), the actions already tried (a denied one is not proposed again at once), and how many
healthy steps each has counted towards closing. Beside them, the replicas each service needed
over the scale-down window (`RecentNeeds`), so a restart neither forgets a recent peak nor waits
a whole window before giving idle capacity back, and the load per replica that ran hot
(`HotLoads`), so a restart does not scale a service back down into it.

Everything is written after every pass in one transaction (a few rows per service in trouble,
one per service and pass of the window), so the file always holds one pass's consistent view.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quarterdeck.core.models import Target

if TYPE_CHECKING:
    from quarterdeck.agents.loop import Incident

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    target TEXT PRIMARY KEY,  -- namespace/service
    body   TEXT NOT NULL      -- the Incident as JSON
);
CREATE TABLE IF NOT EXISTS needs (
    target TEXT NOT NULL,     -- namespace/service
    t      REAL NOT NULL,     -- clock seconds of the pass
    needed INTEGER NOT NULL   -- replicas its load needed then
);
CREATE TABLE IF NOT EXISTS hot (
    target      TEXT PRIMARY KEY,  -- namespace/service
    t           REAL NOT NULL,     -- clock seconds of its last hot reading
    per_replica REAL NOT NULL      -- the load per ready replica that ran hot (req/s)
);
"""


class IncidentStoreError(Exception):
    """The store holds something that is not an incident; the message names the row."""


class IncidentStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def load(self) -> dict[Target, Incident]:
        from quarterdeck.agents.loop import Incident

        out: dict[Target, Incident] = {}
        with self._lock:
            rows = self._conn.execute("SELECT target, body FROM incidents").fetchall()
        for key, body in rows:
            try:
                d: dict[str, Any] = json.loads(body)
                incident = Incident(
                    id=str(d["id"]),
                    target=Target.model_validate(d["target"]),
                    opened_at=float(d["opened_at"]),
                    tried={str(k): None if v is None else float(v) for k, v in d["tried"].items()},
                    proposals=[str(p) for p in d["proposals"]],
                    healthy_steps=int(d["healthy_steps"]),
                    cause=None if d.get("cause") is None else str(d["cause"]),
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise IncidentStoreError(
                    f"{self.path}: the incident of {key!r} does not read: {exc}"
                ) from exc
            out[incident.target] = incident
        return out

    def load_needs(self) -> dict[str, list[tuple[float, int]]]:
        """service → (clock seconds, replicas needed), oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT target, t, needed FROM needs ORDER BY t").fetchall()
        out: dict[str, list[tuple[float, int]]] = {}
        for key, t, needed in rows:
            if not isinstance(t, int | float) or not isinstance(needed, int) or needed < 0:
                raise IncidentStoreError(
                    f"{self.path}: a reading of what {key!r} needed does not read: "
                    f"({t!r}, {needed!r})"
                )
            out.setdefault(str(key), []).append((float(t), needed))
        return out

    def load_hot(self) -> dict[str, tuple[float, float]]:
        """service → (clock seconds, load per replica) of its last hot reading."""
        with self._lock:
            rows = self._conn.execute("SELECT target, t, per_replica FROM hot").fetchall()
        out: dict[str, tuple[float, float]] = {}
        for key, t, per_replica in rows:
            if not isinstance(t, int | float) or not isinstance(per_replica, int | float):
                raise IncidentStoreError(
                    f"{self.path}: the hot reading of {key!r} does not read: ({t!r}, "
                    f"{per_replica!r})"
                )
            out[str(key)] = (float(t), float(per_replica))
        return out

    def save(
        self,
        incidents: Mapping[Target, Incident],
        needs: Mapping[str, list[tuple[float, int]]] | None = None,
        hot: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """Replace what is stored with `incidents` (closed ones disappear) and, when given, the
        window's readings of what each service needed and the hot readings."""
        rows = [(str(t), json.dumps(_jsonable(i), sort_keys=True)) for t, i in incidents.items()]
        readings = [(s, t, n) for s, seen in (needs or {}).items() for t, n in seen]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM incidents")
                self._conn.executemany("INSERT INTO incidents (target, body) VALUES (?, ?)", rows)
                if needs is not None:
                    self._conn.execute("DELETE FROM needs")
                    self._conn.executemany(
                        "INSERT INTO needs (target, t, needed) VALUES (?, ?, ?)", readings
                    )
                if hot is not None:
                    self._conn.execute("DELETE FROM hot")
                    self._conn.executemany(
                        "INSERT INTO hot (target, t, per_replica) VALUES (?, ?, ?)",
                        [(s, t, per) for s, (t, per) in hot.items()],
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _jsonable(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "target": i.target.model_dump(mode="json"),
        "opened_at": i.opened_at,
        "tried": dict(i.tried),
        "proposals": list(i.proposals),
        "healthy_steps": i.healthy_steps,
        "cause": i.cause,
    }
