"""Helpers shared by the reliability tests: CLI invocation, file writers, a fake served model."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from typer.testing import CliRunner

VENV_BIN = Path(sys.executable).parent
EVALKIT = VENV_BIN / "evalkit"


def invoke(*args) -> tuple[int, str]:
    """Run the real CLI in process; returns (exit code, stdout + stderr)."""
    from evalkit.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        output += "".join(traceback.format_exception(result.exception))
    return result.exit_code, output


def assert_usage_error(code: int, output: str, *needles: str) -> None:
    """Exit code 2, a one-paragraph message containing every needle, and no traceback."""
    assert "Traceback" not in output, output
    assert code == 2, f"exit code {code}, output:\n{output}"
    assert "error:" in output, output
    flat = " ".join(output.split())
    for needle in needles:
        assert " ".join(needle.split()) in flat, f"{needle!r} not in:\n{output}"


def write_yaml(path: Path, data) -> Path:
    """Dump ``data`` as YAML into ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write rows as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for an ``evalkit`` subprocess: isolated home, one torch thread, no API keys."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(EVALKIT_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="200", **extra)
    env.pop("EVALKIT_DEBUG", None)
    return env


# ----- a scripted OpenAI-compatible + Anthropic Messages server on loopback -----


@dataclass
class Seen:
    """One request the fake server received."""

    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class FakeServer:
    """Answers ``/v1/chat/completions`` via ``chat(body) -> (status, text)``, ``/v1/messages`` likewise."""

    chat: Callable[[dict], tuple[int, str]] = lambda body: (200, "ok")
    messages: Callable[[dict], tuple[int, str]] = lambda body: (
        200,
        '{"score": 4, "reason": "fine"}',
    )
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.seen.append(Seen(self.path, dict(self.headers), body))
                if self.path.endswith("/chat/completions"):
                    status, text = server.chat(body)
                    reply = _chat_reply(text) if status == 200 else {"error": {"message": text}}
                elif self.path.endswith("/messages"):
                    status, text = server.messages(body)
                    reply = (
                        _messages_reply(text)
                        if status == 200
                        else {"type": "error", "error": {"type": "invalid_request_error", "message": text}}
                    )
                else:
                    status, reply = 404, {"error": {"message": f"no route {self.path}"}}
                # ensure_ascii=True: lone surrogates travel as \\udXXX escapes, as real servers send them
                data = json.dumps(reply).encode("ascii")
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()


def _chat_reply(text: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }


def _messages_reply(text: str) -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 7},
    }
