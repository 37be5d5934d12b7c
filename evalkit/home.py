"""Where evalkit keeps its state: converted models, the result cache and run folders.

Everything lives under one folder, ``$EVALKIT_HOME`` (default ``~/.cache/evalkit``),
so a whole installation can be moved, shared or wiped in one place. Each helper
creates its folder on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "EVALKIT_HOME"


def evalkit_home() -> Path:
    """The evalkit state folder: ``$EVALKIT_HOME`` or ``~/.cache/evalkit``, created if missing."""
    configured = os.environ.get(HOME_ENV, "").strip()
    home = Path(configured).expanduser() if configured else Path.home() / ".cache" / "evalkit"
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def models_dir() -> Path:
    """The folder holding converted models, one sub-folder per model (``home/models``)."""
    path = evalkit_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_db_path() -> Path:
    """The SQLite file of the generation/score cache (``home/cache.sqlite``); its folder exists."""
    return evalkit_home() / "cache.sqlite"


def runs_dir() -> Path:
    """The folder where each run writes its results (``home/runs``), created if missing."""
    path = evalkit_home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
