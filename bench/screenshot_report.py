"""Open an evalkit HTML report in headless Chromium and save a PNG screenshot.

Usage: python bench/screenshot_report.py REPORT.html OUT.png [--width 1280] [--max-height 6000] [--top 0]

Needs the Debian ``chromium`` package and the ``websocket-client`` pip package.
It talks to Chromium over the DevTools protocol; the same small driver
(:class:`ChromiumPage`) is used by ``tests/report/test_browser.py``.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--remote-allow-origins=*",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class ChromiumPage:
    """A headless Chromium with one page, driven over the DevTools protocol.

    Every protocol event received is kept in :attr:`events` (method, params),
    so callers can inspect console messages, exceptions and network requests.
    """

    def __init__(self, binary: str | None = None, width: int = 1280, height: int = 900, timeout: float = 60):
        import websocket  # websocket-client; imported here so --help works without it

        self.binary = binary or find_chromium()
        if not self.binary:
            raise RuntimeError("no chromium binary found (apt-get install -y chromium)")
        self.timeout = timeout
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._tmp = tempfile.TemporaryDirectory(prefix="evalkit-chromium-")
        profile = Path(self._tmp.name) / "profile"
        self._log = open(Path(self._tmp.name) / "chromium.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            port = self._wait_for_port(profile / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
                targets = json.load(reply)
            page = next(t for t in targets if t.get("type") == "page")
            self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout,
                                                  suppress_origin=True)
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable")
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    def _wait_for_port(self, port_file: Path) -> int:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.proc.returncode}: {self.log_tail()}")
            if port_file.exists():
                first = port_file.read_text().split("\n", 1)[0].strip()
                if first.isdigit():
                    return int(first)
            time.sleep(0.1)
        raise TimeoutError(f"chromium did not open its DevTools port: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of Chromium's own stdout/stderr, for error messages."""
        self._log.flush()
        return (Path(self._tmp.name) / "chromium.log").read_text(errors="replace")[-chars:]

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one protocol command and return its result (events meanwhile go to :attr:`events`)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append((message["method"], message.get("params", {})))

    def wait_event(self, method: str, since: int = 0, timeout: float | None = None) -> dict[str, Any]:
        """Block until an event named ``method`` is in :attr:`events` at index ``since`` or later."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for name, params in self.events[since:]:
                if name == method:
                    return params
            since = len(self.events)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} event within the timeout")
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append((message["method"], message.get("params", {})))

    def navigate(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        since = len(self.events)
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", since=since)

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value; page exceptions raise."""
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page exception: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll ``expression`` until it is truthy and return its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{expression!r} stayed falsy")

    def screenshot(self, path: Path, max_height: int = 6000, top: int = 0) -> Path:
        """Save a PNG of the page from ``top`` down (full height up to ``max_height`` pixels)."""
        total = int(self.evaluate("document.documentElement.scrollHeight") or 900)
        top = max(0, min(top, total - 1))
        height = min(max_height, total - top)
        width = int(self.evaluate("document.documentElement.clientWidth") or 1280)
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1}})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        """Close the browser and remove its temporary profile."""
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                self.send("Browser.close")
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
            ws.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> ChromiumPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def screenshot_report(report: Path, out: Path, width: int = 1280, max_height: int = 6000,
                      top: int = 0) -> Path:
    """Render ``report`` (an HTML file) in headless Chromium and save a PNG to ``out``."""
    with ChromiumPage(width=width) as page:
        page.navigate(Path(report).resolve().as_uri())
        page.wait_for("document.body && document.body.getAttribute('data-plots-ready')")
        time.sleep(0.3)  # let plotly's transitions settle
        return page.screenshot(out, max_height=max_height, top=top)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the report's index.html")
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--max-height", type=int, default=6000, help="crop the page at this many pixels")
    parser.add_argument("--top", type=int, default=0, help="start the capture this many pixels down")
    args = parser.parse_args(argv)
    path = screenshot_report(args.report, args.out, width=args.width, max_height=args.max_height,
                             top=args.top)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
