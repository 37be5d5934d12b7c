"""Reusable helper: run ``transformers serve`` on loopback for a test session.

    with TransformersServe(model_dir) as server:
        server.base_url   # http://127.0.0.1:<port>
        server.model      # the model name requests must use (the model folder)
        server.request_count("/v1/chat/completions")  # from the access log

The server is started with the model pinned (``transformers serve <dir>``),
``GET /health`` is polled until it answers 200 or ``startup_timeout`` passes
(then the test fails with the log tail instead of hanging), and the process
group is terminated (then killed) on exit. Output goes to a log file, which
also provides the request count.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeError(RuntimeError):
    """The server did not come up."""


class TransformersServe:
    """``transformers serve <model_dir> --host 127.0.0.1 --port <free>`` as a context manager.

    ``extra_args`` are appended to the command line (e.g. ``["--device", "cpu"]``); ``env`` adds
    environment variables (e.g. ``{"OMP_NUM_THREADS": "1"}``).
    """

    def __init__(self, model_dir: str | Path, log_path: str | Path, *, startup_timeout: float = 180.0,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.model_dir = str(Path(model_dir).resolve())
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """The server root (append ``/v1`` for OpenAI clients)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def model(self) -> str:
        """The model name requests must carry (the pinned folder)."""
        return self.model_dir

    def command(self) -> list[str]:
        """The exact command line."""
        exe = VENV_BIN / "transformers"
        return [str(exe), "serve", self.model_dir, "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "info", *self.extra_args]

    def __enter__(self) -> TransformersServe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait for ``/health``; ServeError (with the log tail) on failure or timeout."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONUNBUFFERED": "1", **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise ServeError(f"transformers serve exited with {code}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        waited = f"{self.startup_timeout:g}s"
        raise ServeError(f"transformers serve not healthy after {waited}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after 15 s)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request_count(self, path: str = "/v1/chat/completions") -> int:
        """How many ``POST path`` requests the server has logged (uvicorn access log)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if f'"POST {path} HTTP' in line)
