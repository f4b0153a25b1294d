"""``flowclass ui``: refusing to start unsafely, and the access token on every address."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import asyncio

import httpx
import pytest
from canvas_helpers import palette_entry, wait_until
from server_helpers import CanvasServer
from selenium.webdriver.common.by import By
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from flowclass.cli import main
from flowclass.ui import canvas as canvas_module
from flowclass.ui.auth import COOKIE, TokenMiddleware, cookie_name, cookie_value, is_loopback, token_problem

TOKEN = "k3Xq-9vTzR2mWbYp"  # 16 varied characters: strong enough


@pytest.mark.parametrize("weak", ["s", "s3cret-token", "aaaaaaaaaaaaaaaaaaaaaaaa", "passwordpassword",
                                  "abababababababababababab"])
def test_weak_tokens_refuse_to_start(monkeypatch, capsys, weak: str) -> None:
    monkeypatch.delenv("FLOWCLASS_TOKEN", raising=False)
    assert main(["ui", "--host", "0.0.0.0", "--token", weak, "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "too weak" in err and "--token" in err and "FLOWCLASS_TOKEN" in err
    monkeypatch.setenv("FLOWCLASS_TOKEN", weak)  # from the environment, and on loopback too
    assert main(["ui", "--no-browser"]) == 2
    assert "too weak" in capsys.readouterr().err


def test_strong_tokens_pass() -> None:
    for token in (TOKEN, secrets.token_urlsafe(24), secrets.token_hex(16), "correct horse battery staple"):
        assert token_problem(token) is None, token


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


@contextmanager
def token_server(tmp_path: Path, token: str | None = TOKEN, host: str = "0.0.0.0"
                 ) -> Iterator[tuple[str, list[str]]]:
    """``flowclass ui`` on ``host`` (with ``token``; None: it makes one), in a subprocess;
    yields its URL and its output so far (one string per line, growing while it runs)."""
    server = CanvasServer(tmp_path, tmp_path / "cache", token, host=host)
    server.start()
    try:
        yield server.base, server.output
    finally:
        server.stop()


@pytest.mark.slow
def test_token_guards_every_route(tmp_path: Path) -> None:
    with token_server(tmp_path, TOKEN) as (base, output):
        first = httpx.get(f"{base}/", timeout=5)
        assert first.status_code == 401 and "access token" in first.text.lower()
        for path in ("/flowclass/image/" + "0" * 64 + "/160", "/_nicegui_ws/socket.io/?EIO=4&transport=polling",
                     "/?token=wrong"):
            assert httpx.get(base + path, timeout=5).status_code == 401, path

        entry = httpx.get(f"{base}/?token={TOKEN}&x=1", timeout=5)
        assert entry.status_code == 303 and entry.headers["location"] == "/?x=1"  # the token leaves the URL
        assert TOKEN not in entry.headers["set-cookie"]
        with httpx.Client(base_url=base, cookies=dict(entry.cookies), timeout=10) as client:
            page = client.get("/")
            assert page.status_code == 200 and "<title>FlowClass</title>" in page.text
            assert client.get("/flowclass/image/" + "0" * 64 + "/160").status_code == 404  # past the check
    assert f"?token={TOKEN}" in "".join(output)  # the link to open


@pytest.mark.browser
@pytest.mark.slow
def test_token_link_opens_a_working_canvas(nicegui_driver, tmp_path: Path) -> None:
    """In a real browser: the printed link works, websocket included (a palette click adds a node)."""
    with token_server(tmp_path, TOKEN) as (base, _):
        driver = nicegui_driver
        driver.get(f"{base}/")
        assert "Access token needed" in driver.page_source
        driver.get(f"{base}/?token={TOKEN}")
        assert driver.current_url.split("?")[0] == f"{base}/" and TOKEN not in driver.current_url
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__pane"), timeout=15, what="canvas")
        palette_entry(driver, "distances").click()
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, '.vue-flow__node[data-id="distances"]'),
                   timeout=10, what="the node added over the websocket")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_loopback_canvas_works_under_its_names(nicegui_driver, tmp_path: Path, name: str) -> None:
    """In a real browser, with the Host and Origin checks on: pages and the websocket work."""
    with token_server(tmp_path, host="127.0.0.1") as (base, _):
        driver = nicegui_driver
        driver.get(base.replace("127.0.0.1", name) + f"/?token={TOKEN}")
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__pane"), timeout=15, what="canvas")
        palette_entry(driver, "distances").click()
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, '.vue-flow__node[data-id="distances"]'),
                   timeout=10, what="the node added over the websocket")


@pytest.mark.slow
def test_loopback_needs_the_token_too(tmp_path: Path) -> None:
    """Any user of this computer reaches 127.0.0.1: without the printed link's token, no
    page, image or socket (polling or websocket), as with Jupyter."""
    with token_server(tmp_path, None, host="127.0.0.1") as (base, output):
        token = printed_token(output)
        assert token_problem(token) is None and len(token) >= 32
        assert f"http://localhost:{base.rsplit(':', 1)[1]}/?token={token}" in "".join(output)
        for path in ("/", SOCKET_IO, "/flowclass/image/" + "0" * 64 + "/160", "/?token=wrong"):
            assert httpx.get(base + path, timeout=5).status_code == 401, path
        ws = base.replace("http", "ws") + "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
        assert websocket_refused(ws, base.rsplit(":", 1)[1])
        cookies = entry_cookies(base, token)
        assert httpx.get(f"{base}/", cookies=cookies, timeout=5).status_code == 200
        assert not websocket_refused(ws, base.rsplit(":", 1)[1], Cookie=cookie_header(cookies))


OPENED = """
import sys
from nicegui import ui
ui.run = lambda **options: print("opened:", options["show"])
from flowclass.ui.app import serve
sys.exit(serve(host="127.0.0.1", port=8765, roots=[sys.argv[1]], show=True))
"""


@pytest.mark.slow
def test_flowclass_ui_opens_the_link_that_carries_the_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))
           and k != "FLOWCLASS_TOKEN"}
    done = subprocess.run([sys.executable, "-c", OPENED, str(tmp_path)], capture_output=True, text=True,
                          env={**env, "FLOWCLASS_CACHE": str(tmp_path / "cache")}, timeout=120)
    assert done.returncode == 0, done.stderr
    token = printed_token([done.stdout])
    assert f"http://localhost:8765/?token={token}" in done.stdout
    assert f"opened: /?token={token}" in done.stdout


@pytest.mark.parametrize("query", ["token=%C3%A9t%C3%A9", "token=\u00e9t\u00e9".encode().decode("unicode_escape"),
                                   "token=%FF%FE", "token=%00"])
def test_any_wrong_token_is_a_401_never_a_server_error(query: str) -> None:
    """hmac.compare_digest raises TypeError on non-ASCII text: that was an HTTP 500."""
    answers = []

    async def app(scope, receive, send):  # the canvas behind the check: never reached
        raise AssertionError("let through")

    async def send(message):
        answers.append(message)

    guard = TokenMiddleware(app, TOKEN)
    for headers in ([], [(b"cookie", f"{COOKIE}=\u00e9\u00e9".encode("latin-1"))]):
        answers.clear()
        scope = {"type": "http", "path": "/", "query_string": query.encode("latin-1"), "headers": headers}
        asyncio.run(guard(scope, None, send))
        assert answers[0]["status"] == 401, (query, headers)
    assert cookie_value(TOKEN) != cookie_value(TOKEN + "x")


def test_two_canvases_on_one_computer_keep_their_own_cookies() -> None:
    """Browsers keep one cookie per name and host, whatever the port: with one name, opening
    a second canvas's link (port 8081) replaced the first's cookie, and the first tab's next
    reload (F5) was refused with 'Access token needed'."""
    async def app(scope, receive, send):  # the canvas behind the check
        await send({"type": "http.response.start", "status": 200, "headers": []})

    def ask(guard, query: str, jar: dict[str, str]) -> dict:
        answers = []

        async def send(message):
            answers.append(message)

        headers = [(b"cookie", cookie_header(jar).encode("latin-1"))] if jar else []
        asyncio.run(guard({"type": "http", "path": "/", "query_string": query.encode(), "headers": headers},
                          None, send))
        return answers[0]

    jar: dict[str, str] = {}  # the browser's cookies for localhost (any port)
    first, second = TokenMiddleware(app, TOKEN, port=8080), TokenMiddleware(app, TOKEN + "-other", port=8081)
    for guard, token in ((first, TOKEN), (second, TOKEN + "-other")):
        answer = ask(guard, f"token={token}", jar)
        assert answer["status"] == 303
        set_cookie = dict(answer["headers"])[b"set-cookie"].decode("latin-1")
        name, value = set_cookie.split(";")[0].split("=", 1)
        jar[name] = value
    assert ask(first, "", jar)["status"] == 200 and ask(second, "", jar)["status"] == 200


@pytest.mark.slow
def test_other_host_without_token_gets_a_strong_one(tmp_path: Path) -> None:
    with token_server(tmp_path, None) as (base, output):
        wait_until(lambda: "?token=" in "".join(output), timeout=10, what="the printed link")
        token = re.search(r"\?token=(\S+)", "".join(output)).group(1)
        assert token_problem(token) is None and len(token) >= 32
        assert "this one was made" in "".join(output)
        assert httpx.get(f"{base}/", timeout=5).status_code == 401
        entry = httpx.get(f"{base}/?token={token}", timeout=5)
        assert entry.status_code == 303
        with httpx.Client(base_url=base, cookies=dict(entry.cookies), timeout=10) as client:
            assert client.get("/").status_code == 200


def printed_token(output: list[str]) -> str:
    return re.search(r"\?token=(\S+)", "".join(output)).group(1)


def entry_cookies(base: str, token: str = TOKEN) -> dict[str, str]:
    """The cookie the printed link sets: what every later request of a browser carries."""
    cookies = dict(httpx.get(f"{base}/?token={token}", timeout=5).cookies)
    assert list(cookies) == [cookie_name(int(base.rsplit(":", 1)[1]))]
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


SOCKET_IO = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"


def websocket_refused(url: str, port: str, **headers: str) -> bool:
    """Whether the server on 127.0.0.1:``port`` refuses a websocket handshake to ``url``
    (whose host goes into the Host header) with these headers."""
    try:
        with connect(url, sock=socket.create_connection(("127.0.0.1", int(port))), additional_headers=headers,
                     open_timeout=10):
            return False
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        return True


@pytest.mark.slow
def test_loopback_answers_only_its_own_host_names(tmp_path: Path) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example:PORT."""
    with token_server(tmp_path, host="127.0.0.1") as (base, _):
        port = base.rsplit(":", 1)[1]
        cookies = entry_cookies(base)
        for good in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST:{port}"):
            answer = httpx.get(f"{base}/", headers={"Host": good}, cookies=cookies, timeout=5)
            assert answer.status_code == 200, good
        for bad in (f"evil.example:{port}", "localhost", f"localhost:{int(port) + 1}", f"127.0.0.1.evil.example:{port}"):
            for path in ("/", SOCKET_IO, "/flowclass/image/" + "0" * 64 + "/160"):
                answer = httpx.get(base + path, headers={"Host": bad}, timeout=5)
                assert answer.status_code == 403, (bad, path)
                assert "answers only to" in answer.text and "evil" not in answer.headers.get("content-type", "")
        ws = base.replace("http", "ws") + "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
        cookie = {"Cookie": cookie_header(cookies)}
        assert not websocket_refused(ws, port, **cookie)
        assert websocket_refused(ws.replace("127.0.0.1", "evil.example"), port, **cookie)


@pytest.mark.slow
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_foreign_origins_are_refused(tmp_path: Path, host: str) -> None:
    """Another site's script may not read pages nor open the socket.io connection (polling or websocket)."""
    with token_server(tmp_path, host=host) as (base, _):
        cookies = entry_cookies(base)
        with httpx.Client(base_url=base, cookies=cookies, timeout=10) as client:
            assert client.get("/", headers={"Origin": base}).status_code == 200  # its own page
            opened = client.get(SOCKET_IO, headers={"Origin": base})
            assert opened.status_code == 200 and opened.text.startswith("0{")
            for origin in ("http://evil.example", "null", base.replace("127.0.0.1", "localhost"),
                           base.replace("http:", "file:")):
                for path in ("/", SOCKET_IO):
                    answer = client.get(path, headers={"Origin": origin})
                    assert answer.status_code == 403, (origin, path)
                    assert "access-control-allow-origin" not in answer.headers
                    assert "other sites" in answer.text
        ws = base.replace("http", "ws") + "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
        cookie = {"Cookie": cookie_header(cookies)}
        port = base.rsplit(":", 1)[1]
        assert not websocket_refused(ws, port, Origin=base, **cookie)
        assert websocket_refused(ws, port, Origin="http://evil.example", **cookie)
