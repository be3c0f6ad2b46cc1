"""The outside world for end-to-end tests: the app served by uvicorn in a child process on loopback,
and Debian's Chromium driven by Playwright (never a downloaded browser).

Use the fixtures from ``tests/conftest.py``: ``live_server`` (its base URL) and ``browser_page``
(a phone-sized page), or ``browser`` for a context of another size. Chromium starts once per test session
(:func:`start_browser_server`); each test connects to it and works in contexts of its own, closed after it.
Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.timetravel import python_module

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("LINPIAO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], *, workers: int = 1, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Serve ``linpiao.app:create_app`` with the given ``LINPIAO_*`` environment; wait until it answers."""
    port = port or free_port()
    command = [
        *python_module("uvicorn"),
        "linpiao.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded 2-core machine starting two servers at once needs more than 30 s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("server did not start")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """`linpiao worker` in a child process with the given environment (its output kept for :func:`stop_worker`)."""
    return subprocess.Popen(
        [*python_module("linpiao.cli"), "worker"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_worker(process: subprocess.Popen) -> str:
    """SIGTERM, as a service manager stops it; returns what it printed."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    return process.stdout.read() if process.stdout else ""


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


def start_browser_server(config_dir: Path) -> tuple[subprocess.Popen, str]:
    """Debian's Chromium, launched by Playwright's own browser server in a child process; returns the process and
    the WebSocket endpoint that ``playwright.chromium.connect`` takes. One per test session: starting Chromium is
    the slow part of a browser test, a new context in a running browser is not."""
    config = config_dir / "chromium.json"
    config.write_text(json.dumps({"executablePath": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}))
    # Playwright's own driver, started directly (not through ``python -m playwright``, whose child would outlive a
    # terminated wrapper): on SIGTERM it closes the Chromium it launched.
    from playwright._impl._driver import compute_driver_executable

    node, cli = compute_driver_executable()
    command = [node, cli, "launch-server", "--browser", "chromium", "--config", str(config)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    endpoint = process.stdout.readline().strip()  # the server prints its endpoint once Chromium is up
    if not endpoint.startswith("ws://"):
        stop_server(process)
        raise RuntimeError(f"Playwright's browser server did not start (printed {endpoint!r})")
    return process, endpoint
