"""Access token for a canvas served beyond this computer.

On a loopback address only local users reach the app. Bound to any other address, the
app must have a token: the first visit carries it as ``?token=...`` (the link
``flowclass ui`` prints), which sets a cookie and redirects to the same page without it;
every later request (pages, thumbnails, downloads, the websocket) must carry the cookie.
This is a plain ASGI middleware, so it guards every route, NiceGUI's included.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

COOKIE = "flowclass_access"
PARAM = "token"

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the token itself is not stored."""
    return hmac.new(token.encode("utf-8"), b"flowclass-access", hashlib.sha256).hexdigest()


class TokenMiddleware:
    """Refuses any HTTP or websocket request without the token or its cookie."""

    def __init__(self, app: ASGIApp, token: str):
        if not token:
            raise ValueError("an access token must not be empty")
        self.app = app
        self.token = token
        self.cookie = cookie_value(token)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self._has_cookie(scope):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((value for key, value in query if key == PARAM), None)
        if scope["type"] == "http" and given is not None and hmac.compare_digest(given, self.token):
            rest = urlencode([(k, v) for k, v in query if k != PARAM])
            await _redirect(send, scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else ""),
                            self.cookie)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403})
            return
        await _refuse(send)

    def _has_cookie(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                jar = SimpleCookie()
                jar.load(value.decode("latin-1"))
                if COOKIE in jar and hmac.compare_digest(jar[COOKIE].value, self.cookie):
                    return True
        return False


async def _redirect(send: Any, location: str, cookie: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", location.encode("latin-1")),
        (b"set-cookie", f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")),
        (b"content-length", b"0"),
    ]})
    await send({"type": "http.response.body", "body": b""})


REFUSAL = (b"<!doctype html><title>FlowClass</title><h1>Access token needed</h1>"
           b"<p>This FlowClass canvas needs its access token. Open the link that "
           b"<code>flowclass ui</code> printed (it ends in <code>?token=...</code>).</p>")


async def _refuse(send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(REFUSAL)).encode()),
    ]})
    await send({"type": "http.response.body", "body": REFUSAL})
