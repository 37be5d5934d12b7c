"""Content-addressed generation cache in SQLite (WAL; safe with concurrent writers).

Key: model fingerprint (without its default decoding) + rendered prompt +
effective decoding settings. An unchanged compare re-run is served entirely
from here; a changed adapter changes the key of only that arm.

The same file holds three more tables of the same shape (key, fingerprint,
JSON value, created, last used): ``renders``, rendered prompts with their
token counts (:mod:`evalkit.runner.render_cache`), ``lmeval_results``,
whole lm-eval suite results (:mod:`evalkit.lmeval.result_cache`), and
``scores``, per-sample scores of scorers that opt in (:mod:`evalkit.runner.score_cache`;
its fingerprint column holds the scorer's key), so a fully cached run needs
neither a tokenizer, a model nor a scorer library. Each table's keys are built
by its own module; this class only stores and finds values.

The cache only saves time, so a damaged database file (truncated, overwritten)
never stops a run: it is moved aside as ``cache.sqlite.damaged-<time>``, a
fresh cache is started and a warning says so (``evalkit cache repair`` does the
same on demand).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.home import cache_db_path
from evalkit.sqlite_files import database_bytes, is_damage, open_or_replace, replace_damaged
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
CREATE TABLE IF NOT EXISTS renders (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lmeval_results (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL,
    last_used REAL NOT NULL
);
"""
TABLES = ("generations", "renders", "lmeval_results", "scores")


@dataclass(frozen=True)
class CacheStats:
    """Entry count, size on disk and distinct fingerprints of the cache (generations; other tables apart)."""

    entries: int
    fingerprints: int
    bytes: int
    path: str
    tables: dict[str, int] = field(default_factory=dict)  # entries per table, generations included


class GenerationCache:
    """Get/put generations by content key."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # moved_aside: where a damaged file went, when one was found
        self._conn, self.moved_aside = open_or_replace(self.path, _SCHEMA, "generation cache")

    def _start_afresh(self, exc: Exception) -> sqlite3.Connection:
        """Move the damaged database (and its WAL) aside, open an empty one, and say so."""
        conn, self.moved_aside = replace_damaged(self.path, _SCHEMA, exc, "generation cache", self._conn)
        return conn

    def _guarded(self, operation):
        """Run ``operation(conn)``; a damaged database is replaced by a fresh one and tried once more."""
        try:
            return operation(self._conn)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self._conn = self._start_afresh(exc)
            return operation(self._conn)

    def get_many(self, keys: list[str]) -> dict[str, Generation]:
        """Cached generations for the keys that are present."""
        return self._guarded(lambda conn: self._get_many(keys))

    def _get_many(self, keys: list[str]) -> dict[str, Generation]:
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
        self._guarded(lambda conn: self._put_many(fingerprint, items))

    def _put_many(self, fingerprint: str, items: list[tuple[str, Generation]]) -> None:
        now = time.time()
        rows = [
            (key, fingerprint, json.dumps(gen.to_dict(), ensure_ascii=False), now, now)
            for key, gen in items
            if gen.error is None
        ]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?)", rows)

    def get_values(self, table: str, keys: list[str]) -> dict[str, dict]:
        """The JSON values stored under ``keys`` in another table (``renders``, ``lmeval_results``, ...)."""
        _check_table(table)
        return self._guarded(lambda conn: self._get_values(table, keys))

    def _get_values(self, table: str, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, value FROM {table} WHERE key IN ({marks})"
            for key, value in self._conn.execute(query, chunk):
                found[key] = json.loads(value)
        if found:
            now = time.time()
            with self._conn:
                self._conn.executemany(f"UPDATE {table} SET last_used=? WHERE key=?",
                                       [(now, k) for k in found])
        return found

    def put_values(self, table: str, fingerprint: str, items: list[tuple[str, dict]]) -> None:
        """Store JSON values under their keys in one of the other tables (replacing what was there)."""
        _check_table(table)
        now = time.time()
        rows = [(key, fingerprint, json.dumps(value, ensure_ascii=False), now, now) for key, value in items]

        def put(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?,?,?,?,?)", rows)

        self._guarded(put)

    def stats(self) -> CacheStats:
        """Counts and size."""
        query = "SELECT COUNT(*), COUNT(DISTINCT fingerprint) FROM generations"
        entries, fps = self._guarded(lambda conn: conn.execute(query).fetchone())
        tables = {
            name: self._guarded(lambda conn, n=name: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0])
            for name in TABLES
        }
        size = database_bytes(self.path)
        return CacheStats(entries=entries, fingerprints=fps, bytes=size, path=str(self.path), tables=tables)

    def prune(self, *, older_than_days: float | None = None, fingerprint: str | None = None,
              tables: tuple[str, ...] = TABLES) -> int:
        """Delete entries unused for N days and/or of one fingerprint; returns how many.

        ``tables`` limits it to some of :data:`TABLES` (default: all of them).
        """
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise ValueError(f"unknown cache table(s) {unknown}")
        clauses, args = [], []
        if older_than_days is not None:
            clauses.append("last_used < ?")
            args.append(time.time() - older_than_days * 86400)
        if fingerprint is not None:
            clauses.append("fingerprint LIKE ?")
            args.append(fingerprint + "%")
        where = " AND ".join(clauses) if clauses else "1=1"

        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                count = sum(conn.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount
                            for table in tables)
            conn.execute("VACUUM")
            return count

        return self._guarded(delete)

    def repair(self) -> str:
        """Check the whole database; a damaged one is moved aside and replaced. Returns what happened."""
        if self.moved_aside is not None:
            return f"damaged: moved to {self.moved_aside}; started an empty cache"
        try:
            problems = [row[0] for row in self._conn.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems == ["ok"]:
            return "ok: the cache database is intact"
        self._conn = self._start_afresh(sqlite3.DatabaseError("; ".join(problems[:3])))
        return f"damaged: moved to {self.moved_aside}; started an empty cache"

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def open_cache() -> GenerationCache:
    """The generation cache under ``$EVALKIT_HOME``."""
    return GenerationCache(cache_db_path())

def _check_table(table: str) -> None:
    if table not in TABLES[1:]:
        raise ValueError(f"unknown cache table {table!r}")
