"""A served model that fails every sample (or too many) is a failed run: exit 2 with the reasons, counted.

Real loopback servers, real CLI: a closed port, a socket that accepts and never
answers (short timeout), a server answering non-JSON, one answering JSON without
``choices``. Before: ``evalkit run`` printed "—" and exited 0, and ``compare
--gate`` exited 2 saying only that a suite "has no result for arm".
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from relkit import FakeServer, assert_usage_error, invoke, write_jsonl, write_yaml

IDS = [f"q{i}" for i in range(4)]


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    from evalkit.models import http_retry

    monkeypatch.setattr(http_retry, "DEFAULT_RETRY", http_retry.RetryPolicy(attempts=2, base_delay=0.01))


def _suite(tmp_path, ids=IDS):
    write_jsonl(tmp_path / "suite" / "data.jsonl", [{"id": s, "input": f"Say {s}", "target": s} for s in ids])
    write_yaml(tmp_path / "suite" / "suite.yaml",
               {"name": "echo", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]})
    return tmp_path / "suite"


def _spec(tmp_path, name, url, **extra):
    doc = {"name": name, "backend": "openai", "base_url": url, "model": name, "timeout": 0.5, **extra}
    return write_yaml(tmp_path / f"{name}.yaml", doc)


class _RawServer:
    """A loopback HTTP server answering every POST with status 200 and a fixed raw body."""

    def __init__(self, body: bytes, content_type: str = "application/json"):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


class _SilentSocket:
    """Accepts connections and never answers (a hung server)."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._held: list[socket.socket] = []
        self._stop = False
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)

    def close(self):
        self._stop = True
        self._sock.close()
        for conn in self._held:
            conn.close()


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


SERVERS = {
    "closed_port": (lambda: (None, _closed_port_url()), "cannot reach"),
    "hung_socket": (lambda: (s := _SilentSocket(), s.url), "timed out"),
    "non_json": (lambda: (s := _RawServer(b"<html>502 Bad Gateway</html>", "text/html"), s.url), "not JSON"),
    "no_choices": (lambda: (s := _RawServer(b'{"id": "x", "object": "chat"}'), s.url), "no choices"),
}


@pytest.mark.parametrize("kind", list(SERVERS))
def test_run_against_a_failing_server_exits_2_with_counted_reasons(kind, tmp_path, isolated_home):
    make, reason = SERVERS[kind]
    server, url = make()
    try:
        code, output = invoke("run", _spec(tmp_path, "served", url), "-s", _suite(tmp_path),
                              "--out", tmp_path / "out", "--no-cache")
    finally:
        if server is not None:
            server.close()
    assert_usage_error(code, output, "no usable result", "echo · served: 4 of 4 samples failed", "4×", reason)
    [metrics] = list((tmp_path / "out").rglob("metrics.json"))  # the files are written, for inspection
    assert json.loads(metrics.read_text())["metrics"]["exact_match"]["errors"] == 4


def test_compare_gate_never_passes_on_an_arm_without_results(tmp_path, isolated_home):
    good = FakeServer(chat=lambda body: (200, body["messages"][-1]["content"].split()[-1]))
    bad = _RawServer(b"not json at all", "text/plain")
    gate = write_yaml(tmp_path / "gate.yaml", {"suites": {"echo": {"min_score": 0}}})
    try:
        code, output = invoke("compare", _spec(tmp_path, "ref", good.url), _spec(tmp_path, "cand", bad.url),
                              "-s", _suite(tmp_path), "--gate", gate, "--out", tmp_path / "cmp", "--no-cache",
                              "--junit", tmp_path / "junit.xml")
    finally:
        good.close()
        bad.close()
    assert_usage_error(code, output, "no usable result", "the gate cannot pass",
                       "echo · cand: 4 of 4 samples failed", "not JSON")
    assert "has no result for arm" not in output
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert comparison["gate"]["passed"] is False
    [entry] = comparison["metadata"]["unusable"]
    assert (entry["suite"], entry["arm"], entry["failed"], entry["total"]) == ("echo", "cand", 4, 4)
    [rule] = comparison["gate"]["rules"]
    assert rule["name"] == "echo: no usable result" and "4 of 4 samples failed" in rule["message"]
    assert "no usable result: echo · cand" in (tmp_path / "cmp" / "index.html").read_text()
    assert "<failure" in (tmp_path / "junit.xml").read_text()


def _flaky_server(failing: set[str]) -> FakeServer:
    def chat(body):
        sid = body["messages"][-1]["content"].split()[-1]
        return (503, "upstream overloaded") if sid in failing else (200, sid)

    return FakeServer(chat=chat)


def test_partial_failures_pass_by_default_and_fail_under_a_strict_threshold(tmp_path, isolated_home):
    ids = [f"q{i}" for i in range(10)]
    server = _flaky_server({"q2", "q5", "q7"})
    try:
        spec, suite = _spec(tmp_path, "flaky", server.url), _suite(tmp_path, ids)
        code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "a", "--no-cache")
        assert code == 0, output  # 3 of 10 <= 0.5 (the default): the score of the other 7 stands
        code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "b", "--no-cache",
                              "--max-failed-share", "0.2")
    finally:
        server.close()
    assert_usage_error(code, output, "echo · flaky: 3 of 10 samples failed (more than max_failed_share 0.2)",
                       "3× generation failed: HTTP 503")


def test_a_metric_that_aggregates_to_nothing_is_unusable(tmp_path, isolated_home):
    """Every row lacks a target, so exact_match scores nothing: exit 2, not a run with score '—'."""
    server = FakeServer(chat=lambda body: (200, "anything"))
    write_jsonl(tmp_path / "suite" / "data.jsonl", [{"id": s, "input": f"Say {s}"} for s in IDS])
    write_yaml(tmp_path / "suite" / "suite.yaml",
               {"name": "echo", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]})
    try:
        code, output = invoke("run", _spec(tmp_path, "m", server.url), "-s", tmp_path / "suite",
                              "--out", tmp_path / "out", "--no-cache")
    finally:
        server.close()
    assert_usage_error(code, output, "echo · m: 4 of 4 samples failed", "the sample has no target")


def test_rescoring_an_unusable_run_is_exit_2_too(tmp_path, isolated_home):
    spec = _spec(tmp_path, "served", _closed_port_url())
    code, _ = invoke("run", spec, "-s", _suite(tmp_path), "--out", tmp_path / "out", "--no-cache")
    assert code == 2
    code, output = invoke("score", tmp_path / "out")
    assert_usage_error(code, output, "echo · served: 4 of 4 samples failed", "cannot reach")
