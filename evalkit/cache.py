"""Content-addressed generation cache in SQLite (WAL; safe with concurrent writers).

Key: model fingerprint (without its default decoding) + rendered prompt +
effective decoding settings. An unchanged compare re-run is served entirely
from here; a changed adapter changes the key of only that arm.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from evalkit.types import Generation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS generations_fp ON generations(fingerprint);
"""


@dataclass(frozen=True)
class CacheStats:
    """Entry count, size on disk and distinct fingerprints of the cache."""

    entries: int
    fingerprints: int
    bytes: int
    path: str


class GenerationCache:
    """Get/put generations by content key."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Generation]:
        """Cached generations for the keys that are present."""
        found: dict[str, Generation] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT key, value FROM generations WHERE key IN ({marks})", chunk)
            for key, value in rows:
                found[key] = Generation.from_dict(json.loads(value))
        if found:
            now = time.time()
            with self._conn:
                self._conn.executemany(
                    "UPDATE generations SET last_used=? WHERE key=?", [(now, k) for k in found]
                )
        return found

    def put_many(self, fingerprint: str, items: list[tuple[str, Generation]]) -> None:
        """Store successful generations (errors are never cached)."""
        now = time.time()
        rows = [
            (key, fingerprint, json.dumps(gen.to_dict(), ensure_ascii=False), now, now)
            for key, gen in items
            if gen.error is None
        ]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?)", rows)

    def stats(self) -> CacheStats:
        """Counts and size."""
        entries, fps = self._conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT fingerprint) FROM generations"
        ).fetchone()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return CacheStats(entries=entries, fingerprints=fps, bytes=size, path=str(self.path))

    def prune(self, *, older_than_days: float | None = None, fingerprint: str | None = None) -> int:
        """Delete entries unused for N days and/or of one fingerprint; returns how many."""
        clauses, args = [], []
        if older_than_days is not None:
            clauses.append("last_used < ?")
            args.append(time.time() - older_than_days * 86400)
        if fingerprint is not None:
            clauses.append("fingerprint LIKE ?")
            args.append(fingerprint + "%")
        where = " AND ".join(clauses) if clauses else "1=1"
        with self._conn:
            count = self._conn.execute(f"DELETE FROM generations WHERE {where}", args).rowcount
        self._conn.execute("VACUUM")
        return count

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
