"""A loopback HTTP server speaking the Anthropic Messages API (``POST /v1/messages``), scripted per test.

Requests are recorded in memory (body, headers, arrival time). Scripted
:class:`Step` s are consumed first (statuses, ``retry-after``, delays, raw
bodies); afterwards every request is answered by ``responder(body) -> text``
as a proper Messages API JSON reply with ``usage``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """One scripted reply: a status with an error body, a reply text, or a raw body; optional delay."""

    status: int = 200
    text: str | None = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    error_message: str = "scripted error"


def user_text(body: dict) -> str:
    """The text of the (single) user message of a Messages request."""
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def fixed(text: str) -> Callable[[dict], str]:
    """A responder that always answers ``text``."""
    return lambda body: text


class MessagesServer:
    """Scripted Messages API on 127.0.0.1 (random port); use as a context manager."""

    def __init__(self, responder: Callable[[dict], str] | None = None):
        self.responder = responder or fixed('{"score": 8, "reason": "polite and correct"}')
        self.script: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def count(self) -> int:
        """Number of ``POST /v1/messages`` requests received."""
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> MessagesServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict) -> Step:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        return Step(text=self.responder(body))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append({"path": self.path, "body": body, "time": time.monotonic(),
                                            "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.path != "/v1/messages":
                    self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": "no"}})
                    return
                step = server._next(body)
                if step.delay:
                    time.sleep(step.delay)
                if step.raw is not None:
                    self._send(step.status, step.raw, step.headers)
                elif step.status != 200:
                    kind = {429: "rate_limit_error", 400: "invalid_request_error",
                            401: "authentication_error"}.get(step.status, "api_error")
                    error = {"type": "error", "error": {"type": kind, "message": step.error_message}}
                    self._send(step.status, error, step.headers)
                else:
                    self._send(200, _message(body, step.text or ""), step.headers)

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return Handler


def rubric_options(server: MessagesServer, **overrides) -> dict:
    """judge_rubric options pointing at the loopback server, with fast retries."""
    options = {"backend": "anthropic", "model": "claude-loopback", "base_url": server.base_url,
               "rubric": "Helpful, polite, correct and concise.", "scale": [1, 10], "pass_threshold": 7,
               "max_concurrency": 4, "timeout": 30, "max_retries": 3, "retry_base_delay": 0.05,
               "retry_max_delay": 5}
    options.update(overrides)
    return options


def _message(body: dict, text: str) -> dict:
    system = body.get("system") or ""
    prompt_chars = len(system if isinstance(system, str) else json.dumps(system)) + len(user_text(body))
    return {
        "id": "msg_loopback", "type": "message", "role": "assistant", "model": body.get("model", "loopback"),
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": prompt_chars // 4, "output_tokens": max(1, len(text) // 4)},
    }
