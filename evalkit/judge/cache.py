"""The judge cache: SQLite (WAL) under ``evalkit_home()/judge_cache.sqlite``.

A reply is stored under a key hashed from the backend, the judge model, the
rubric/criteria text, the full prompt (system + user, which contain the judged
output, the input and the reference) and the judge parameters (max_tokens,
temperature, scale, draw index). Re-running an unchanged judgement costs no
call; changing the rubric or one output re-judges exactly the affected prompts.

Only replies the judge actually returned are stored (parseable or not, so a
re-run reproduces the same verdict at zero cost); transport errors and budget
refusals are not. No key, header or URL is ever stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit.home import evalkit_home
from evalkit.sqlite_files import is_damage, open_or_replace, replace_damaged

CACHE_FILE = "judge_cache.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judge_cache (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    rubric_sha TEXT NOT NULL,
    prompt_sha TEXT NOT NULL,
    params_sha TEXT NOT NULL,
    reply TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created TEXT NOT NULL
)
"""


def sha256(text: str) -> str:
    """Hex SHA-256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """The parts a cached judgement is keyed by, and their combined key."""

    backend: str
    model: str
    rubric_sha: str
    prompt_sha: str
    params_sha: str

    @property
    def key(self) -> str:
        """One hash over every part."""
        parts = [self.backend, self.model, self.rubric_sha, self.prompt_sha, self.params_sha]
        return sha256("\x1f".join(parts))

    @classmethod
    def build(cls, backend: str, model: str, rubric: str, system: str, user: str,
              params: dict[str, Any]) -> CacheKey:
        """Key a judgement by backend, model, rubric text, prompt text and judge parameters."""
        return cls(backend=backend, model=model, rubric_sha=sha256(rubric),
                   prompt_sha=sha256(system + "\x1e" + user),
                   params_sha=sha256(json.dumps(params, sort_keys=True, default=str)))


@dataclass(frozen=True)
class CachedReply:
    """A stored judge reply and the tokens its original call used."""

    reply: str
    input_tokens: int
    output_tokens: int


class JudgeCache:
    """A thread-safe handle on the judge cache database."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn, _ = open_or_replace(self.path, _SCHEMA, "judge cache")

    def _guarded(self, operation):
        """``operation(conn)`` under the lock; a damaged database is replaced by an empty one, tried again."""
        with self._lock:
            try:
                return operation(self._conn)
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                self._conn, _ = replace_damaged(self.path, _SCHEMA, exc, "judge cache", self._conn)
                return operation(self._conn)

    @classmethod
    def open_default(cls) -> JudgeCache:
        """The cache at ``evalkit_home()/judge_cache.sqlite``."""
        return cls(evalkit_home() / CACHE_FILE)

    def get(self, key: CacheKey) -> CachedReply | None:
        """The stored reply for ``key``, or None."""
        query = "SELECT reply, input_tokens, output_tokens FROM judge_cache WHERE key = ?"
        row = self._guarded(lambda conn: conn.execute(query, (key.key,)).fetchone())
        return CachedReply(*row) if row else None

    def put(self, key: CacheKey, reply: CachedReply) -> None:
        """Store (or replace) the reply for ``key``."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = (key.key, key.backend, key.model, key.rubric_sha, key.prompt_sha, key.params_sha,
               reply.reply, reply.input_tokens, reply.output_tokens, now)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            conn.commit()

        self._guarded(insert)

    def repair(self) -> str:
        """Check the whole database; a damaged one is moved aside and replaced. Returns what happened."""
        try:
            rows = self._guarded(lambda conn: conn.execute("PRAGMA integrity_check").fetchall())
            problems = [row[0] for row in rows]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems == ["ok"]:
            return "ok: the judge cache database is intact"
        with self._lock:
            damage = sqlite3.DatabaseError("; ".join(problems[:3]))
            self._conn, aside = replace_damaged(self.path, _SCHEMA, damage, "judge cache", self._conn)
        return f"damaged: moved to {aside}; started an empty judge cache"

    def count(self) -> int:
        """Number of stored replies."""
        return int(self._guarded(lambda conn: conn.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0]))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
