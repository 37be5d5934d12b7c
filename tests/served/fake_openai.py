"""A scripted OpenAI-compatible server on loopback (http.server in a thread) for failure tests.

Each POST is answered by ``server.behaviour(request)``, which returns a
:class:`Reply` (or None for the default healthy answer). The server counts
requests per path, records their bodies and headers, and tracks how many were
in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    """One received request."""

    path: str
    body: dict
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """The user's text: the last message (chat) or the prompt (completions)."""
        if "messages" in self.body:
            return self.body["messages"][-1]["content"]
        return self.body.get("prompt", "")


@dataclass
class Reply:
    """What to send back: status, body (dict → JSON, str → raw), headers, and an optional delay."""

    status: int = 200
    body: dict | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def healthy_reply(request: Request) -> Reply:
    """A well-formed completion that answers ``Sure: <user text>`` with usage numbers."""
    text = f"Sure: {request.text}"
    usage = {"prompt_tokens": len(request.text.split()), "completion_tokens": len(text.split())}
    if request.path.endswith("/chat/completions"):
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    else:
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
    return Reply(body={"id": "x", "object": "completion", "choices": [choice], "usage": usage})


class FakeOpenAIServer:
    """Context manager running the scripted server on 127.0.0.1 (a given port, or a free one)."""

    def __init__(self, behaviour=None, port: int = 0):
        self.behaviour = behaviour or (lambda request: None)
        self.requests: list[Request] = []
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def count(self, path: str | None = None) -> int:
        """Requests received (for one path, or all)."""
        with self._lock:
            return self.counts[path] if path else sum(self.counts.values())

    def reset(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self.requests.clear()
            self.counts.clear()
            self.max_in_flight = 0

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.counts[request.path] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.behaviour(request) or healthy_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
            return reply
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                reply = server._answer(Request(self.path, body, dict(self.headers.items())))
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args) -> None:
                pass

        return Handler
