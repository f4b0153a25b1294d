"""``flowclass ui``: the canvas as a NiceGUI app, one editor per browser tab.

:func:`setup` registers the page and the image route for an :class:`AppConfig` (tests
call it too); :func:`serve` checks the token (or makes one: every bind needs one, loopback included, as
Jupyter's does), adds the Host/Origin and
token checks of :mod:`.auth`, then starts the server.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import FileResponse
from nicegui import Client, app, core, ui

from ..cache import Cache
from ..fsutil import NOT_UTF8, is_text, shown_name
from ..protected import Protected
from .auth import SameOriginGuard, TokenMiddleware, allowed_hosts, is_loopback, token_problem
from .browse import Roots
from .canvas import CanvasBundleMissing, ensure_canvas_bundle, stale_bundle_warning
from .page import AppConfig, EditorPage
from .tabs import Tab
from .thumbnails import FULL, ROUTE, SIZES

EXIT_USAGE = 2


def setup(config: AppConfig) -> None:
    """Register the canvas page (``/``) and the route that serves result images."""

    @ui.page("/", title="FlowClass")
    async def index(client: Client, tab: str = "") -> None:
        shown = config.tabs.claim(tab, client)
        page = EditorPage(config, shown)
        copies: list[Tab] = []

        def leave_for(copy: Tab | None) -> None:
            """The address was opened twice: this page edits a copy of its own from now on."""
            if copy is not None and not copies:
                copies.append(copy)
                page.leave_tab()

        # another browser tab is known on connecting, before anything this page sends is handled
        client.on_connect(lambda: leave_for(config.tabs.copy_for_another_browser_tab(shown, client))
                          if not copies else None)
        await client.connected()
        if not copies:
            leave_for(await config.tabs.copy_if_shown_twice(shown, client))
        if copies:
            ui.navigate.to(f"/?tab={copies[0].id}")

    app.on_shutdown(config.executor.close)  # a LocalCluster started from Run on... stops with us
    app.on_shutdown(config.tabs.keep_all)  # every tab's last edits, for the next start

    @app.get(ROUTE + "/{image_id}/{size}")
    def image(image_id: str, size: int) -> FileResponse:
        if size != FULL and size not in SIZES:
            raise HTTPException(404, "no such image size")
        source = config.images.source(image_id)
        if source is not None and os.path.islink(source) and not config.roots.allows(source):
            raise HTTPException(404, "no such image")  # a link in a root to a file outside it
        try:
            path = config.images.file_for(image_id, size)
        except Exception:  # an unreadable image: the grid shows a gap, the page goes on
            path = None
        if path is None:
            raise HTTPException(404, "no such image")
        return FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})


def canvas_roots(roots: Iterable[str], workflow: Path | None, protected: Protected) -> Roots:
    """The folders the canvas may use: ``roots`` (default: the home folder) less the
    ``protected`` places, and the folder of a workflow named on the command line."""
    allowed = Roots(list(roots) or [Path.home()], protected)
    if workflow is not None and not allowed.allows(workflow):
        allowed = allowed.with_roots([workflow.parent])
    return allowed


def serve(*, workflow: str | None = None, host: str = "127.0.0.1", port: int = 8080,
          token: str | None = None, cache: str | None = None, plugins: Iterable[str] = (),
          roots: Iterable[str] = (), show: bool = True, scheduler: str | None = None) -> int:
    """Start the canvas; returns an exit code when the server stops or cannot start."""
    token = token or os.environ.get("FLOWCLASS_TOKEN") or None
    weak = token_problem(token) if token is not None else None
    if weak:
        print(f"error: the access token (--token or FLOWCLASS_TOKEN) is too weak: {weak}. Use a long "
              f"random one, e.g. --token {secrets.token_urlsafe(24)}, or give none to have one made",
              file=sys.stderr)
        return EXIT_USAGE
    if not token:  # every bind, loopback too: another user of this computer reaches 127.0.0.1
        token = secrets.token_urlsafe(24)
        if not is_loopback(host):
            print(f"--host {host} makes the canvas reachable from other computers, so it needs an "
                  "access token; none was given (--token or FLOWCLASS_TOKEN), so this one was made "
                  "for this session.")
    named = [("--root", r) for r in roots] + ([("the workflow", workflow)] if workflow else [])
    for what, given in named:  # the page, its tables and records hold text only
        full = os.path.abspath(os.path.expanduser(given))
        if not is_text(full):
            print(f"error: {what} {shown_name(full)}: {NOT_UTF8} (bytes another system's encoding "
                  "wrote, shown as \ufffd); rename it, or choose a folder with a plain name", file=sys.stderr)
            return EXIT_USAGE
    try:
        ensure_canvas_bundle()
    except CanvasBundleMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stale = stale_bundle_warning()
    if stale:
        print(f"warning: {stale}", file=sys.stderr)
    path = Path(workflow).resolve() if workflow else None
    if path is not None and not path.is_file():
        print(f"error: no workflow file at {path}", file=sys.stderr)
        return EXIT_USAGE

    from ..executors import WITHOUT_SCHEDULER, make_executor
    from ..library import default_registry

    try:  # a wrong address is told now, not at the first run
        executor = make_executor(scheduler)
    except ValueError as exc:
        print(f"error: {exc} {WITHOUT_SCHEDULER}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(executor, "warning", None):  # e.g. local:N capped at the cores
        print(f"warning: {executor.warning}", file=sys.stderr)
    registry = default_registry(plugins)
    for error in registry.plugin_errors:
        print(f"warning: {error}", file=sys.stderr)
    allowed = canvas_roots(roots, path, Protected.here(registry.plugin_folders, Cache(cache).root))
    setup(AppConfig(registry=registry, cache=Cache(cache), roots=allowed, workflow=path,
                    executor=executor))
    if executor.remote:
        print(f"  batches of work run on the Dask cluster at {executor.address} (Run on… in the "
              "footer changes it)")
    app.add_middleware(TokenMiddleware, token=token, port=port)
    app.add_middleware(SameOriginGuard, hosts=allowed_hosts(host, port))  # added last: checked first
    core.sio.eio.cors_allowed_origins = None  # socket.io: same origin only (NiceGUI allows any)
    shown_host = "localhost" if host in ("127.0.0.1", "::1") else host
    entry = f"/?token={quote(token, safe='')}"
    print(f"FlowClass canvas: http://{shown_host}:{port}{entry}")
    print(f"  folders it may browse: {', '.join(str(r) for r in allowed.roots)}")
    ui.run(host=host, port=port, title="FlowClass", reload=False, show=entry if show else False,
           show_welcome_message=False, favicon="🔀")
    return 0
