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
                server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
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


# ----- a scripted in-process backend (implements the runner's render/generate protocol) -----


class ScriptedBackend:
    """Returns ``outputs[sample_id]``; ids in ``errors`` fail with that reason (``Generation(error=...)``)."""

    def __init__(self, outputs: dict[str, str], errors: dict[str, str] | None = None, batch_size: int = 2):
        self.outputs = outputs
        self.errors = errors or {}
        self.batch_size = batch_size
        self.calls: list[str] = []

    def render(self, user_input) -> str:
        """The prompt: the text itself, or canonical JSON of chat messages."""
        return user_input if isinstance(user_input, str) else json.dumps(user_input, sort_keys=True)

    def generate(self, prompts, config, *, batch_size=None, on_batch=None):
        """One Generation per (sample_id, prompt), delivered to ``on_batch`` in small batches."""
        from evalkit.types import Generation

        results = []
        for start in range(0, len(prompts), self.batch_size):
            batch = []
            for sample_id, _ in prompts[start : start + self.batch_size]:
                self.calls.append(sample_id)
                if sample_id in self.errors:
                    batch.append(Generation(sample_id=sample_id, text="", error=self.errors[sample_id]))
                else:
                    text = self.outputs[sample_id]
                    batch.append(Generation(sample_id=sample_id, text=text, new_tokens=len(text.split())))
            if on_batch is not None:
                on_batch(batch)
            results.extend(batch)
        return results


def scripted_arm(name: str, outputs: dict[str, str], errors: dict[str, str] | None = None):
    """An :class:`~evalkit.models.loader.Arm` on a :class:`ScriptedBackend` with its own fingerprint."""
    import hashlib

    from evalkit.models.loader import Arm
    from evalkit.models.spec import ModelSpec

    spec = ModelSpec(name=name, backend="openai", base_url="http://scripted.invalid", model=name)
    parts = {"backend": "scripted", "model": name, "generation": spec.generation.model_dump()}
    fingerprint = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return Arm(spec, ScriptedBackend(outputs, errors), fingerprint, parts)
