"""Who may talk to the canvas server: the Host and Origin checks, and the access token.

:class:`SameOriginGuard` (always on): a request must be addressed to this server and, if
it says where it comes from, come from this server's own pages. On a loopback address
the Host header must name a loopback host with the bound port, so a web page whose DNS
name was rebound to 127.0.0.1 cannot read the canvas; and a request whose Origin is not
the Host it was sent to (another site's script, its websocket included) is refused.

:class:`TokenMiddleware`: on every address, loopback included (any user of this computer
can reach 127.0.0.1), the app has a strong token (:func:`token_problem`): the first visit
carries it as ``?token=...`` (the link ``flowclass ui`` prints and opens), which sets a
cookie and redirects to the same page without it; every later request (pages, thumbnails,
downloads, the websocket) must carry the cookie. A token or cookie that is not the right
one, whatever its characters, is a 401.
Both are plain ASGI middlewares, so they guard every route, NiceGUI's included.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

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


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
MIN_TOKEN_LENGTH = 16
MIN_TOKEN_BITS = 64


def token_problem(token: str) -> str | None:
    """Why ``token`` is too weak to guard a server others can reach (None: strong enough).

    A rough guess of its entropy: length times log2 of the number of different characters.
    ``secrets.token_urlsafe(24)`` or ``openssl rand -hex 16`` pass; 'passwordpassword' does not.
    """
    if len(token) < MIN_TOKEN_LENGTH:
        return f"it has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are needed"
    bits = len(token) * math.log2(len(set(token))) if len(set(token)) > 1 else 0.0
    if bits < MIN_TOKEN_BITS:
        return (f"it repeats too few different characters ({len(set(token))} in {len(token)}) to be "
                "hard to guess")
    return None


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers a server bound to ``host:port`` answers (None: any, off loopback)."""
    if not is_loopback(host):
        return None
    bound = f"[{host.strip('[]')}]" if ":" in host else host
    names = {*LOOPBACK_NAMES, bound.lower()}
    return frozenset({f"{name}:{port}" for name in names} | (names if port == 80 else set()))


def cookie_name(port: int | None) -> str:
    """The cookie of the server on ``port``: browsers keep one cookie per name and host,
    whatever the port, so two canvases on one computer (8080 and 8081) each need their own
    name, or the second's link replaces the first's cookie and the first tab's next reload
    is refused."""
    return COOKIE if port is None else f"{COOKIE}_{port}"


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest of the token, so the token itself is not stored."""
    return hmac.new(token.encode("utf-8"), b"flowclass-access", hashlib.sha256).hexdigest()


class TokenMiddleware:
    """Refuses any HTTP or websocket request without the token or its cookie."""

    def __init__(self, app: ASGIApp, token: str, port: int | None = None):
        if not token:
            raise ValueError("an access token must not be empty")
        self.app = app
        self.token = token
        self.name = cookie_name(port)
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
        if scope["type"] == "http" and given is not None and _same(given, self.token):
            rest = urlencode([(k, v) for k, v in query if k != PARAM])
            await _redirect(send, scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else ""),
                            self.name, self.cookie)
            return
        await _refuse(send, scope, 401, None)

    def _has_cookie(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                jar = SimpleCookie()
                jar.load(value.decode("latin-1"))
                if self.name in jar and _same(jar[self.name].value, self.cookie):
                    return True
        return False


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison of any text (``hmac.compare_digest`` refuses non-ASCII
    ``str``, which made a token such as ``?token=é`` a server error)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


class SameOriginGuard:
    """Refuses a request whose Host is not this server's, or whose Origin is another site."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            reason = self.refusal(dict(scope.get("headers", [])))
            if reason is not None:
                await _refuse(send, scope, 403, reason)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: dict[bytes, bytes]) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        if self.hosts is not None and host not in self.hosts:
            return (f"this canvas answers only to {', '.join(sorted(self.hosts))}, not to Host "
                    f"'{host}' (a web page may be trying to reach it through another name)")
        origin = headers.get(b"origin")
        if origin is None:
            return None
        parts = urlsplit(origin.decode("latin-1").strip().lower())
        if parts.scheme not in ("http", "https") or parts.netloc != host:
            return f"requests from other sites are refused (Origin '{origin.decode('latin-1')}')"
        return None


async def _redirect(send: Any, location: str, name: str, cookie: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", location.encode("latin-1")),
        (b"set-cookie", f"{name}={cookie}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")),
        (b"content-length", b"0"),
    ]})
    await send({"type": "http.response.body", "body": b""})


# The link pasted here keeps this page's address (its tab): `flowclass ui` makes a new token at
# each start, and the printed link opened in a tab left after a restart went to a new tab.
REFUSAL = b"""<!doctype html><title>FlowClass</title><h1>Access token needed</h1>
<p>This FlowClass canvas needs its access token. Open the link that <code>flowclass ui</code>
printed (it ends in <code>?token=...</code>), or paste it here to open this very page, with this
tab's work (after a restart, the server prints a new link):</p>
<form id="fc-token"><input name="link" size="60" autocomplete="off" autofocus>
<button>Open this page</button></form>
<script>
document.getElementById("fc-token").addEventListener("submit", (event) => {
  event.preventDefault();
  const given = event.target.link.value.trim(), found = given.match(/[?&]token=([^&#\\s]+)/);
  if (!given) return;
  const url = new URL(location.href);
  url.searchParams.set("token", found ? decodeURIComponent(found[1]) : given);
  location.replace(url);
});
</script>"""


async def _refuse(send: Any, scope: Scope, status: int, reason: str | None) -> None:
    """Answer ``status`` (a websocket is closed before it opens); ``reason`` is plain text."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4403})
        return
    body = REFUSAL if reason is None else f"FlowClass refused this request: {reason}.\n".encode("utf-8")
    kind = b"text/html; charset=utf-8" if reason is None else b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]})
    await send({"type": "http.response.body", "body": body})
