"""``flowclass ui``: refusing to start unsafely, and the access token off loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from canvas_helpers import wait_until
from selenium.webdriver.common.by import By

from flowclass.cli import main
from flowclass.ui import canvas as canvas_module
from flowclass.ui.auth import COOKIE, is_loopback


def test_other_host_without_token_refuses_to_start(monkeypatch, capsys) -> None:
    monkeypatch.delenv("FLOWCLASS_TOKEN", raising=False)
    assert main(["ui", "--host", "0.0.0.0", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0" in err and "--token" in err and "FLOWCLASS_TOKEN" in err


def test_missing_bundle_stops_with_a_clear_message(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(canvas_module, "DIST", tmp_path / "dist")
    assert main(["ui", "--no-browser"]) == 2
    assert "npm ci && npm run build" in capsys.readouterr().err


def test_missing_workflow_file_is_named(capsys, tmp_path: Path) -> None:
    assert main(["ui", str(tmp_path / "nope.json"), "--no-browser"]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_loopback_names() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def token_server(tmp_path: Path, token: str) -> Iterator[tuple[str, list[str]]]:
    """``flowclass ui`` on 0.0.0.0 with a token, in a subprocess; yields its URL and output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}  # a real server
    env.update(FLOWCLASS_TOKEN=token, FLOWCLASS_CACHE=str(tmp_path / "cache"))
    server = subprocess.Popen(
        [sys.executable, "-m", "flowclass.cli", "ui", "--host", "0.0.0.0", "--port", str(port),
         "--no-browser", "--root", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base, output = f"http://127.0.0.1:{port}", []
    try:
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(f"{base}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                assert time.time() < deadline, "the server did not start"
                time.sleep(0.3)
        yield base, output
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        output.append(server.stdout.read())


@pytest.mark.slow
def test_token_guards_every_route(tmp_path: Path) -> None:
    with token_server(tmp_path, "s3cret-token") as (base, output):
        first = httpx.get(f"{base}/", timeout=5)
        assert first.status_code == 401 and "access token" in first.text.lower()
        for path in ("/flowclass/image/" + "0" * 64 + "/160", "/_nicegui_ws/socket.io/?EIO=4&transport=polling",
                     "/?token=wrong"):
            assert httpx.get(base + path, timeout=5).status_code == 401, path

        entry = httpx.get(f"{base}/?token=s3cret-token&x=1", timeout=5)
        assert entry.status_code == 303 and entry.headers["location"] == "/?x=1"  # the token leaves the URL
        assert "s3cret-token" not in entry.headers["set-cookie"]
        with httpx.Client(base_url=base, cookies={COOKIE: entry.cookies[COOKIE]}, timeout=10) as client:
            page = client.get("/")
            assert page.status_code == 200 and "<title>FlowClass</title>" in page.text
            assert client.get("/flowclass/image/" + "0" * 64 + "/160").status_code == 404  # past the check
    assert "?token=s3cret-token" in output[0]  # the link to open


@pytest.mark.browser
@pytest.mark.slow
def test_token_link_opens_a_working_canvas(nicegui_driver, tmp_path: Path) -> None:
    """In a real browser: the printed link works, websocket included (a palette click adds a node)."""
    with token_server(tmp_path, "s3cret-token") as (base, _):
        driver = nicegui_driver
        driver.get(f"{base}/")
        assert "Access token needed" in driver.page_source
        driver.get(f"{base}/?token=s3cret-token")
        assert driver.current_url == f"{base}/"
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__pane"), timeout=15, what="canvas")
        driver.find_element(By.CSS_SELECTOR, '[data-node-type="distances"]').click()
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, '.vue-flow__node[data-id="distances"]'),
                   timeout=10, what="the node added over the websocket")
