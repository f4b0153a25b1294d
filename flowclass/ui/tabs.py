"""The server's tabs: each browser tab's editing session outlives its page.

A page is only a view of a :class:`Tab`. Reloading the page (F5), or a network blip,
builds a new page on the same tab: the workflow, unsaved edits, selection, view and a
run in progress (its badges, progress and results) are all still there, because they
belong to the tab on the server, not to the page. When the server itself restarts, the
tab is rebuilt from its draft (:mod:`.drafts`). A tab whose address was opened in a second
browser tab (Duplicate) gives that one a copy of its own, so two pages never edit one tab.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..errors import WorkflowInvalid
from .drafts import FRESH_EVERY, TAB_ID, Draft, DraftStore, DraftTooBig, capture, restore
from .files import FileActions
from .messages import CLOSED_WORK
from .session import EditorSession

DETACHED_KEEP = 3600.0  # seconds a tab with no page and no run stays in memory (its draft stays on disk)
#: the change notices after which a tab's draft is written at once (not badges, results)
KEPT_ON = frozenset({"loaded", "graph", "params", "layout", "selection", "file", "out_dir", "run"})
RELOAD_WAIT = 3.0  # a reloaded page's old connection closes a moment after the new page arrives
PRUNE_EVERY = 3600.0  # seconds between two looks for forgotten drafts (each in a thread of its own)
HELD_ELSEWHERE = ("This tab is open in another FlowClass server using the same data folder (a second "
                  "`flowclass ui`): this is a copy of its work so far, with an address of its own. Its "
                  "edits are this copy's; the other server's tab keeps its own.")


def new_tab_id() -> str:
    return secrets.token_urlsafe(9)


@dataclass(eq=False)
class Tab:
    id: str
    session: EditorSession
    files: FileActions
    restored: bool = False  # it holds work already (kept in memory, or read back from its draft)
    pages: set[Any] = field(default_factory=set)  # the NiceGUI clients showing it
    left_at: float = 0.0  # when its last page went (or it was made)
    written: Draft | None = None  # the draft on disk
    write_failed: bool = False
    too_big: Draft | None = None  # the last draft refused as too big (not tried again unchanged)
    not_kept: str = ""  # why its newest work is only in memory (told on each page that shows it)
    fresh_at: float = 0.0  # when its draft was last written or marked as held
    lock: Any = None  # says to servers sharing the drafts that this one holds it (DraftStore.hold)
    notice: str = ""  # told on the next page that shows it (then forgotten)

    def shown_by_another(self, client: Any) -> bool:
        return any(page is not client and page.has_socket_connection for page in self.pages)

    def shown_in_another_browser_tab(self, client: Any) -> bool:
        """Whether another connected page of it is another browser tab. NiceGUI names each
        browser tab once connected (``tab_id``): a reloaded page keeps its tab's name, a
        duplicated tab or the address opened anew gets a name of its own."""
        mine = getattr(client, "tab_id", None)
        return mine is not None and any(
            page is not client and page.has_socket_connection and getattr(page, "tab_id", None) not in (None, mine)
            for page in self.pages)

    @property
    def idle(self) -> bool:
        return not self.pages and not self.session.runner.going


class Tabs:
    """Tabs by id; ``make_session`` builds a new tab's :class:`EditorSession`."""

    def __init__(self, make_session: Callable[[], EditorSession], roots: Any, drafts: DraftStore,
                 clock: Callable[[], float] = time.monotonic):
        self.make_session, self.roots, self.drafts, self.clock = make_session, roots, drafts, clock
        self.tabs: dict[str, Tab] = {}
        self.pruning: threading.Thread | None = None  # the last look for forgotten drafts
        self._pruned_at = -PRUNE_EVERY

    def claim(self, tab_id: str | None, client: Any) -> Tab:
        """The tab a page for ``tab_id`` shows: the one in memory, the one its draft describes,
        or a new one (no id, or an unknown one)."""
        self._forget_idle()
        tab_id = tab_id if tab_id and TAB_ID.fullmatch(tab_id) else None
        tab = self.tabs.get(tab_id) if tab_id else None
        if tab is not None:
            tab.restored = True  # shown again: as it was left
        else:
            tab = self._new(tab_id or new_tab_id())
        tab.pages.add(client)
        client.on_delete(lambda: self._left(tab, client))
        self._prune_drafts()
        return tab

    async def copy_if_shown_twice(self, tab: Tab, client: Any) -> Tab | None:
        """Once the page is connected: if another browser tab shows its tab, the address was
        opened twice (a duplicated browser tab), and this page's tab becomes a copy of its own
        at once (returned; the page then goes to the copy's address). A reload is not that:
        the browser keeps the old page of the same browser tab until the new one arrives, then
        closes its connection. Where the browser tabs cannot be told apart, another page still
        showing the tab after a moment means the same."""
        deadline = self.clock() + RELOAD_WAIT
        while tab.shown_by_another(client) and not tab.shown_in_another_browser_tab(client) \
                and self.clock() < deadline:
            await asyncio.sleep(0.1)
        if not tab.shown_by_another(client):
            return None
        return self._copy_for(tab, client)

    def copy_for_another_browser_tab(self, tab: Tab, client: Any) -> Tab | None:
        """As the page connects, before anything it sends is handled: a copy of its own when
        another browser tab shows its tab (a duplicated tab), else None."""
        return self._copy_for(tab, client) if tab.shown_in_another_browser_tab(client) else None

    def _copy_for(self, tab: Tab, client: Any) -> Tab:
        tab.pages.discard(client)
        return self._new(new_tab_id(), copy_of=capture(tab.session, tab.files.offered))

    def _new(self, tab_id: str, copy_of: Draft | None = None) -> Tab:
        lock = self.drafts.hold(tab_id)
        if lock is None:  # another server's tab (its address opened here): a copy of its own
            copy = self._new(new_tab_id(), copy_of=self.drafts.read(tab_id, history=True))
            copy.notice = HELD_ELSEWHERE
            return copy
        session = self.make_session()
        files = FileActions(session.state, self.roots, on_loaded=session.loaded, on_saved=session.saved,
                            unsaved=lambda: session.unsaved, running=lambda: session.runner.running,
                            set_aside=lambda: self.set_aside(tab))
        tab = Tab(tab_id, session, files, left_at=self.clock(), lock=lock)  # a copy has no page yet
        # kept as each change is made: a server killed a moment later must not lose it (the
        # page's timer still keeps what changes without a notice: the view)
        session.subscribe(lambda what: self.keep(tab) if what & KEPT_ON else None)
        draft = copy_of
        if draft is not None:
            try:
                restore(session, replace(draft, run_going=False))  # the run goes on in the other tab
            except WorkflowInvalid:  # another server's draft this one's library cannot load
                draft = None
        else:
            try:
                draft = self.drafts.restore_into(tab_id, session)
            except WorkflowInvalid as exc:  # e.g. a newer FlowClass's: its work is never written over
                lock.release()
                fresh = self._new(new_tab_id())
                fresh.notice = (f"This tab's kept work could not be read by this FlowClass ({exc.problems[0]}). "
                                f"It is left as it was, in {self.drafts.file(tab_id)}; this is a new tab.")
                return fresh
        if draft is not None:
            files.offered, tab.restored = draft.offered, True
        self.tabs[tab_id] = tab
        return tab

    def _left(self, tab: Tab, client: Any) -> None:
        tab.pages.discard(client)
        if not tab.pages:
            tab.left_at = self.clock()
            self.keep(tab)

    def _forget_idle(self) -> None:
        """Tabs nobody looked at for a long while leave memory (not disk: their drafts stay)."""
        now = self.clock()
        for tab_id, tab in list(self.tabs.items()):
            if tab.idle and now - tab.left_at > DETACHED_KEEP:
                self.keep(tab)  # a run that ended after its page left is not "interrupted"
                if not tab.write_failed:  # else its work is nowhere else (a full disk): kept here
                    self._let_go(tab)

    def _let_go(self, tab: Tab) -> None:
        """The tab leaves this server's memory (its draft stays on disk)."""
        del self.tabs[tab.id]
        tab.lock.release()

    def _prune_drafts(self) -> None:
        """Now and then, in a thread (a folder of years of drafts takes a while): remove the
        drafts with nothing unsaved that no server held for long (:meth:`DraftStore.prune`)."""
        if self.clock() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = self.clock()
        self.pruning = threading.Thread(target=self.drafts.prune, args=(self.tabs,), daemon=True,
                                        name="flowclass-prune-drafts")  # the tabs held as it looks
        self.pruning.start()

    def keep(self, tab: Tab) -> None:
        """Write the tab's draft if anything in it changed since the last write. One that
        cannot be written (a full disk) is told once; the next change tries again. An
        unchanged one is marked as held now and then, for other servers' pruning. A tab no
        longer held (discarded, or gone from memory) writes nothing: its last timer or run
        event must not bring back a discarded draft."""
        if self.tabs.get(tab.id) is not tab:
            return
        draft = capture(tab.session, tab.files.offered)
        if draft == tab.written or draft == tab.too_big:
            if not draft.dirty and self.clock() - tab.fresh_at > FRESH_EVERY:
                self.drafts.keep_fresh(tab.id)
                tab.fresh_at = self.clock()
            return
        try:
            self.drafts.write(tab.id, draft)
        except OSError as exc:
            self._not_kept(tab, draft, exc)
            return
        tab.written, tab.write_failed, tab.too_big, tab.not_kept = draft, False, None, ""
        tab.fresh_at = self.clock()

    @staticmethod
    def _not_kept(tab: Tab, draft: Draft, exc: OSError) -> None:
        """Told once on the page (none when it just closed), and on each page that shows the
        tab again, until a draft is written again; the tab stays in memory meanwhile. A draft
        too big is not tried again unchanged."""
        tab.not_kept = str(exc) if isinstance(exc, DraftTooBig) else \
            f"This tab's work could not be kept for a reload: {exc}"
        if not tab.write_failed and tab.pages:
            tab.session.notify(tab.not_kept, "warning")
        tab.write_failed = True
        tab.too_big = draft if isinstance(exc, DraftTooBig) else None

    def closed_with_unsaved_work(self) -> list[tuple[str, Draft, float]]:
        """Drafts with unsaved changes that no open page shows: tabs closed (or lost with a
        restarted server) before their work was saved, newest first. Not those another server
        sharing the drafts holds (it shows them, or may again)."""
        found = {item[0]: item for item in self.drafts.unsaved()
                 if (tab := self.tabs.get(item[0])) is None and not self.drafts.held_elsewhere(item[0])
                 or tab is not None and not any(p.has_socket_connection for p in tab.pages)}
        found.update((item[0], item) for item in self._unkept())
        return sorted(found.values(), key=lambda item: -item[2])

    def _unkept(self) -> list[tuple[str, Draft, float]]:
        """Closed tabs whose newest work could not be written (too big, a full disk): only
        memory has it, so it is listed from there, as it is now."""
        return [(tab.id, capture(tab.session, tab.files.offered), time.time()) for tab in self.tabs.values()
                if tab.write_failed and tab.session.unsaved and not any(p.has_socket_connection for p in tab.pages)]

    def set_aside(self, tab: Tab) -> Callable[[], None] | None:
        """The tab's unsaved work as it is now (None: nothing unsaved), to be written as a closed
        tab's draft of its own once Open, New or *Reload the file* replaced it: users click
        through "Discard them?", and File ▸ Unsaved work of closed tabs brings it back, strokes
        and Undo steps too, until it is discarded there (as a closed tab's is)."""
        if not tab.session.unsaved:
            return None
        draft = replace(capture(tab.session, tab.files.offered), run_going=False, run_node=None, run_kept=None)

        def write() -> None:
            try:
                self.drafts.write(new_tab_id(), draft)
            except OSError as exc:
                tab.session.notify(f"What this tab had unsaved could not be kept: {exc}", "warning")
            else:
                tab.session.notify(f"What this tab had unsaved is kept in File ▸ {CLOSED_WORK}", "info")
        return write

    def running(self, tab_id: str) -> bool:
        """Whether a tab of this server has a run going on (Discard stops it)."""
        tab = self.tabs.get(tab_id)
        return tab is not None and tab.session.runner.going

    def discard(self, tab_id: str) -> None:
        """Drop a closed tab's work: its draft, and the tab, whose run going on stops (what it
        finished is kept, as Cancel keeps it). Not a tab a page shows again meanwhile."""
        tab = self.tabs.get(tab_id)
        if tab is None and self.drafts.held_elsewhere(tab_id):
            return  # another server's tab: not this one's to drop
        if tab is not None:
            if any(page.has_socket_connection for page in tab.pages):
                return  # opened again since the list was shown: no longer a closed tab's work
            if tab.session.runner.running:
                tab.session.runner.abandon()
            self._let_go(tab)
        self.drafts.discard(tab_id)

    def keep_all(self) -> None:
        for tab in list(self.tabs.values()):
            self.keep(tab)
