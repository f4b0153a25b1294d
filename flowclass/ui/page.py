"""One browser tab of the canvas: palette, canvas, inspector, results and the toolbar.

Each browser tab has its own :class:`~flowclass.ui.tabs.Tab` on the server, with its own
:class:`EditorSession` (workflow, runs, results), so several tabs on one server never see
or break each other's graphs. A page is only a view of its tab: a reload builds a new
page on the same tab, which still holds the work and any run going on
(:mod:`flowclass.ui.tabs`, :mod:`flowclass.ui.drafts`). The page lays out the views
(:mod:`flowclass.ui.views`); each view sends user intents to the session and redraws what
the session says changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nicegui import ui

from ..cache import Cache
from ..problems import Problem
from ..executors import ExecutorChoice
from ..registry import Registry
from .browse import Roots
from .canvas import FlowCanvas
from .editor import EditorState
from .file_guard import file_sha, file_stamp
from .inspector import Inspector
from .layout import CanvasAndResults
from .messages import tell
from .outputs import ResultStore
from .palette import build_palette
from .panels import SidePanels
from .recover import mention_closed_work, show_closed_work
from .runner import RunController
from .drafts import DraftStore
from .session import CHANGES, EditorSession
from .tabs import Tab, Tabs
from .thumbnails import ImageServer
from ..viewers.registry import ViewerRegistry, default_viewers
from .views import CanvasView, FooterView, InspectorView, ResultsView, ToolbarView

STYLE = Path(__file__).parent / "static" / "app.css"
# The tab's id goes into its address, so a reload (or a tab reopened from the history) finds it.
ADDRESS = """<script>
(() => { const url = new URL(location.href); url.searchParams.set("tab", TAB_ID);
         history.replaceState(history.state, "", url); })();
</script>"""
# Warn before leaving while the workflow has unsaved changes (the page marks them). NiceGUI
# marks its browser tab closed in session storage as soon as leaving is asked (onbeforeunload),
# so a "Leave site?" answered with Cancel left the page marked, and a tab duplicated from it
# then took its name: the server took the duplicate for a reload of this page. The mark is
# made when the page really goes (pagehide), and taken back when it comes back from the
# back-forward cache. A page that lost its server (a restart, a night asleep) is reloaded by
# NiceGUI itself as it reconnects: that reload does not ask (the server kept the work, and a
# "Cancel" there left a page with nobody behind it, its edits going nowhere); NiceGUI shows its
# "Connection lost" popup until then.
LEAVE_WARNING = """<script>
window.addEventListener("beforeunload", (event) => {
  if (document.getElementById("popup")?.getAttribute("aria-hidden") === "false") return;  // reconnecting
  if (document.documentElement.classList.contains("fc-is-offline")) return;  // reloading as it reconnected
  if (document.querySelector('[data-fc-dirty="1"]')) { event.preventDefault(); event.returnValue = ""; }
});
window.addEventListener("DOMContentLoaded", () => { window.onbeforeunload = null; });  // after nicegui.js
window.addEventListener("pagehide", () => { sessionStorage.__nicegui_tab_closed = "true"; });
window.addEventListener("pageshow", (event) => {
  if (event.persisted) sessionStorage.__nicegui_tab_closed = "false";
});
</script>"""

# While the page has lost its server (a restart, a network blip, a laptop asleep) it takes no
# edit: what it sent then went nowhere (NiceGUI drops the events a page sends before it is
# connected again, and a server restarted never knew the page), yet the canvas and the fields
# showed it as made. A queue of edits sent on reconnection cannot be made right: a restarted
# server reloads the page, whose elements (the events' addresses) are then new, and edits made
# blind onto a state the server may since have changed (a run's end, another tab's save, a
# draft a moment older) would be applied to something the user never saw. So the page covers
# itself and swallows keys while NiceGUI says the connection is lost ("#popup"), and once it is
# back it reloads: what it then shows is exactly what the server holds (an edit lost on a
# connection not yet known to be dead included, which the canvas had shown as made).
OFFLINE = """<script>
(() => {
  const root = document.documentElement;
  const swallow = (event) => {
    if (root.classList.contains("fc-is-offline")) { event.preventDefault(); event.stopImmediatePropagation(); }
  };
  for (const type of ["keydown", "keypress", "keyup", "beforeinput", "paste", "cut", "drop"])
    window.addEventListener(type, swallow, true);
  window.addEventListener("DOMContentLoaded", () => {
    const cover = document.createElement("div");
    cover.id = "fc-offline";
    cover.setAttribute("role", "alert");
    const box = cover.appendChild(document.createElement("div"));
    box.appendChild(document.createElement("b")).textContent = "Reconnecting to the FlowClass server…";
    box.appendChild(document.createElement("span")).textContent =
      "Editing is paused until it is back, so that no change is made where it cannot be kept. " +
      "What the server received is kept; this page shows it again as soon as it is connected.";
    document.body.appendChild(cover);
    const popup = document.getElementById("popup");
    if (!popup) return;
    new MutationObserver(() => {
      const lost = popup.getAttribute("aria-hidden") === "false";
      if (lost) root.classList.add("fc-is-offline");
      else if (root.classList.contains("fc-is-offline")) location.reload();  // back: show the server's tab
    }).observe(popup, { attributes: true, attributeFilter: ["aria-hidden"] });
  });
})();
</script>"""


@dataclass
class AppConfig:
    """What every tab shares: the node library, the cache, the allowed folders."""

    registry: Registry
    cache: Cache
    roots: Roots
    workflow: Path | None = None  # opened in every new tab
    viewers: ViewerRegistry | None = None  # default: the generic ones and the registry's
    images: ImageServer | None = None
    # every tab's runs send their batches here (`flowclass ui --scheduler`, or Run on... in
    # the footer); given an executor (or None: local threads), it becomes the ExecutorChoice
    executor: Any = None
    tabs: Tabs = field(init=False)  # every browser tab's session, kept across reloads

    def __post_init__(self) -> None:
        if not isinstance(self.executor, ExecutorChoice):
            self.executor = ExecutorChoice(self.executor)
        self.tabs = Tabs(self.new_session, self.roots, DraftStore(self.cache.store_dir("drafts")))
        if self.viewers is None:
            self.viewers = default_viewers(self.registry)
        if self.images is None:
            self.images = ImageServer(self.cache.store_dir("thumbnails"))

    def new_session(self) -> EditorSession:
        return EditorSession(self.registry, self.cache, notify=tell, roots=self.roots, executor=self.executor)


class EditorPage:
    """Composes one page of a tab: the views subscribed to the tab's :class:`EditorSession`."""

    def __init__(self, config: AppConfig, tab: Tab):
        self.config, self.tab = config, tab
        self.session, self.files = tab.session, tab.files
        before = set(self.session.listeners)
        self._build()
        self._mine = set(self.session.listeners) - before
        ui.context.client.on_delete(self._stop_listening)
        self.canvas.editor_page = self  # lets tests reach the tab from its canvas
        ui.add_head_html(ADDRESS.replace("TAB_ID", json.dumps(tab.id)))
        ui.timer(0.1, self.session.tick)
        self._stamp, self._told = file_stamp(self.session.state.path), None  # see _watch_file
        ui.timer(0.5, lambda: (config.tabs.keep(tab), self._watch_file()))
        if tab.restored:  # shown as it was left: no new workflow, no new framing
            self.session.check_now()
            self.session.emit(*CHANGES)
            self._say_if_changed_on_disk()
        else:
            if config.workflow is None or not self.files.open_path(config.workflow):
                self.session.loaded()
            mention_closed_work(config.tabs)
        if tab.notice:  # e.g. a copy of another server's tab
            tell(tab.notice, "warning")
            tab.notice = ""
        if tab.not_kept:  # its newest work is only in memory: said again on a reload
            tell(tab.not_kept, "warning")

    def _watch_file(self) -> None:
        """Another tab (or program) saving this tab's file is told at once, once for each version
        of it, calmly: the tab keeps its own version (Save asks before replacing the file). A
        stat each time; the file is read only when that changed."""
        stamp = file_stamp(self.session.state.path)
        if stamp != self._stamp:
            self._stamp = stamp
            self._say_if_changed_on_disk("was just saved by another tab or program.", "info")

    def _say_if_changed_on_disk(self, what: str = "changed on disk since this tab opened or saved it (another "
                                "tab, another program or an editor).", kind: str = "warning") -> None:
        """A tab shown again keeps its own version of the workflow; if an editor (or another tab)
        changed the file meanwhile, the user is told, not left to think their change was lost."""
        state = self.session.state
        sha = file_sha(state.path)
        if sha is not None and sha not in (state.disk_sha, self._told):
            self._told = sha
            tell(f"{state.path.name} {what} This tab shows its own version: File ▸ Open shows the file as "
                 "it is now, and Save asks before replacing it.", kind)

    def _stop_listening(self) -> None:
        for view in self._mine:
            self.session.unsubscribe(view)

    def leave_tab(self) -> None:
        """This page goes to another tab (a copy of its own): it stops showing this one, and
        its elements go, so that nothing it still sends (a click on its way) reaches this tab."""
        self._stop_listening()
        ui.context.client.layout.clear()

    def _build(self) -> None:
        ui.add_css(STYLE)
        ui.add_head_html(LEAVE_WARNING)
        ui.add_head_html(OFFLINE)
        ui.query(".nicegui-content").classes("p-0 gap-0")
        session, roots = self.session, self.config.roots
        with ui.header().classes("bg-white text-gray-900 border-b items-center gap-1 px-2 py-1") as header:
            self.toolbar = ToolbarView(session, self.files, fit_view=lambda: self.canvas.fit_view(),
                                       closed_work=lambda: show_closed_work(self.config.tabs))
        with ui.left_drawer(value=True, bordered=True).props("width=230 behavior=desktop") \
                .classes("bg-gray-50 p-2 overflow-x-hidden fc-palette") as palette:
            build_palette(self.config.registry, session.add_beside)
        with ui.right_drawer(value=True, bordered=True).props("width=300 behavior=desktop") \
                .classes("p-3 fc-settings") as settings:
            self.inspector_view = InspectorView(session, roots)
        self.panels = SidePanels(palette, settings, selected=lambda: session.selected is not None)
        session.subscribe(lambda what: self.panels.node_selected() if "selection" in what else None)
        with header:
            self.panels.palette_button().move(target_index=0)
            self.panels.settings_button()
        ui.context.client.on_connect(self.panels.fold_if_narrow)
        self.split = CanvasAndResults()
        with self.split.before:
            self.canvas_view = CanvasView(session, self.files)
        with self.split.after, ui.column().classes("w-full p-2"):
            self.results_view = ResultsView(session, self.config.viewers, self.config.images.url,
                                            self.files)
        session.subscribe(lambda what: self.split.results_shown(
            session.selected is not None and session.store.has(session.selected)))
        # one line, always: the splitter above is sized for it (app.css), so a wrapped footer
        # would cover the bottom of the results
        with ui.footer().classes("bg-gray-100 text-gray-700 text-xs items-center no-wrap gap-2 px-3 py-1"):
            self.footer = FooterView(session, roots, self.config.executor)

    # --- shortcuts into the parts (for scripts and tests) ---------------------------------------
    @property
    def canvas(self) -> FlowCanvas:
        return self.canvas_view.canvas

    @property
    def inspector(self) -> Inspector:
        return self.inspector_view.inspector

    @property
    def summary(self) -> ui.label:
        return self.footer.summary

    @property
    def state(self) -> EditorState:
        return self.session.state

    @property
    def runner(self) -> RunController:
        return self.session.runner

    @property
    def store(self) -> ResultStore:
        return self.session.store

    @property
    def problems(self) -> list[Problem]:
        return self.session.problems

    def base_dir(self) -> Path:
        return self.session.base_dir

    def out_dir(self) -> Path:
        return self.session.out_dir()

    def __getattr__(self, name: str) -> Any:
        """Intents (set_param, start_run, undo, ...) are the session's."""
        if name.startswith("_") or name in ("session", "config"):
            raise AttributeError(name)
        return getattr(self.session, name)
