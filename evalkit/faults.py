"""Environment faults (disk, permissions, databases, weight files) as one-paragraph EvalkitErrors.

The CLI's top-level handler passes every exception that is not already an
:class:`~evalkit.errors.EvalkitError` through :func:`as_evalkit_error`, so a
full disk or a corrupt database exits 2 with a message and a way out, never
1 (which CI reads as "the gate failed") and never with a traceback.
"""

from __future__ import annotations

import errno
import sqlite3

from evalkit.errors import EvalkitError

_HOME_HINT = "set EVALKIT_HOME (and --out) to a writable folder"


def _os_error(exc: OSError) -> EvalkitError:
    where = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or str(exc)
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return EvalkitError(
            f"{where}: no space left on the device ({reason}); nothing was half-written (files are "
            "replaced only once complete), but this step did not finish.",
            hint="free some disk space (or point --out / EVALKIT_HOME at another disk) and run the "
            "same command again; finished samples are kept",
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return EvalkitError(f"{where}: cannot write here ({reason}).", hint=_HOME_HINT)
    if code == errno.EISDIR:
        return EvalkitError(f"{where} is a directory; give a file path.")
    if code == errno.ENOTDIR:
        return EvalkitError(f"{where}: a part of this path is a file, not a folder ({reason}).")
    if code == errno.ENOENT:
        return EvalkitError(f"{where}: no such file or folder ({reason}).")
    return EvalkitError(f"{where}: {type(exc).__name__}: {reason}.")


def _database_error(exc: sqlite3.Error) -> EvalkitError:
    text = str(exc)
    if "unable to open" in text or "readonly" in text:
        return EvalkitError(f"the evalkit cache database cannot be opened for writing ({text}).",
                            hint=_HOME_HINT)
    return EvalkitError(
        f"the evalkit cache database is damaged ({type(exc).__name__}: {text}).",
        hint="run `evalkit cache repair` (moves the damaged file aside and starts an empty cache), "
        "or pass --no-cache",
    )


def _is_safetensors_error(exc: BaseException) -> bool:
    kind = type(exc)
    return "safetensor" in f"{kind.__module__}.{kind.__name__}".lower()


def as_evalkit_error(exc: BaseException) -> EvalkitError | None:
    """The user-facing error for an environment fault, or None when ``exc`` is not one (a bug)."""
    if isinstance(exc, EvalkitError):
        return exc
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, sqlite3.Error):
        return _database_error(exc)
    if _is_safetensors_error(exc):
        return EvalkitError(
            f"a weights file is corrupt or truncated ({type(exc).__name__}: {exc}).",
            hint="re-create it: `evalkit models pull --force NAME` for an embedded model; re-train or "
            "re-download an adapter or a base folder; `evalkit models list` checks the cached models",
        )
    if isinstance(exc, MemoryError):
        return EvalkitError("out of memory.", hint="lower batch_size in the model spec, or use --limit")
    return None
