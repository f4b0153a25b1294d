"""``flowclass ui`` as a user starts it: a real server process, to open, kill and start again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from canvas_helpers import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CanvasServer:
    """``flowclass ui [WORKFLOW] --root ROOT --host HOST --port PORT --no-browser`` in a subprocess,
    its cache (drafts included) in ``cache``; ``token`` None: it makes one and prints it."""

    def __init__(self, root: Path, cache: Path, token: str | None, *, workflow: Path | None = None,
                 host: str = "127.0.0.1", port: int | None = None):
        self.root, self.cache, self.token, self.workflow, self.host = root, cache, token, workflow, host
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output: list[str] = []  # one string per line, growing while it runs
        self.process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST_", "NICEGUI_")) and k != "FLOWCLASS_TOKEN"}  # a real server
        env.update(FLOWCLASS_CACHE=str(self.cache), PYTHONUNBUFFERED="1")
        if self.token is not None:
            env.update(FLOWCLASS_TOKEN=self.token)
        command = [sys.executable, "-m", "flowclass.cli", "ui"] + ([str(self.workflow)] if self.workflow else [])
        self.output = []
        self.process = subprocess.Popen(
            command + ["--host", self.host, "--port", str(self.port), "--no-browser", "--root", str(self.root)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, process = self.output, self.process
        self._reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        self._reader.start()
        deadline = time.time() + timeout
        while True:
            try:
                httpx.get(f"{self.base}/", timeout=2)
                wait_until(lambda: "?token=" in "".join(output), timeout=10, what="the printed link")
                return
            except httpx.TransportError:
                assert process.poll() is None, "".join(output)
                assert time.time() < deadline, "the server did not start"
                time.sleep(0.3)

    def kill(self) -> None:
        """kill -9: no shutdown handler runs, as when the computer or the process crashes."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._reader.join(timeout=10)
