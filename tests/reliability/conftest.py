"""Fixtures for the reliability tests (helpers live in ``relkit``).

On a shared 2-core machine torch's default two intra-op threads spin against
each other (a 2-layer model then generates ~15x slower), so every test here,
in process and in subprocesses (see ``relkit.subprocess_env``), runs torch with one thread.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from evalkit_testing import torch_threads  # noqa: E402
from relkit import FakeServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield


@pytest.fixture()
def fake_server():
    """A fake served model / judge; tests replace ``chat`` / ``messages`` to script replies."""
    server = FakeServer()
    yield server
    server.close()
