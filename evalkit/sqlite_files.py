"""Damaged SQLite files (the generation and judge caches) are moved aside, never fatal.

Both caches only save time, so a truncated or overwritten database is renamed
to ``<name>.damaged-<time>`` (with its WAL and shared-memory files), kept for
inspection, and replaced by an empty one, with a warning (a notice: :mod:`evalkit.notices`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from evalkit.notices import notify

_PARTS = ("", "-wal", "-shm")


def open_wal(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) a WAL-mode cache database shared across threads, with ``schema`` applied."""
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn


def open_or_replace(path: Path, schema: str, what: str) -> tuple[sqlite3.Connection, Path | None]:
    """:func:`open_wal` at ``path`` (its folder created); a damaged file is moved aside and replaced.

    Returns the connection and where the damaged file went (None when it was sound).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return open_wal(path, schema), None
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return replace_damaged(path, schema, exc, what)


def replace_damaged(
    path: Path, schema: str, exc: Exception, what: str, conn: sqlite3.Connection | None = None
) -> tuple[sqlite3.Connection, Path]:
    """Close ``conn``, move the damaged database aside (:func:`move_aside`), open an empty one."""
    if conn is not None:
        conn.close()
    aside = move_aside(path, exc, what)
    return open_wal(path, schema), aside


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether an sqlite error means a damaged file (not a lock, a full disk or a read-only folder)."""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text or "integrity" in text


def move_aside(path: Path, exc: Exception, what: str) -> Path:
    """Rename a damaged database and its WAL/SHM files to ``<name>.damaged-<time>[-n]``; warn; return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    number = 1
    while aside.exists():  # never overwrite an earlier damaged copy
        number += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    for suffix in _PARTS:
        part = Path(str(path) + suffix)
        if part.exists():
            part.rename(Path(str(aside) + suffix))
    notify(
        f"the {what} {path} was damaged ({exc}); moved it to {aside} and started an empty one "
        "(results are unaffected; what it held is computed again once).",
        "warning",
    )
    return aside


def database_bytes(path: Path) -> int:
    """Size on disk of a database with its WAL and SHM files."""
    parts = [Path(str(path) + suffix) for suffix in _PARTS]
    return sum(p.stat().st_size for p in parts if p.exists())
